"""The guardrails API. Agents ask before they act (`POST /guardrails/check`) and settle what
they reserved (`/guardrails/commit`, `/guardrails/release`). People read and manage kill
switches, limits, the suppression list, and read the trips."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.views import HasTokenScopes, IsAgent, IsPerson, ScopedViewSet
from apps.core.exceptions import NotFound, ValidationFailed
from apps.core.idempotency import idempotent
from apps.guardrails import breakers, services
from apps.guardrails.api import lean
from apps.guardrails.api import serializers as s
from apps.guardrails.models import (
    BreakerTrip,
    CircuitBreaker,
    DenyCode,
    GuardrailLimits,
    KillSwitch,
    Reservation,
    SuppressionEntry,
    Trip,
)
from apps.workspaces.models import Agent
from apps.workspaces.roles import Action
from apps.workspaces.scopes import Scope

READ = Scope.POLICIES_READ.value
AGENT_ONLY = [permissions.IsAuthenticated, IsAgent, HasTokenScopes]
PEOPLE_ONLY = [permissions.IsAuthenticated, IsPerson]


def _agent(request: Request) -> Agent:
    if not isinstance(request.user, Agent):  # IsAgent let it through: never
        raise NotFound("Agents only.")
    return request.user


class CheckView(APIView):
    # The agent's token is read with its workspace's limits revision (the merged limits are
    # cached under it): a check reads no limits row while they stay unchanged.
    token_joined = services.LIMITS_REVISION_WITH_TOKEN
    permission_classes = AGENT_ONLY
    required_scopes = {"post": [READ]}
    ALLOW = "POST, OPTIONS"  # DRF's Allow header for this view, which the lean path sets too

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        """The DRF view behind apps.guardrails.api.lean: the lean path answers the common
        request, the full view everything else (and documents the endpoint)."""
        full = super().as_view(**initkwargs)

        def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if getattr(request, lean.TRIED, False):  # LeanCheckMiddleware handed it over
                return full(request, *args, **kwargs)
            return lean.lean_check(request, cls) or full(request, *args, **kwargs)

        view.__dict__.update(full.__dict__)  # cls, initkwargs, csrf_exempt: as DRF's view
        view.__doc__, view.__module__ = full.__doc__, full.__module__
        return view

    @extend_schema(
        request=s.GuardrailCheckSerializer,
        responses={200: dict},
        description=(
            "May the calling agent take this action now? `decision` is `allow` (with a "
            "`reservation` id that holds the action's share of every limit until committed, "
            "released or expired at `expires_at`) or `deny` with a machine `code` "
            "(budget_exceeded, step_limit, exposure_cap, suppressed, paused, rate_limited, "
            "outside_hours), a human `reason`, the `rule` and, where a limit resets, "
            "`resets_at`. Every deny is recorded as a trip. A paused agent gets 403 "
            "`agent_paused` here as on every endpoint."
        ),
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = s.GuardrailCheckSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        attrs = data.validated_data
        decision = services.guardrail_check(
            _agent(request),
            services.CheckRequest(
                action=attrs["action"],
                channel=attrs["channel"],
                unit=attrs["unit"],
                estimated_cost=attrs["estimated_cost"],
                currency=attrs.get("currency", ""),
                run_id=attrs["run_id"],
                step=attrs.get("step"),
                region=attrs["region"],
            ),
            paused_checked=True,  # the token lookup refused a paused agent already
            limits_revision=("r", getattr(request.auth, "joined", None)),
        )
        return Response(self.decision_body(decision))

    @staticmethod
    def decision_body(decision: services.Decision) -> dict[str, Any]:
        if decision.allowed and decision.reservation is not None:
            reservation = decision.reservation
            return {
                "decision": "allow",
                "reservation": str(reservation.pk),
                "expires_at": reservation.expires_at.isoformat(),
            }
        return {
            "decision": "deny",
            "code": decision.code,
            "reason": decision.reason,
            "rule": decision.rule,
            "resets_at": decision.resets_at.isoformat() if decision.resets_at else None,
            "values": decision.values,
        }


class CommitView(APIView):
    permission_classes = AGENT_ONLY
    required_scopes = {"post": [READ]}
    extra_error_statuses = {"post": [404, 409]}

    @extend_schema(
        request=s.GuardrailCommitSerializer,
        responses={200: s.ReservationSerializer},
        description=(
            "The action happened: settle the reservation at `actual_cost` (its estimate when "
            "omitted). A reservation that expired, was released or committed is 409."
        ),
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = s.GuardrailCommitSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reservation = services.reservation_commit(
            agent=_agent(request),
            reservation_id=data.validated_data["reservation"],
            actual_cost=data.validated_data["actual_cost"],
        )
        return Response(s.ReservationSerializer(reservation).data)


class ReleaseView(APIView):
    permission_classes = AGENT_ONLY
    required_scopes = {"post": [READ]}
    extra_error_statuses = {"post": [404, 409]}

    @extend_schema(
        request=s.GuardrailReleaseSerializer,
        responses={200: s.ReservationSerializer},
        description="The action will not happen: give back what the reservation held.",
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = s.GuardrailReleaseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reservation = services.reservation_release(
            agent=_agent(request), reservation_id=data.validated_data["reservation"]
        )
        return Response(s.ReservationSerializer(reservation).data)


class PeopleViewSet(ScopedViewSet):
    def get_permissions(self) -> Any:
        return [permission() for permission in PEOPLE_ONLY]


class KillSwitchViewSet(PeopleViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Pauses: `?active=true` lists what is paused now."""

    serializer_class = s.KillSwitchSerializer

    def scoped_queryset(self) -> QuerySet[Any]:
        rows = KillSwitch.objects.visible_to(self.principal, Action.VIEW).order_by("-set_at", "-id")
        active = self.request.query_params.get("active") if self.request else None
        if active in ("true", "1"):
            rows = rows.filter(cleared_at__isnull=True)
        return rows

    @extend_schema(
        request=s.KillSwitchCreateSerializer,
        responses={201: s.KillSwitchSerializer},
        description=(
            "Pause a workspace, a team or one agent now, with a reason (shown to the agent). "
            "Admins of the workspace, or of the team for a team or its agents."
        ),
    )
    @idempotent
    def create(self, request: Request) -> Response:
        data = s.KillSwitchCreateSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        data.is_valid(raise_exception=True)
        switch = services.kill_switch_set(actor=self.principal, **data.validated_data)
        return Response(s.KillSwitchSerializer(switch).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.GuardrailReasonSerializer,
        responses={200: s.KillSwitchSerializer},
        description="Clear a pause, with a reason; its agents may call again at once.",
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def clear(self, request: Request, pk: str | None = None) -> Response:
        switch = self.get_object()
        data = s.GuardrailReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        cleared = services.kill_switch_clear(
            actor=self.principal, switch=switch, reason=data.validated_data["reason"]
        )
        return Response(s.KillSwitchSerializer(cleared).data)


class LimitsViewSet(PeopleViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Limits per level; an empty value inherits (agent > team > workspace)."""

    serializer_class = s.LimitsSerializer

    def scoped_queryset(self) -> QuerySet[Any]:
        return GuardrailLimits.objects.visible_to(self.principal, Action.VIEW).order_by("id")

    @extend_schema(
        request=s.LimitsSetSerializer,
        responses={200: s.LimitsSerializer},
        description=(
            "Set the limits of one level (created on first use). Fields not sent keep their "
            "value; null clears one (it inherits again)."
        ),
    )
    @idempotent
    def create(self, request: Request) -> Response:
        data = s.LimitsSetSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        attrs = dict(data.validated_data)
        row = services.limits_set(
            actor=self.principal,
            workspace=attrs.pop("workspace"),
            level=attrs.pop("level"),
            team=attrs.pop("team", None),
            agent=attrs.pop("agent", None),
            **attrs,
        )
        return Response(s.LimitsSerializer(row).data)


class SuppressionViewSet(PeopleViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """The suppression list (keyed hashes only). `?unit=` finds one contact's entries."""

    serializer_class = s.SuppressionSerializer

    def scoped_queryset(self) -> QuerySet[Any]:
        rows = SuppressionEntry.objects.visible_to(self.principal, Action.VIEW)
        unit = self.request.query_params.get("unit") if self.request else None
        if unit:
            from apps.guardrails.units import unit_hash

            visible = rows.values_list("workspace_id", flat=True).distinct()
            rows = rows.filter(unit_hash__in=[unit_hash(ws, unit) for ws in visible])
        return rows.order_by("-created_at", "-id")

    @extend_schema(
        request=s.SuppressionCreateSerializer,
        responses={201: s.SuppressionSerializer},
        description=(
            "Suppress a contact: an unsubscribe on its channel (email by default), a complaint "
            "on every channel. Adding an entry that exists returns it (200)."
        ),
    )
    @idempotent
    def create(self, request: Request) -> Response:
        data = s.SuppressionCreateSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        data.is_valid(raise_exception=True)
        attrs = data.validated_data
        entry = services.suppression_add(
            actor=self.principal,
            workspace=attrs["workspace"],
            unit=attrs["unit"],
            reason=attrs["reason"],
            channel=attrs.get("channel"),
        )
        created = getattr(entry, "created_now", False)
        return Response(
            s.SuppressionSerializer(entry).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(responses={204: None}, description="Remove an entry (audited).")
    @idempotent
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        entry = self.get_object()
        services.suppression_remove(actor=self.principal, entry=entry)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TripViewSet(PeopleViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Every deny, newest first; filter with `?code=`, `?agent=`, `?since=` (ISO date)."""

    serializer_class = s.TripSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("code", str, enum=DenyCode.values),
            OpenApiParameter("agent", int),
            OpenApiParameter(
                "since", OpenApiTypes.DATE, description="From this day on (a date-time works too)."
            ),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def scoped_queryset(self) -> QuerySet[Any]:
        rows = Trip.objects.visible_to(self.principal, Action.VIEW).order_by("-at", "-id")
        if not self.request:
            return rows
        params = self.request.query_params
        if "code" in params:
            if params["code"] not in DenyCode.values:
                raise ValidationFailed("Unknown code.", fields={"code": DenyCode.values})
            rows = rows.filter(code=params["code"])
        if "agent" in params:
            if not params["agent"].isdigit():
                raise ValidationFailed("agent is an id.", fields={"agent": ["Not an id."]})
            rows = rows.filter(agent_id=int(params["agent"]))
        if "since" in params:
            from django.utils.dateparse import parse_date, parse_datetime

            try:
                since = parse_datetime(params["since"]) or parse_date(params["since"])
            except ValueError:
                since = None
            if since is None:
                raise ValidationFailed("since is an ISO date.", fields={"since": ["Not a date."]})
            rows = (
                rows.filter(at__date__gte=since)
                if not hasattr(since, "hour")
                else rows.filter(at__gte=since)
            )
        return rows


class ReservationViewSet(PeopleViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Reservations (read-only): what agents hold and spent."""

    serializer_class = s.ReservationSerializer

    def scoped_queryset(self) -> QuerySet[Any]:
        return Reservation.objects.visible_to(self.principal, Action.VIEW).order_by("-created_at")


def _active_trips() -> Count:
    return Count("trips", filter=Q(trips__reset_at__isnull=True))


class CircuitBreakerViewSet(PeopleViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Circuit breakers: rules on outcome rates that pause an agent or team, or set its day
    budget, by themselves (docs/guardrails.md)."""

    serializer_class = s.CircuitBreakerSerializer

    def scoped_queryset(self) -> QuerySet[Any]:
        rows = CircuitBreaker.objects.visible_to(self.principal, Action.VIEW)
        return rows.annotate(active_trips=_active_trips()).order_by("workspace_id", "name", "id")

    def _set(self, request: Request, breaker: CircuitBreaker | None) -> CircuitBreaker:
        data = s.CircuitBreakerSetSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        data.is_valid(raise_exception=True)
        attrs = dict(data.validated_data)
        if breaker is not None and attrs["workspace"].pk != breaker.workspace_id:
            raise ValidationFailed(
                "A rule stays in its workspace.", fields={"workspace": ["Can't change."]}
            )
        row = breakers.circuit_breaker_set(actor=self.principal, breaker=breaker, **attrs)
        return self.scoped_queryset().get(pk=row.pk)

    @extend_schema(
        request=s.CircuitBreakerSetSerializer,
        responses={201: s.CircuitBreakerSerializer},
        description=(
            "Create a rule. Admins of the workspace, or of the team for a team's rule. It is "
            "evaluated after every signals batch that touches its scope, and every 5 minutes."
        ),
    )
    @idempotent
    def create(self, request: Request) -> Response:
        row = self._set(request, None)
        return Response(s.CircuitBreakerSerializer(row).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.CircuitBreakerSetSerializer,
        responses={200: s.CircuitBreakerSerializer},
        description="Replace a rule's values (all of them); active trips stay until reset.",
    )
    @idempotent
    def update(self, request: Request, pk: str | None = None) -> Response:
        row = self._set(request, self.get_object())
        return Response(s.CircuitBreakerSerializer(row).data)

    @extend_schema(
        responses={204: None}, description="Delete a rule; its trips and what they set stay."
    )
    @idempotent
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        breakers.circuit_breaker_delete(actor=self.principal, breaker=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class BreakerTripViewSet(PeopleViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Circuit breaker trips, newest first; `?active=true` lists those holding now."""

    serializer_class = s.BreakerTripSerializer

    @extend_schema(parameters=[OpenApiParameter("active", bool)])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def scoped_queryset(self) -> QuerySet[Any]:
        rows = BreakerTrip.objects.visible_to(self.principal, Action.VIEW)
        active = self.request.query_params.get("active") if self.request else None
        if active in ("true", "1"):
            rows = rows.filter(reset_at__isnull=True)
        return rows.order_by("-tripped_at", "-id")

    @extend_schema(
        request=s.GuardrailReasonSerializer,
        responses={200: s.BreakerTripSerializer},
        description=(
            "Reset a trip with a reason: clears the kill switch it set, or gives back the day "
            "budget it replaced. The rule then counts only what happens after the reset."
        ),
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def reset(self, request: Request, pk: str | None = None) -> Response:
        trip = self.get_object()
        data = s.GuardrailReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        done = breakers.circuit_breaker_reset(
            actor=self.principal, trip=trip, reason=data.validated_data["reason"]
        )
        return Response(s.BreakerTripSerializer(done).data)
