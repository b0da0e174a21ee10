"""Shapes and validates API data; business rules stay in services."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import serializers

from apps.workspaces.models import Agent, AgentToken, Membership, Team, Workspace
from apps.workspaces.roles import Action, Role
from apps.workspaces.scopes import Scope

User = get_user_model()


class StrictInput(serializers.Serializer):  # type: ignore[type-arg]
    """Input keys the serializer does not write are refused, not silently dropped.

    A typo (`team_id` for `team`) or a read-only field (`slug`, `is_active` on create) would
    otherwise succeed and leave the caller believing it changed something. `needs_a_change`
    marks PATCH bodies: an empty one would be an audited change of nothing.
    """

    needs_a_change = False
    not_a_change: tuple[str, ...] = ()  # fields that alone are no change (an edit's reason)
    exactly_one_of: tuple[str, ...] = ()  # for the schema; `validate` enforces it
    at_least_one_of: tuple[str, ...] = ()  # likewise
    schema_variants: tuple[tuple[dict[str, Any], ...], ...] = ()  # a service's combinations
    required_for_people: tuple[str, ...] = ()  # agents may omit them (their own, by default)
    strict_input = True  # the OpenAPI schema states these rules (apps.core.api.schema)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            writable = sorted(name for name, field in self.fields.items() if not field.read_only)
            accepted = f"Unknown or read-only field; this endpoint takes: {', '.join(writable)}."
            unknown = sorted(str(key) for key in data if key not in writable)
            if unknown:
                raise serializers.ValidationError({key: [accepted] for key in unknown})
            if self.needs_a_change and not data:
                raise serializers.ValidationError(
                    {
                        "non_field_errors": [
                            f"Nothing to change; send one of: {', '.join(writable)}."
                        ]
                    }
                )
        return super().to_internal_value(data)


class ScopedPrimaryKeyField(serializers.PrimaryKeyRelatedField):  # type: ignore[type-arg]
    """An integer id the caller may see; anything else reads as 'does not exist'."""

    def get_queryset(self) -> Any:
        principal = self.context["principal"]
        queryset: Any = super().get_queryset()
        return queryset.visible_to(principal, Action.VIEW)

    def to_internal_value(self, data: Any) -> Any:
        # DRF would take "7" or 7.9 (int() truncates) as id 7; ids are JSON integers.
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().to_internal_value(data)


class WorkspaceSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Workspace
        fields = ["id", "name", "slug", "created_at"]
        read_only_fields = ["id", "slug", "created_at"]


class WorkspaceUpdateSerializer(StrictInput):
    name = serializers.CharField(max_length=120)


class TeamSerializer(StrictInput, serializers.ModelSerializer):  # type: ignore[type-arg]
    workspace = ScopedPrimaryKeyField(queryset=Workspace.objects.all())

    class Meta:
        model = Team
        fields = ["id", "workspace", "name", "slug", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators: list[Any] = []  # uniqueness is the service's (409), not a 400 here


class TeamUpdateSerializer(StrictInput):
    name = serializers.CharField(max_length=120)


class UserField(serializers.CharField):
    """A person by username or e-mail; accounts are created by operators.

    Checked as text first (type, length, NUL and lone surrogates, which PostgreSQL can't
    take), then looked up; a username wins over an e-mail, and an e-mail shared by several
    accounts must be given as a username instead.
    """

    default_error_messages = {
        "invalid": "Give a username or an e-mail address as a string.",
        "unknown": "No account with username or e-mail {value!r}.",
        "ambiguous": "Several accounts use the e-mail {value!r}; give the username instead.",
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 254)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))

    def run_validation(self, data: Any = serializers.empty) -> Any:
        text = super().run_validation(data)
        user = User.objects.filter(username=text).first()
        if user is None:
            by_email = list(User.objects.filter(email__iexact=text)[:2])
            if len(by_email) > 1:
                self.fail("ambiguous", value=text)
            user = by_email[0] if by_email else None
        if user is None:
            self.fail("unknown", value=text)
        return user

    def to_representation(self, value: Any) -> str:
        return str(value.get_username())


class MembershipSerializer(StrictInput, serializers.ModelSerializer):  # type: ignore[type-arg]
    # The service's rule: owner is a workspace-wide role, never given for one team.
    schema_variants = (
        (
            {"properties": {"role": {"not": {"type": "string", "pattern": f"^{Role.OWNER}$"}}}},
            {"not": {"required": ["team"]}},
        ),
    )
    workspace = ScopedPrimaryKeyField(queryset=Workspace.objects.all())
    team = ScopedPrimaryKeyField(queryset=Team.objects.all(), allow_null=True, required=False)
    user = UserField()
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["id", "workspace", "team", "user", "role", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators: list[Any] = []


class MembershipUpdateSerializer(StrictInput):
    role = serializers.ChoiceField(choices=Role.choices)


class RevokeSerializer(StrictInput):
    reason = serializers.CharField(max_length=240, required=False, allow_blank=True, default="")


class AgentSerializer(StrictInput, serializers.ModelSerializer):  # type: ignore[type-arg]
    workspace = ScopedPrimaryKeyField(queryset=Workspace.objects.all())
    team = ScopedPrimaryKeyField(queryset=Team.objects.all(), allow_null=True, required=False)

    class Meta:
        model = Agent
        fields = ["id", "workspace", "team", "name", "slug", "description", "is_active"]
        read_only_fields = ["id", "is_active"]
        validators: list[Any] = []


class AgentUpdateSerializer(StrictInput):
    needs_a_change = True
    name = serializers.CharField(max_length=120, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    team = ScopedPrimaryKeyField(queryset=Team.objects.all(), allow_null=True, required=False)
    is_active = serializers.BooleanField(required=False)


class _Ref(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()


class AgentMeSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField(source="agent.id")
    name = serializers.CharField(source="agent.name")
    slug = serializers.CharField(source="agent.slug")
    workspace = _Ref(source="agent.workspace")
    team = _Ref(source="agent.team", allow_null=True)
    scopes = serializers.ListField(child=serializers.CharField(), source="token.scopes")
    token_prefix = serializers.CharField(source="token.prefix")
    token_expires_at = serializers.DateTimeField(source="token.expires_at", allow_null=True)


class AgentTokenSerializer(StrictInput, serializers.ModelSerializer):  # type: ignore[type-arg]
    agent = ScopedPrimaryKeyField(queryset=Agent.objects.all())
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=Scope.choices), allow_empty=False, min_length=1
    )
    state = serializers.CharField(read_only=True)

    class Meta:
        model = AgentToken
        fields = [
            "id",
            "agent",
            "name",
            "prefix",
            "scopes",
            "expires_at",
            "state",
            "revoked_at",
            "revoked_reason",
            "last_used_at",
            "created_at",
        ]
        read_only_fields = [
            "id",
            "prefix",
            "revoked_at",
            "revoked_reason",
            "last_used_at",
            "created_at",
        ]


class IssuedTokenSerializer(AgentTokenSerializer):
    token = serializers.CharField(
        read_only=True, help_text="The secret. Shown once; store it now. Steward keeps a hash."
    )

    class Meta(AgentTokenSerializer.Meta):
        fields = [*AgentTokenSerializer.Meta.fields, "token"]
