"""Admin forms. They validate input; services decide and record."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
)

from apps.workspaces.models import AgentToken, Membership
from apps.workspaces.scopes import DEFAULT_SCOPES, Scope

User = get_user_model()


class MembershipAddForm(forms.ModelForm):  # type: ignore[type-arg]
    person = forms.CharField(
        label="Username or e-mail",
        help_text="The person's existing Steward account.",
        widget=UnfoldAdminTextInputWidget,
    )

    class Meta:
        model = Membership
        fields = ["workspace", "team", "role"]

    def clean_person(self) -> Any:
        """The account named exactly; an e-mail shared by several accounts names none of them."""
        value = self.cleaned_data["person"].strip()
        user = User.objects.filter(username=value).first()
        if user is not None:
            return user
        matches = list(User.objects.filter(email__iexact=value)[:2])
        if len(matches) > 1:
            raise forms.ValidationError("Several accounts use this e-mail; enter the username.")
        if not matches:
            raise forms.ValidationError(f"No account with username or e-mail {value!r}.")
        return matches[0]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        team, workspace = cleaned.get("team"), cleaned.get("workspace")
        if team is not None and workspace is not None and team.workspace_id != workspace.pk:
            self.add_error("team", "This team belongs to another workspace.")
        user = cleaned.get("person")
        if user is not None and workspace is not None:
            exists = Membership.objects.filter(user=user, workspace=workspace, team=team).exists()
            if exists:
                self.add_error("person", "This person already has a role there; change it.")
        return cleaned


class AgentTokenAddForm(forms.ModelForm):  # type: ignore[type-arg]
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        initial=DEFAULT_SCOPES,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        help_text="What this token may do. Give the least that works.",
    )

    class Meta:
        model = AgentToken
        fields = ["agent", "name", "scopes", "expires_at"]
        widgets = {"agent": UnfoldAdminSelectWidget}

    def clean_expires_at(self) -> Any:
        expires_at = self.cleaned_data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError("Must be in the future.")
        return expires_at
