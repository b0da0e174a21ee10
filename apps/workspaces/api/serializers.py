"""Shapes and validates API data; business rules stay in services."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q
from rest_framework import serializers

from apps.workspaces.models import Agent, AgentToken, Membership, Team, Workspace
from apps.workspaces.roles import Action, Role
from apps.workspaces.scopes import Scope

User = get_user_model()


class ScopedPrimaryKeyField(serializers.PrimaryKeyRelatedField):  # type: ignore[type-arg]
    """An id the caller may see; anything else reads as 'does not exist'."""

    def get_queryset(self) -> Any:
        principal = self.context["principal"]
        queryset: Any = super().get_queryset()
        return queryset.visible_to(principal, Action.VIEW)


class WorkspaceSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Workspace
        fields = ["id", "name", "slug", "created_at"]
        read_only_fields = ["id", "slug", "created_at"]


class TeamSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    workspace = ScopedPrimaryKeyField(queryset=Workspace.objects.all())

    class Meta:
        model = Team
        fields = ["id", "workspace", "name", "slug", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators: list[Any] = []  # uniqueness is the service's (409), not a 400 here


class TeamUpdateSerializer(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField(max_length=120)


class UserField(serializers.Field):  # type: ignore[type-arg]
    """A person by username or e-mail; accounts are created by operators."""

    default_error_messages = {"unknown": "No account with username or e-mail {value!r}."}

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str) or not data.strip():
            raise serializers.ValidationError("Give a username or an e-mail address.")
        user = User.objects.filter(Q(username=data) | Q(email__iexact=data)).first()
        if user is None:
            self.fail("unknown", value=data)
        return user

    def to_representation(self, value: Any) -> str:
        return str(value.get_username())


class MembershipSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    workspace = ScopedPrimaryKeyField(queryset=Workspace.objects.all())
    team = ScopedPrimaryKeyField(queryset=Team.objects.all(), allow_null=True, required=False)
    user = UserField()
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["id", "workspace", "team", "user", "role", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators: list[Any] = []


class MembershipUpdateSerializer(serializers.Serializer):  # type: ignore[type-arg]
    role = serializers.ChoiceField(choices=Role.choices)


class RevokeSerializer(serializers.Serializer):  # type: ignore[type-arg]
    reason = serializers.CharField(max_length=240, required=False, allow_blank=True, default="")


class AgentSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    workspace = ScopedPrimaryKeyField(queryset=Workspace.objects.all())
    team = ScopedPrimaryKeyField(queryset=Team.objects.all(), allow_null=True, required=False)

    class Meta:
        model = Agent
        fields = ["id", "workspace", "team", "name", "slug", "description", "is_active"]
        read_only_fields = ["id", "is_active"]
        validators: list[Any] = []


class AgentUpdateSerializer(serializers.Serializer):  # type: ignore[type-arg]
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


class AgentTokenSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    agent = ScopedPrimaryKeyField(queryset=Agent.objects.all())
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=Scope.choices), allow_empty=False
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
