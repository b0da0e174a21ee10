"""Admin forms for privacy. They validate and shape input; services decide and record."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
)

from apps.core.exceptions import ValidationFailed
from apps.privacy.engine import EntityType, MaskingPolicy
from apps.privacy.models import ENTITY_CHOICES, OPERATOR_CHOICES, PrivacyPolicy
from apps.privacy.services import PREVIEW_MAX_CHARS, REASON_MAX_CHARS, build_policy
from apps.workspaces.models import Membership, Workspace

OPERATOR_FIELDS = {f"operator_{entity.value.lower()}": entity for entity in EntityType}


def _lines(raw: str) -> list[str]:
    return [line.strip() for line in raw.splitlines() if line.strip()]


class PrivacyPolicyForm(forms.ModelForm):  # type: ignore[type-arg]
    """The policy as a person edits it; `clean()` builds the engine policy (so a bad regex or
    region is a form error) and keeps it for the preview."""

    entities = forms.MultipleChoiceField(
        choices=ENTITY_CHOICES,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        help_text="What to look for. Person names need a name backend (none ships).",
    )
    phone_regions = forms.CharField(
        widget=UnfoldAdminTextInputWidget,
        help_text="ISO regions used to read phone numbers without a +country prefix, e.g. US, DE.",
    )
    default_operator = forms.ChoiceField(
        choices=OPERATOR_CHOICES,
        widget=UnfoldAdminSelectWidget,
        help_text='Placeholder <code class="pii-token-example">&lt;EMAIL_1&gt;</code>; hash '
        '<code class="pii-token-example">&lt;EMAIL:3f9a…&gt;</code> (stable); redact; encrypt '
        '<code class="pii-token-example">&lt;ENC:…&gt;</code> (reversible by people allowed to '
        "reveal).",
    )
    allow_values = forms.CharField(
        required=False,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
        help_text="Values never masked, one per line (e.g. your own support address).",
    )
    allow_patterns = forms.CharField(
        required=False,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
        help_text="Regular expressions (whole value), one per line, e.g. (?i).*@acme\\.example",
    )
    test_text = forms.CharField(
        label="Test this text",
        required=False,
        max_length=PREVIEW_MAX_CHARS,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 4}),
        help_text="Press Preview to see what the rules above (saved or not) would mask. "
        "Nothing you type here is stored.",
    )

    class Meta:
        model = PrivacyPolicy
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        policy = self.instance
        if policy.pk and not self.is_bound:
            self.initial.update(
                entities=list(policy.entities),
                phone_regions=", ".join(policy.phone_regions),
                default_operator=policy.default_operator,
                allow_values="\n".join(policy.allow_values),
                allow_patterns="\n".join(policy.allow_patterns),
            )
            for name, entity in OPERATOR_FIELDS.items():
                self.initial[name] = policy.operators.get(entity.value, "")
        self.rules: dict[str, Any] = {}
        self.masking_policy: MaskingPolicy | None = None

    def clean_phone_regions(self) -> list[str]:
        raw = self.cleaned_data["phone_regions"]
        return [part.strip().upper() for part in raw.replace(";", ",").split(",") if part.strip()]

    def clean_allow_values(self) -> list[str]:
        return _lines(self.cleaned_data["allow_values"])

    def clean_allow_patterns(self) -> list[str]:
        return _lines(self.cleaned_data["allow_patterns"])

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if self.errors:
            return cleaned
        self.rules = {
            "entities": cleaned["entities"],
            "operators": {
                entity.value: cleaned[name]
                for name, entity in OPERATOR_FIELDS.items()
                if cleaned.get(name)
            },
            "default_operator": cleaned["default_operator"],
            "allow_values": cleaned["allow_values"],
            "allow_patterns": cleaned["allow_patterns"],
            "phone_regions": cleaned["phone_regions"],
        }
        try:
            self.masking_policy = build_policy(**self.rules)
        except ValidationFailed as exc:
            raise forms.ValidationError(exc.message) from None
        return cleaned

    def _post_clean(self) -> None:
        """The service saves (from `rules`); the instance in memory stays as stored."""


# One operator choice per entity type, declared on the class so the admin's fieldsets find them.
for _name, _entity in OPERATOR_FIELDS.items():
    _field = forms.ChoiceField(
        label=f"{_entity.value.replace('_', ' ').title()} operator",
        choices=[("", "Default"), *OPERATOR_CHOICES],
        required=False,
        widget=UnfoldAdminSelectWidget,
    )
    PrivacyPolicyForm.declared_fields[_name] = _field
    PrivacyPolicyForm.base_fields[_name] = _field


class RevealForm(forms.Form):
    workspace = forms.TypedChoiceField(coerce=int, widget=UnfoldAdminSelectWidget)
    reason = forms.CharField(
        max_length=REASON_MAX_CHARS,
        widget=UnfoldAdminTextInputWidget,
        help_text="Why you need the plaintext. Recorded in the audit trail with your name.",
    )
    text = forms.CharField(
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 6}),
        help_text='Paste text containing <code class="pii-token-example">&lt;ENC:…&gt;</code> '
        "tokens.",
    )

    def __init__(self, *args: Any, workspaces: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["workspace"]
        assert isinstance(field, forms.TypedChoiceField)  # noqa: S101
        field.choices = [(ws.pk, ws.name) for ws in workspaces]


class RevealSelfForm(forms.Form):
    """An owner allowing themselves to reveal (pii_reveal_grant for oneself): a reason."""

    reason = forms.CharField(
        max_length=REASON_MAX_CHARS,
        widget=UnfoldAdminTextInputWidget,
        help_text="Recorded in the audit trail with the grant.",
    )


class RevealGrantForm(forms.Form):
    """Who to allow to reveal: a member of the workspace, named by username. The service checks
    membership again (and the actor's right); this form only turns a name into a member."""

    username = forms.CharField(
        max_length=150,
        widget=UnfoldAdminTextInputWidget(attrs={"list": "reveal-members", "autocomplete": "off"}),
        help_text="A member of this workspace.",
    )
    reason = forms.CharField(
        required=False,
        max_length=REASON_MAX_CHARS,
        widget=UnfoldAdminTextInputWidget,
        help_text="Optional. Recorded in the audit trail with the grant.",
    )

    def __init__(self, *args: Any, workspace: Workspace, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        self.user: Any = None

    def members(self) -> QuerySet[Any]:
        """Active users with a membership in the workspace (its own or one of its teams')."""
        member_ids = Membership.objects.filter(workspace=self.workspace).values("user_id")
        return (
            get_user_model().objects.filter(pk__in=member_ids, is_active=True).order_by("username")
        )

    def clean_username(self) -> str:
        username: str = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise forms.ValidationError("No user has this username.")
        if not self.members().filter(pk=user.pk).exists():
            raise forms.ValidationError(f"{username} is not a member of this workspace.")
        self.user = user
        return username


class RevealRevokeForm(forms.Form):
    """The confirmation of a revoke: whose grant, and optionally why."""

    user = forms.TypedChoiceField(coerce=int, widget=forms.HiddenInput)
    reason = forms.CharField(
        required=False,
        max_length=REASON_MAX_CHARS,
        widget=UnfoldAdminTextInputWidget,
        help_text="Optional. Recorded in the audit trail with the revoke.",
    )

    def __init__(self, *args: Any, holders: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["user"]
        assert isinstance(field, forms.TypedChoiceField)  # noqa: S101
        field.choices = [(user.pk, user.get_username()) for user in holders]
        field.error_messages["invalid_choice"] = "This user does not hold the reveal right here."
