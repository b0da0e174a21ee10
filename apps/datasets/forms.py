"""The admin's "New dataset" form: shapes the filter for the service, which checks it."""

from __future__ import annotations

from typing import Any

from django import forms
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminSingleDateWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanSwitchWidget,
)

from apps.compliance.forms import WorkspaceChoiceForm
from apps.datasets.models import DatasetFormat


class DatasetForm(WorkspaceChoiceForm):
    name = forms.CharField(max_length=200, widget=UnfoldAdminTextInputWidget)
    format = forms.ChoiceField(choices=DatasetFormat.choices, widget=UnfoldAdminSelectWidget)
    verified_only = forms.BooleanField(
        required=False,
        initial=True,
        widget=UnfoldBooleanSwitchWidget,
        help_text="Human edits and outcome-verified runs only. Off: also runs approved by "
        "thumbs-up or a 4-5 rating, and thumbs-up/thumbs-down pairs for DPO.",
    )
    agents = forms.TypedMultipleChoiceField(
        coerce=int,
        required=False,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        help_text="None ticked: every agent of the workspace.",
    )
    task_kinds = forms.CharField(
        required=False,
        max_length=2000,
        widget=UnfoldAdminTextInputWidget,
        help_text="Comma-separated, e.g. follow_up_email, first_touch. Empty: every kind.",
    )
    started_from = forms.DateField(
        required=False, widget=UnfoldAdminSingleDateWidget, help_text="UTC, inclusive."
    )
    started_until = forms.DateField(
        required=False, widget=UnfoldAdminSingleDateWidget, help_text="UTC, inclusive."
    )

    def __init__(self, *args: Any, agents: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["agents"].choices = [  # type: ignore[attr-defined]
            (agent.pk, f"{agent.name} ({agent.workspace})") for agent in agents
        ]

    def filter(self) -> dict[str, Any]:
        data = self.cleaned_data
        found: dict[str, Any] = {"verified_only": bool(data.get("verified_only"))}
        if data.get("agents"):
            found["agents"] = list(data["agents"])
        kinds = [kind.strip() for kind in (data.get("task_kinds") or "").split(",")]
        if any(kinds):
            found["task_kinds"] = [kind for kind in kinds if kind]
        for key in ("started_from", "started_until"):
            if data.get(key):
                found[key] = data[key].isoformat()
        return found
