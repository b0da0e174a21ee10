"""Admin forms: shape input for the services, which decide."""

from __future__ import annotations

from typing import Any

from django import forms
from unfold.widgets import (
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
)

from apps.compliance.models import ExportFormat


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


class WorkspaceChoiceForm(forms.Form):
    workspace = forms.TypedChoiceField(coerce=int, widget=UnfoldAdminSelectWidget)

    def __init__(self, *args: Any, workspaces: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["workspace"].choices = [(ws.pk, str(ws)) for ws in workspaces]  # type: ignore[attr-defined]


class ErasureRequestForm(WorkspaceChoiceForm):
    """Identifiers are never stored as typed: the service keeps fingerprints and a seal."""

    emails = forms.CharField(
        required=False, widget=UnfoldAdminTextareaWidget, help_text="One per line."
    )
    phones = forms.CharField(
        required=False,
        widget=UnfoldAdminTextareaWidget,
        help_text="One per line, with +country code or as written locally.",
    )
    external_ids = forms.CharField(
        required=False,
        widget=UnfoldAdminTextareaWidget,
        help_text="CRM or other ids, one per line.",
    )
    reason = forms.CharField(required=False, max_length=1000, widget=UnfoldAdminTextInputWidget)

    def identifiers(self) -> dict[str, list[str]]:
        data = self.cleaned_data
        return {name: _lines(data[name]) for name in ("emails", "phones", "external_ids")}


class DecisionForm(forms.Form):
    reason = forms.CharField(required=False, max_length=1000, widget=UnfoldAdminTextInputWidget)


class ExportForm(WorkspaceChoiceForm):
    format = forms.ChoiceField(choices=ExportFormat.choices, widget=UnfoldAdminSelectWidget)
    since = forms.DateTimeField(
        required=False,
        widget=UnfoldAdminTextInputWidget,
        help_text="e.g. 2026-01-01T00:00:00+00:00",
    )
    until = forms.DateTimeField(required=False, widget=UnfoldAdminTextInputWidget)
    actor = forms.CharField(required=False, max_length=200, widget=UnfoldAdminTextInputWidget)
    action = forms.CharField(required=False, max_length=80, widget=UnfoldAdminTextInputWidget)
    object_type = forms.CharField(required=False, max_length=80, widget=UnfoldAdminTextInputWidget)

    def filters(self) -> dict[str, str]:
        data = self.cleaned_data
        found = {k: data[k] for k in ("actor", "action", "object_type") if data.get(k)}
        found.update({k: data[k].isoformat() for k in ("since", "until") if data.get(k)})
        return found
