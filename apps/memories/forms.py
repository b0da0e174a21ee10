"""Admin forms for memories. They shape and check input; the services decide and record."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from unfold.widgets import (
    UnfoldAdminDecimalFieldWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
)

from apps.memories.services.common import MAX_KEY_CHARS, MAX_TAGS

MAX_TAG_CHARS = min(40, MAX_KEY_CHARS)  # what clean_tags in the services accepts


class CoachingNoteForm(forms.Form):
    """A supervisor's note onto one agent's or one team's brain (coaching_note_write)."""

    content = forms.CharField(
        label="Note",
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 5}),
        help_text="What the agent should do differently. Stored masked with the workspace's "
        "privacy policy, approved at once, and surfaced on relevant tasks.",
    )
    importance = forms.FloatField(
        min_value=0.0,
        max_value=1.0,
        initial=0.9,
        widget=UnfoldAdminDecimalFieldWidget(attrs={"step": "0.05", "min": "0", "max": "1"}),
        help_text="0 to 1; coaching defaults to 0.9 so it ranks high in context.",
    )
    tags = forms.CharField(
        required=False,
        widget=UnfoldAdminTextInputWidget,
        help_text=f"Optional, comma-separated (at most {MAX_TAGS}, each up to {MAX_TAG_CHARS} "
        "characters), e.g. pricing, discovery.",
    )

    def clean_content(self) -> str:
        content = str(self.cleaned_data["content"])
        limit = settings.MEMORY_MAX_CONTENT_CHARS
        if len(content) > limit:
            raise forms.ValidationError(
                f"At most {limit} characters (this note has {len(content)})."
            )
        return content

    def clean_tags(self) -> list[str]:
        raw = str(self.cleaned_data.get("tags") or "")
        tags = sorted({tag.strip() for tag in raw.split(",") if tag.strip()})
        if len(tags) > MAX_TAGS:
            raise forms.ValidationError(f"At most {MAX_TAGS} tags (got {len(tags)}).")
        too_long = [tag for tag in tags if len(tag) > MAX_TAG_CHARS]
        if too_long:
            raise forms.ValidationError(
                f"A tag has at most {MAX_TAG_CHARS} characters: {too_long[0][:50]}…"
            )
        return tags

    def service_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"content": data["content"], "importance": data["importance"], "tags": data["tags"]}
