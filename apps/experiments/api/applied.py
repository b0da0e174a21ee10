"""What the reading endpoints (context, bundle) say about the experiments they applied for a
unit (apps.experiments.applying), and the request fields that name the unit."""

from __future__ import annotations

from rest_framework import serializers

from apps.core.api.fields import StrictCharField
from apps.experiments import services

UNIT_HELP = (
    "The contact, account or run this read is for (only its keyed hash is stored). With it, "
    "the running experiments of your workspace that touch what is read and admit you assign "
    "the unit (as `POST /experiments/{key}/assign` does: same variant, one exposure) and "
    "apply its variant. Without it nothing changes."
)


class AppliedExperimentSerializer(serializers.Serializer):  # type: ignore[type-arg]
    key = serializers.CharField(help_text="The experiment's key.")
    variant = serializers.CharField(help_text="The variant applied to this unit.")


def unit_id_field() -> StrictCharField:
    return StrictCharField(max_length=services.MAX_UNIT, required=False, help_text=UNIT_HELP)


def eligibility_field(name: str) -> StrictCharField:
    return StrictCharField(
        max_length=60,
        required=False,
        allow_blank=True,
        help_text=f"The {name} of this read, matched against experiments' eligibility.",
    )


class UnitQuerySerializer(serializers.Serializer):  # type: ignore[type-arg]
    """`?unit_id=&channel=&segment=` of a read for a unit (the bundle), checked as the body of
    `/assign` is."""

    unit_id = StrictCharField(max_length=services.MAX_UNIT, required=False)
    channel = StrictCharField(max_length=60, required=False, allow_blank=True, default="")
    segment = StrictCharField(max_length=60, required=False, allow_blank=True, default="")
