"""People's logins resist guessing (docs/security.md, "Logins").

django-axes counts failed logins per account and per client address and, past
LOGIN_FAILURE_LIMIT, refuses them for LOGIN_LOCKOUT_MINUTES, even with the right password.
Steward's parts are here: the backend that asks axes first, the client address behind a proxy,
the lockout page, the admin's password change (it checks a secret too) and the services that
audit a lockout, an operator's unlock and the expiry of login records.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_failure_limit
from axes.models import AccessAttempt, AccessLog
from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminPasswordChangeForm
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.views import PasswordChangeView
from django.db import models, transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import reverse_lazy
from django.utils import timezone

from apps.audit.services import audit_event_record
from apps.core.exceptions import Forbidden, ValidationFailed
from apps.workspaces.principal import Principal, as_principal

LOCKOUT_ACTOR = Principal.system("login-lockout")
EXPIRY_ACTOR = Principal.system("login-records")
LOCKED_TEMPLATE = "admin/login_locked.html"


class LoginLockoutBackend(AxesStandaloneBackend):
    """First in AUTHENTICATION_BACKENDS: a locked-out account or address is refused before any
    password is checked. Every login and password check served over HTTP passes its request;
    a call without one (Django's test client `login()`, a shell) has no client to count
    against, so it is left to the next backend instead of failing (axes raises there)."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def client_ip(request: HttpRequest) -> str | None:
    """The address failures are counted against (AXES_CLIENT_IP_CALLABLE).

    Behind a reverse proxy every request comes from the proxy, so one attacker would lock
    everybody out by address: LOGIN_CLIENT_IP_HEADER names the header the proxy sets
    (X-Forwarded-For) and LOGIN_TRUSTED_PROXY_COUNT how many proxies append to it; the
    address that many entries from the right is the one the first trusted proxy saw (entries
    further left are whatever the client sent). Without the header: REMOTE_ADDR."""
    header = settings.LOGIN_CLIENT_IP_HEADER
    remote = _valid_ip(request.META.get("REMOTE_ADDR", ""))
    if not header:
        return remote
    key = "HTTP_" + header.upper().replace("-", "_")
    hops = [hop.strip() for hop in request.META.get(key, "").split(",") if hop.strip()]
    count = int(settings.LOGIN_TRUSTED_PROXY_COUNT)
    if len(hops) < count:
        return remote
    return _valid_ip(hops[-count]) or remote


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def lockout_minutes() -> int:
    cooloff = settings.AXES_COOLOFF_TIME
    return int(cooloff.total_seconds() // 60) if isinstance(cooloff, dt.timedelta) else 0


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any = None
) -> HttpResponse:
    """The page a locked-out login gets (AXES_LOCKOUT_CALLABLE): the admin's own sign-in look,
    how long the lock lasts and what to do, with 429 Too Many Requests."""
    context = {
        **admin.site.each_context(request),
        "title": "Sign-in locked",
        "minutes": lockout_minutes(),
        "failure_limit": get_failure_limit(request, credentials),
    }
    response = TemplateResponse(
        request, LOCKED_TEMPLATE, context, status=settings.AXES_HTTP_RESPONSE_CODE
    )
    response["Cache-Control"] = "no-store"
    minutes = lockout_minutes()
    if minutes:
        response["Retry-After"] = str(minutes * 60)
    return response.render()


# --- the admin's password change: the old password is a secret checked too ------------------


class CountedPasswordChangeForm(AdminPasswordChangeForm):
    """Checks the old password through `authenticate()` with the request, so a wrong one counts
    as a failed login (a stolen session can't guess the password) and a locked-out account or
    address is refused here as on the sign-in page."""

    def __init__(self, user: Any, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(user, *args, **kwargs)
        self.request = request

    def clean_old_password(self) -> str:
        old_password = str(self.cleaned_data["old_password"])
        checked = authenticate(
            self.request, username=self.user.get_username(), password=old_password
        )
        if checked is None or checked.pk != self.user.pk:
            raise forms.ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
        return old_password


class CountedPasswordChangeView(PasswordChangeView):
    form_class = CountedPasswordChangeForm
    success_url = reverse_lazy("admin:password_change_done")

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "request": self.request}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**admin.site.each_context(self.request), **super().get_context_data(**kwargs)}


def admin_password_change(request: HttpRequest) -> HttpResponseBase:
    """Served at the admin's own password-change address (config/urls.py, before the admin)."""
    request.current_app = admin.site.name
    view = CountedPasswordChangeView.as_view()
    return admin.site.admin_view(view)(request)


# --- services -------------------------------------------------------------------------------


def masked_username(username: str | None) -> str:
    """What the audit trail keeps of a typed username (which may be an e-mail address): its
    first character. The account itself is named by id when it exists."""
    return f"{username[0]}***" if username else ""


def _user_ids(usernames: Iterable[str | None]) -> dict[str, int]:
    User = get_user_model()
    names = {name for name in usernames if name}
    field = User.USERNAME_FIELD
    rows = User._default_manager.filter(**{f"{field}__in": names}).values_list(field, "pk")
    return {str(name): int(pk) for name, pk in rows}


@transaction.atomic
def login_lockout_record(*, username: str | None, ip_address: str | None, failures: int) -> None:
    """A lockout begins: an account or an address reached the failure limit. Called from
    axes' `user_locked_out` signal, the one place that knows; axes decides the lockout inside
    its own handler, so there is no Steward service to audit it in. The address goes through
    the audit trail's PII masking like any value (docs/security.md)."""
    user_id = _user_ids([username]).get(username or "")
    audit_event_record(
        actor=LOCKOUT_ACTOR,
        action="login.lockout",
        object_type="auth.user",
        object_id=str(user_id) if user_id else "",
        after={
            "user_id": user_id,
            "username": masked_username(username),
            "ip_address": ip_address or "",
            "failures": failures,
            "minutes": lockout_minutes(),
        },
    )


def on_user_locked_out(
    sender: Any, request: HttpRequest, username: str | None, ip_address: str | None, **_: Any
) -> None:
    """axes sends `user_locked_out` for every refused attempt of a lockout; only the one that
    reaches the limit starts it (the others would let an attacker flood the audit trail)."""
    failures = getattr(request, "axes_failures_since_start", None)
    credentials = getattr(request, "axes_credentials", None)
    if failures != get_failure_limit(request, credentials):
        return
    login_lockout_record(username=username, ip_address=ip_address, failures=failures)


def _require_operator(actor: Any) -> Principal:
    principal = as_principal(actor)
    if not (principal.kind == "system" or principal.is_superuser):
        raise Forbidden("Only operators may unlock sign-ins.")
    return principal


@transaction.atomic
def login_lockout_clear(
    *,
    actor: Any,
    usernames: Iterable[str] = (),
    ip_addresses: Iterable[str] = (),
    reason: str = "",
) -> int:
    """Let accounts (and, when named, addresses) sign in again before their cool-off ends:
    deletes their failure counters. Operators only: lockouts belong to the instance, not to a
    workspace. Returns how many counters went."""
    _require_operator(actor)
    names = sorted({name for name in usernames if name})
    addresses = sorted({address for address in ip_addresses if address})
    if not names and not addresses:
        raise ValidationFailed("Name at least one account or address to unlock.")
    match = Q(username__in=names) | Q(ip_address__in=addresses)
    rows = list(
        AccessAttempt.objects.select_for_update()
        .filter(match)
        .order_by("pk")
        .values("pk", "username", "failures_since_start")
    )
    if not rows:
        return 0
    AccessAttempt.objects.filter(pk__in=[row["pk"] for row in rows]).delete()
    user_ids = _user_ids(names)
    audit_event_record(
        actor=actor,
        action="login.unlock",
        object_type=AccessAttempt._meta.label_lower,
        after={
            "ids": [row["pk"] for row in rows],
            "user_ids": sorted(user_ids.values()),
            "usernames": [masked_username(name) for name in names],
            "ip_addresses": addresses,
            "failures": sum(row["failures_since_start"] for row in rows),
        },
        reason=reason,
    )
    return len(rows)


def _expire_batch(model: type[models.Model], cutoff: dt.datetime, batch_size: int) -> int:
    with transaction.atomic():
        ids = list(
            model._default_manager.filter(attempt_time__lt=cutoff)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return 0
        model._default_manager.filter(pk__in=ids).delete()
        audit_event_record(
            actor=EXPIRY_ACTOR,
            action="login.records_expire",
            object_type=model._meta.label_lower,
            after={"ids": ids, "before": cutoff.isoformat(), "count": len(ids)},
        )
        return len(ids)


def login_records_expire(*, now: dt.datetime | None = None, batch_size: int = 1000) -> int:
    """The beat task's work: sign-in records (axes' access log: who signed in, from which
    address) and failure counters older than LOGIN_RECORDS_KEEP_DAYS go, one transaction and
    one audit event per batch. Login records belong to no workspace, so this is an
    instance-wide rule rather than one of apps.compliance's per-workspace retention rules."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.LOGIN_RECORDS_KEEP_DAYS)
    deleted = 0
    for model in (AccessLog, AccessAttempt):
        while count := _expire_batch(model, cutoff, batch_size):
            deleted += count
    return deleted
