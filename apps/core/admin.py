"""Sign-in lockouts in the admin: failure counters (who is locked out now) and the sign-in
log, for operators only, with "unlock" actions that go through `login_lockout_clear`.

axes' own admin pages are switched off (AXES_ENABLE_ADMIN = False): they let anyone holding
Django's model permissions delete counters without an audit event.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from axes.models import AccessAttempt, AccessLog
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils import timezone
from unfold.admin import ModelAdmin
from unfold.decorators import action, display

from apps.core.logins import login_lockout_clear
from apps.core.paginator import CappedCountPaginator


def _is_operator(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_superuser)


def sidebar_logins(request: HttpRequest) -> bool:
    """Unfold sidebar: the sign-in lockout pages are the operators'."""
    return _is_operator(request)


class OperatorsReadOnly(ModelAdmin):
    """Operators (superusers) read these records; nobody edits them by hand."""

    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 50

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_operator(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_operator(request)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _cooloff_start() -> dt.datetime:
    return timezone.now() - settings.AXES_COOLOFF_TIME


def _recent_failures(column: str) -> Coalesce:
    """Failures within the cool-off of every counter sharing this row's `column` (an account
    is counted over every address it was tried from, an address over every account)."""
    same = (
        AccessAttempt.objects.filter(
            **{column: OuterRef(column)}, attempt_time__gte=_cooloff_start()
        )
        .order_by()
        .values(column)
        .annotate(total=Sum("failures_since_start"))
        .values("total")
    )
    return Coalesce(Subquery(same, output_field=IntegerField()), 0)


class LockedNowFilter(admin.SimpleListFilter):
    title = "locked now"
    parameter_name = "locked"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Locked now"), ("no", "Not locked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        limit = int(settings.AXES_FAILURE_LIMIT)
        locked = Q(account_failures__gte=limit) | Q(address_failures__gte=limit)
        if self.value() == "yes":
            return queryset.filter(locked)
        if self.value() == "no":
            return queryset.exclude(locked)
        return queryset


@admin.register(AccessAttempt)
class AccessAttemptAdmin(OperatorsReadOnly):
    list_display = [
        "username",
        "ip_address",
        "failures_since_start",
        "attempt_time",
        "locked_until",
        "user_agent",
    ]
    list_filter = [LockedNowFilter]
    search_fields = ["username", "=ip_address"]
    ordering = ["-attempt_time"]
    fields = ["username", "ip_address", "user_agent", "failures_since_start", "attempt_time"]
    actions = ["unlock_accounts", "unlock_accounts_and_addresses"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                account_failures=_recent_failures("username"),
                address_failures=_recent_failures("ip_address"),
            )
        )

    @display(description="Locked until")
    def locked_until(self, obj: Any) -> str:
        limit = int(settings.AXES_FAILURE_LIMIT)
        if max(obj.account_failures, obj.address_failures) < limit:
            return "-"
        until = timezone.localtime(obj.attempt_time + settings.AXES_COOLOFF_TIME)
        return f"{until:%Y-%m-%d %H:%M}"

    def has_unlock_permission(self, request: HttpRequest) -> bool:
        return _is_operator(request)

    @action(description="Unlock the selected accounts", permissions=["unlock"])
    def unlock_accounts(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        usernames = {name for name in queryset.values_list("username", flat=True) if name}
        self._unlock(request, usernames, set())

    @action(description="Unlock the selected accounts and their addresses", permissions=["unlock"])
    def unlock_accounts_and_addresses(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        rows = list(queryset.values_list("username", "ip_address"))
        usernames = {name for name, _ in rows if name}
        addresses = {address for _, address in rows if address}
        self._unlock(request, usernames, addresses)

    def _unlock(self, request: HttpRequest, usernames: set[str], addresses: set[str]) -> None:
        cleared = login_lockout_clear(
            actor=request.user,
            usernames=usernames,
            ip_addresses=addresses,
            reason="unlocked in the admin",
        )
        self.message_user(
            request,
            f"Unlocked: {cleared} failure counter(s) cleared; those sign-ins may try again.",
            messages.SUCCESS,
        )


@admin.register(AccessLog)
class AccessLogAdmin(OperatorsReadOnly):
    list_display = ["username", "ip_address", "attempt_time", "logout_time", "user_agent"]
    search_fields = ["username", "=ip_address"]
    ordering = ["-attempt_time"]
    fields = ["username", "ip_address", "user_agent", "path_info", "attempt_time", "logout_time"]
