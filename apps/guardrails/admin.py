"""Guardrails in the admin: what is paused and since when (set a pause with a reason, clear it
with one), limits per level, the suppression list (add, remove, import a CSV with per-row
errors; identifiers are shown only as keyed hashes), reservations (read-only) and trips (every
deny, filterable, a per-day chart above the list, CSV export of the filtered list), circuit
breakers (rules, their state and last trip) and their trips (with the reason; reset from the
trip's page). Every
change goes through apps.guardrails.services (audited); managing needs the manage role (the
workspace's, or the team's for a team and its agents), everyone with a role reads."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from unfold.decorators import display

from apps.core.admin_site import (
    ScopedModelAdmin,
    _module_permission,
    is_read_only,
    refuse_read_only_post,
    visible_filter,
)
from apps.core.exceptions import ServiceError
from apps.guardrails import breakers, services
from apps.guardrails.models import (
    ALL_CHANNELS,
    CONTACT_CHANNELS,
    BreakerMetric,
    BreakerTrip,
    CircuitBreaker,
    GuardrailLimits,
    KillSwitch,
    Level,
    Reservation,
    SuppressionEntry,
    SuppressionReason,
    Trip,
)
from apps.signals.models import OutcomeKind
from apps.workspaces.models import Agent, Team, Workspace
from apps.workspaces.principal import as_principal
from apps.workspaces.roles import Action

CHART_DAYS = 14
CSV_MAX_BYTES = 5 * 1024 * 1024
EXPORT_MAX_ROWS = 100_000


def sidebar_guardrails(request: HttpRequest) -> bool:
    return _module_permission(request, "guardrails.KillSwitch")


def sidebar_trips(request: HttpRequest) -> bool:
    return _module_permission(request, "guardrails.Trip")


class _Visible:
    """Foreign-key choices limited to what the person sees."""

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        models = {"workspace": Workspace, "team": Team, "agent": Agent}
        if db_field.name in models:
            manager: Any = models[db_field.name]._default_manager
            kwargs["queryset"] = manager.visible_to(request.user, Action.VIEW)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]


# --- kill switches --------------------------------------------------------------------------------


class KillSwitchForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = KillSwitch
        fields = ["workspace", "level", "team", "agent", "reason"]


class _EndedFilter(admin.SimpleListFilter):
    """State by whether `ended_field` is set: still in force (empty) or ended."""

    title = "state"
    parameter_name = "state"
    ended_field = ""
    in_force: tuple[str, str] = ("", "")
    ended: tuple[str, str] = ("", "")

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [self.in_force, self.ended]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in (self.in_force[0], self.ended[0]):
            in_force = self.value() == self.in_force[0]
            return queryset.filter(**{f"{self.ended_field}__isnull": in_force})
        return queryset


class ActiveFilter(_EndedFilter):
    ended_field = "cleared_at"
    in_force = ("active", "Paused now")
    ended = ("cleared", "Cleared")


@admin.register(KillSwitch)
class KillSwitchAdmin(_Visible, ScopedModelAdmin):
    form = KillSwitchForm
    change_action = Action.MANAGE
    list_display = ["target", "level", "state", "since", "set_by_label", "reason"]
    list_filter = [ActiveFilter, "level"]
    list_select_related = ["workspace", "team", "agent"]
    readonly_fields = [
        "set_by_label",
        "set_at",
        "cleared_at",
        "cleared_by_label",
        "clear_reason",
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None:  # a switch never changes; it is cleared
            return ["workspace", "level", "team", "agent", "reason", *self.readonly_fields]
        return self.readonly_fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def create_via_service(self, actor: Any, obj: Any, form: Any) -> None:
        data = form.cleaned_data
        created = services.kill_switch_set(
            actor=actor,
            workspace=data["workspace"],
            level=data["level"],
            team=data.get("team"),
            agent=data.get("agent"),
            reason=data.get("reason") or "",
        )
        obj.pk = created.pk

    @display(description="Paused")
    def target(self, obj: KillSwitch) -> str:
        if obj.level == Level.AGENT:
            return f"agent: {obj.agent}"
        if obj.level == Level.TEAM:
            return f"team: {obj.team}"
        return f"workspace: {obj.workspace}"

    @display(description="State", label={"paused": "danger", "cleared": "info"})
    def state(self, obj: KillSwitch) -> str:
        return "paused" if obj.active else "cleared"

    @display(description="Since", ordering="set_at")
    def since(self, obj: KillSwitch) -> str:
        return f"{timezone.localtime(obj.set_at):%Y-%m-%d %H:%M}"

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/clear/", view(self.clear_view), name="guardrails_clear"),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        may_clear = (
            obj is not None
            and obj.active
            and not is_read_only(request)
            and self._allowed(request, Action.MANAGE, obj)
        )
        context = {**(extra_context or {}), "may_clear": may_clear}
        if may_clear:
            context["clear_url"] = reverse("admin:guardrails_clear", args=[obj.pk])
        return super().change_view(request, object_id, form_url, context)

    change_form_after_template = "admin/guardrails/clear_link.html"

    def clear_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        refuse_read_only_post(request)
        obj = self.get_object(request, unquote(object_id))
        if obj is None or not self._allowed(request, Action.MANAGE, obj) or is_read_only(request):
            raise PermissionDenied
        back = reverse("admin:guardrails_killswitch_change", args=[obj.pk])
        if request.method == "POST":
            try:
                services.kill_switch_clear(
                    actor=as_principal(request.user),
                    switch=obj,
                    reason=request.POST.get("reason", ""),
                )
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return HttpResponseRedirect(request.get_full_path())
            self.message_user(request, f"Cleared: {obj.target_label} may act again.")
            return HttpResponseRedirect(reverse("admin:guardrails_killswitch_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Clear the pause of {obj.target_label}",
            "switch": obj,
            "back": back,
        }
        return TemplateResponse(request, "admin/guardrails/clear_confirm.html", context)


# --- limits ---------------------------------------------------------------------------------------

LIMIT_FORM_FIELDS = ["workspace", "level", "team", "agent", *services.LIMIT_FIELDS]


class LimitsForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = GuardrailLimits
        fields = LIMIT_FORM_FIELDS


@admin.register(GuardrailLimits)
class GuardrailLimitsAdmin(_Visible, ScopedModelAdmin):
    form = LimitsForm
    list_display = [
        "__str__",
        "currency",
        "agent_budget_day",
        "team_budget_day",
        "step_limit",
        "agent_exposure_per_day",
        "frequency",
        "rate_per_minute",
    ]
    list_filter = ["level"]
    list_select_related = ["workspace", "team", "agent"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["workspace", "level", "team", "agent"] if obj is not None else []

    def _save(self, actor: Any, obj: Any, form: Any) -> None:
        data = dict(form.cleaned_data)
        count, days = data.pop("frequency_count", None), data.pop("frequency_days", None)
        data["frequency_cap"] = (
            None
            if count is None and days is None
            else {
                "count": count,
                "days": days,
            }
        )
        allowed = services.LEVEL_INPUTS[obj.level]
        values: dict[str, Any] = {}
        for name in services.LEVEL_INPUTS[Level.WORKSPACE]:
            if name not in data:
                continue
            if name in allowed or data[name] not in (None, "", {}):
                values[name] = data[name]  # a value set at the wrong level is refused, not lost
        saved = services.limits_set(
            actor=actor,
            workspace=obj.workspace,
            level=obj.level,
            team=obj.team,
            agent=obj.agent,
            **values,
        )
        obj.pk = saved.pk

    def create_via_service(self, actor: Any, obj: Any, form: Any) -> None:
        self._save(actor, obj, form)

    def update_via_service(self, actor: Any, obj: Any, form: Any) -> None:
        self._save(actor, obj, form)

    @display(description="Frequency cap")
    def frequency(self, obj: GuardrailLimits) -> str:
        if obj.frequency_count is None:
            return "-"
        return f"{obj.frequency_count} in {obj.frequency_days} days"


# --- suppression ----------------------------------------------------------------------------------


class SuppressionForm(forms.ModelForm):  # type: ignore[type-arg]
    unit = forms.CharField(
        max_length=320,
        help_text="The e-mail address, number or account id: only its keyed hash is stored.",
    )
    reason = forms.ChoiceField(choices=SuppressionReason.choices)
    channel = forms.ChoiceField(
        choices=[(c, c) for c in (*CONTACT_CHANNELS, ALL_CHANNELS)],
        initial="email",
        help_text="A complaint suppresses every channel, whatever is chosen here.",
    )

    class Meta:
        model = SuppressionEntry
        fields = ["workspace"]


class CsvImportForm(forms.Form):
    workspace = forms.ModelChoiceField(queryset=Workspace.objects.none())
    file = forms.FileField(
        help_text="CSV with a header: unit, reason (unsubscribe or complaint), "
        "channel (optional; email by default)."
    )


@admin.register(SuppressionEntry)
class SuppressionAdmin(_Visible, ScopedModelAdmin):
    form = SuppressionForm
    list_display = ["short_hash", "channel", "reason", "source", "created_at"]
    list_filter = ["channel", "reason", "source"]
    list_select_related = ["workspace"]
    list_before_template = "admin/guardrails/suppression_tools.html"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None:
            return ["workspace", "unit_hash", "channel", "reason", "source", "created_by_label"]
        return []

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None:
            return self.get_readonly_fields(request, obj)
        return ["workspace", "unit", "reason", "channel"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def create_via_service(self, actor: Any, obj: Any, form: Any) -> None:
        data = form.cleaned_data
        created = services.suppression_add(
            actor=actor,
            workspace=data["workspace"],
            unit=data["unit"],
            reason=data["reason"],
            channel=data.get("channel"),
            source="admin",
        )
        obj.pk = created.pk

    def delete_via_service(self, actor: Any, obj: Any) -> None:
        services.suppression_remove(actor=actor, entry=obj)

    @display(description="Contact (keyed hash)")
    def short_hash(self, obj: SuppressionEntry) -> str:
        return f"{obj.unit_hash[:16]}…"

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("import/", view(self.import_view), name="guardrails_suppression_import"),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {
            **(extra_context or {}),
            "may_import": self.has_add_permission(request),
            "import_url": reverse("admin:guardrails_suppression_import"),
        }
        return super().changelist_view(request, context)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        refuse_read_only_post(request)
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CsvImportForm(request.POST or None, request.FILES or None)
        workspaces: Any = Workspace.objects.visible_to(request.user, Action.MANAGE)
        form.fields["workspace"].queryset = workspaces  # type: ignore[attr-defined]
        result = None
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > CSV_MAX_BYTES:
                form.add_error("file", f"At most {CSV_MAX_BYTES // (1024 * 1024)} MB.")
            else:
                try:
                    text = upload.read().decode("utf-8-sig")
                    reader = csv.DictReader(io.StringIO(text))
                    if not reader.fieldnames or "unit" not in reader.fieldnames:
                        raise ValueError("The first line must name the columns: unit, reason.")
                    rows = [
                        {str(k).strip().lower(): (v or "") for k, v in row.items() if k}
                        for row in reader
                    ]
                    result = services.suppression_import(
                        actor=as_principal(request.user),
                        workspace=form.cleaned_data["workspace"],
                        rows=rows,
                    )
                except (UnicodeDecodeError, ValueError, csv.Error) as exc:
                    form.add_error("file", f"Not a readable CSV file: {exc}")
                except ServiceError as exc:
                    form.add_error(None, exc.message)
        context = {
            **self.admin_site.each_context(request),
            "title": "Import suppressed contacts (CSV)",
            "form": form,
            "result": result,
            "back": reverse("admin:guardrails_suppressionentry_changelist"),
        }
        return TemplateResponse(request, "admin/guardrails/suppression_import.html", context)


# --- reservations and trips -----------------------------------------------------------------------


class _ReadOnly(ScopedModelAdmin):
    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Reservation)
class ReservationAdmin(_ReadOnly):
    list_display = [
        "id",
        "agent",
        "action",
        "channel",
        "estimated_cost",
        "actual_cost",
        "currency",
        "status",
        "created_at",
        "expires_at",
    ]
    list_filter = ["status", "action", "channel"]
    list_select_related = ["agent"]
    exclude = ["holds"]


@admin.register(Trip)
class TripAdmin(_ReadOnly):
    list_display = ["at", "agent", "code", "rule", "action", "channel", "shown_values"]
    list_filter = [
        "code",
        visible_filter("agent", "agent", Agent, "agent_id"),
        visible_filter("team", "team", Team, "team_id"),
        ("at", admin.DateFieldListFilter),
    ]
    list_select_related = ["agent"]
    list_before_template = "admin/guardrails/trip_chart.html"

    @display(description="Values")
    def shown_values(self, obj: Trip) -> str:
        return ", ".join(f"{k}={v}" for k, v in sorted(obj.values.items()))[:200]

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("export.csv", view(self.export_view), name="guardrails_trip_export"),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        query = request.GET.urlencode()
        context = {
            **(extra_context or {}),
            "trip_chart": trip_chart(self.get_queryset(request)),
            "export_url": reverse("admin:guardrails_trip_export") + (f"?{query}" if query else ""),
        }
        return super().changelist_view(request, context)

    def export_view(self, request: HttpRequest) -> StreamingHttpResponse:
        """The list as filtered, as CSV (at most EXPORT_MAX_ROWS rows, newest first)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        rows = changelist.get_queryset(request).order_by("-at", "-id")[:EXPORT_MAX_ROWS]

        def lines() -> Any:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            header = ["at", "workspace", "team", "agent", "code", "rule", "action", "channel"]
            writer.writerow([*header, "values", "request_id"])
            for trip in rows.iterator(chunk_size=2000):
                writer.writerow(
                    [
                        trip.at.isoformat(),
                        trip.workspace_id,
                        trip.team_id or "",
                        trip.agent.name,
                        trip.code,
                        trip.rule,
                        trip.action,
                        trip.channel,
                        json.dumps(trip.values, sort_keys=True),
                        trip.request_id,
                    ]
                )
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
            if buffer.getvalue():
                yield buffer.getvalue()

        response = StreamingHttpResponse(lines(), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="guardrail-trips.csv"'
        return response


def trip_chart(trips: QuerySet[Any], days: int = CHART_DAYS) -> str | None:
    """Trips per day and code over the last `days` days, as Chart.js JSON for unfold's bar
    chart (one series per code); None when there is none."""
    today = timezone.now().date()
    since = today - dt.timedelta(days=days - 1)
    rows = (
        trips.filter(at__date__gte=since)
        .annotate(day=TruncDate("at"))
        .values("day", "code")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[str, dict[dt.date, int]] = {}
    for row in rows:
        counts.setdefault(row["code"], {})[row["day"]] = row["n"]
    if not counts:
        return None
    labels = [since + dt.timedelta(days=i) for i in range(days)]
    colours = ["#dc2626", "#d97706", "#2563eb", "#7c3aed", "#059669", "#db2777", "#4b5563"]
    datasets = [
        {
            "label": code,
            "data": [per_day.get(day, 0) for day in labels],
            "backgroundColor": colours[index % len(colours)],
        }
        for index, (code, per_day) in enumerate(sorted(counts.items()))
    ]
    return json.dumps({"labels": [d.strftime("%b %d") for d in labels], "datasets": datasets})


# --- circuit breakers -----------------------------------------------------------------------------


class CircuitBreakerForm(forms.ModelForm):  # type: ignore[type-arg]
    per_outcome = forms.ChoiceField(
        required=False,
        choices=[("", "-"), *[(k, k) for k in OutcomeKind.values if k != OutcomeKind.SPEND]],
        help_text="Spend per outcome only: the outcome counted (meeting_booked when empty).",
    )

    class Meta:
        model = CircuitBreaker
        fields = [
            "workspace",
            "name",
            "metric",
            "scope",
            "team",
            "threshold",
            "window_minutes",
            "min_volume",
            "per_outcome",
            "action",
            "budget_day",
            "enabled",
        ]


@admin.register(CircuitBreaker)
class CircuitBreakerAdmin(_Visible, ScopedModelAdmin):
    """The rules and their state: armed, or tripped for how many agents or teams (with the
    last trip's reason)."""

    form = CircuitBreakerForm
    list_display = [
        "name",
        "metric",
        "applies_to",
        "limit",
        "window",
        "min_volume",
        "action",
        "enabled",
        "state",
        "last_reason",
    ]
    list_filter = ["metric", "scope", "action", "enabled"]
    list_select_related = ["workspace", "team"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        latest = BreakerTrip.objects.filter(breaker=OuterRef("pk")).order_by("-tripped_at", "-id")
        return (
            super()
            .get_queryset(request)
            .annotate(
                active_trips=Count("trips", filter=Q(trips__reset_at__isnull=True)),
                last_trip_reason=Subquery(latest.values("reason")[:1]),
            )
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["workspace"] if obj is not None else []

    def _save(self, actor: Any, obj: Any, form: Any, breaker: Any) -> None:
        data = dict(form.cleaned_data)
        data.pop("workspace", None)
        saved = breakers.circuit_breaker_set(
            actor=actor, workspace=obj.workspace, breaker=breaker, **data
        )
        obj.pk = saved.pk

    def create_via_service(self, actor: Any, obj: Any, form: Any) -> None:
        self._save(actor, obj, form, None)

    def update_via_service(self, actor: Any, obj: Any, form: Any) -> None:
        self._save(actor, obj, form, obj.pk)

    def delete_via_service(self, actor: Any, obj: Any) -> None:
        breakers.circuit_breaker_delete(actor=actor, breaker=obj)

    @display(description="Applies to")
    def applies_to(self, obj: CircuitBreaker) -> str:
        who = "each agent" if obj.scope == "agent" else "each team"
        return f"{who} of {obj.team}" if obj.team_id else f"{who} of {obj.workspace}"

    @display(description="Above")
    def limit(self, obj: CircuitBreaker) -> str:
        if obj.metric == BreakerMetric.SPEND_PER_OUTCOME:
            return f"{obj.threshold.normalize():f} per {obj.per_outcome or 'meeting_booked'}"
        return f"{(obj.threshold * 100).normalize():f}%"

    @display(description="Window")
    def window(self, obj: CircuitBreaker) -> str:
        return breakers.window_text(obj.window_minutes)

    @display(description="State", label={"armed": "success", "tripped": "danger", "off": "info"})
    def state(self, obj: Any) -> str:
        if getattr(obj, "active_trips", 0):
            return "tripped"
        return "armed" if obj.enabled else "off"

    @display(description="Last trip")
    def last_reason(self, obj: Any) -> str:
        return str(getattr(obj, "last_trip_reason", "") or "-")[:300]


class TripStateFilter(_EndedFilter):
    ended_field = "reset_at"
    in_force = ("tripped", "Tripped now")
    ended = ("reset", "Reset")


@admin.register(BreakerTrip)
class BreakerTripAdmin(_ReadOnly):
    """Every trip of a circuit breaker with its reason; a tripped one is reset from its page
    (clearing the kill switch it set, or restoring the day budget it replaced)."""

    list_display = ["tripped_at", "breaker_name", "target", "measure", "trip_state", "reason"]
    list_filter = [TripStateFilter, "metric", "action"]
    list_select_related = ["team", "agent"]
    change_form_after_template = "admin/guardrails/breaker_reset_link.html"

    @display(description="Tripped for")
    def target(self, obj: BreakerTrip) -> str:
        return f"agent: {obj.agent}" if obj.agent_id else f"team: {obj.team}"

    @display(description="Measured")
    def measure(self, obj: BreakerTrip) -> str:
        if obj.metric == BreakerMetric.SPEND_PER_OUTCOME:
            return f"{obj.measured.quantize(Decimal('0.01'))} (n={obj.volume})"
        return f"{(obj.measured * 100).quantize(Decimal('0.1'))}% (n={obj.volume})"

    @display(description="State", label={"tripped": "danger", "reset": "info"})
    def trip_state(self, obj: BreakerTrip) -> str:
        return "tripped" if obj.active else "reset"

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/reset/", view(self.reset_view), name="guardrails_breaker_reset"),
            *super().get_urls(),
        ]

    def _may_reset(self, request: HttpRequest, obj: BreakerTrip | None) -> bool:
        return (
            obj is not None
            and obj.active
            and not is_read_only(request)
            and self._allowed(request, Action.MANAGE, obj)
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        may_reset = self._may_reset(request, obj)
        context = {**(extra_context or {}), "may_reset": may_reset}
        if may_reset and obj is not None:
            context["reset_url"] = reverse("admin:guardrails_breaker_reset", args=[obj.pk])
        return super().change_view(request, object_id, form_url, context)

    def reset_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        refuse_read_only_post(request)
        obj = self.get_object(request, unquote(object_id))
        if obj is None or not self._may_reset(request, obj):
            raise PermissionDenied
        if request.method == "POST":
            try:
                breakers.circuit_breaker_reset(
                    actor=as_principal(request.user),
                    trip=obj,
                    reason=request.POST.get("reason", ""),
                )
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return HttpResponseRedirect(request.get_full_path())
            self.message_user(request, f"Reset: {obj.target_label} is no longer held by it.")
            return HttpResponseRedirect(reverse("admin:guardrails_breakertrip_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Reset the circuit breaker for {obj.target_label}",
            "trip": obj,
            "back": reverse("admin:guardrails_breakertrip_change", args=[obj.pk]),
        }
        return TemplateResponse(request, "admin/guardrails/breaker_reset_confirm.html", context)
