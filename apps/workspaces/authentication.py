"""`Authorization: Bearer stw_<prefix>_<secret>` for agents."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from django.utils.crypto import constant_time_compare
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from apps.workspaces.models import Agent, AgentToken
from apps.workspaces.services import hash_token, split_token

LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


class AgentTokenAuthentication(BaseAuthentication):
    """Looks the token up by its public prefix, then compares hashes in constant time."""

    def authenticate(self, request: Request) -> tuple[Agent, AgentToken] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header; send 'Authorization: Bearer <token>'."
            )
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid token.") from exc
        token = self._lookup(raw)
        self._check_usable(token)
        self._touch(token)
        return token.agent, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="steward"'

    def _lookup(self, raw: str) -> AgentToken:
        parts = split_token(raw)
        token = None
        if parts is not None:
            token = (
                AgentToken.objects.select_related("agent__workspace", "agent__team")
                .filter(prefix=parts[0])
                .first()
            )
        if token is None or not constant_time_compare(token.secret_hash, hash_token(raw)):
            raise exceptions.AuthenticationFailed("Invalid token.")
        return token

    def _check_usable(self, token: AgentToken) -> None:
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This token was revoked.")
        if token.expires_at is not None and token.expires_at <= timezone.now():
            raise exceptions.AuthenticationFailed("This token has expired.")
        if not token.agent.is_active:
            raise exceptions.AuthenticationFailed("This agent is deactivated.")

    def _touch(self, token: AgentToken) -> None:
        """Record last use at one-minute resolution: telemetry, not a governed change."""
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            AgentToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now


class AgentTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.workspaces.authentication.AgentTokenAuthentication"
    name = "AgentToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "stw_<prefix>_<secret>"}
