"""Kill switches on every agent request: the token lookup (apps.workspaces.authentication)
reads, in its one query, the id of an active switch that covers the agent (`PAUSED_SQL`); a
paused agent's request ends there with 403 `agent_paused`. No cache to invalidate: the next
request after a switch is set or cleared sees it. People are never paused."""

from __future__ import annotations

from rest_framework import exceptions as drf

from apps.core.exceptions import ServiceError

# One correlated subquery beside the token lookup (its agent's table is `a`); the partial
# index guardrail_switch_active keeps it to the workspace's active switches.
PAUSED_SQL = (
    '(SELECT ks."id" FROM "guardrails_killswitch" ks WHERE ks."cleared_at" IS NULL '
    'AND ks."workspace_id" = a."workspace_id" AND (ks."level" = \'workspace\' '
    'OR (ks."level" = \'team\' AND ks."team_id" = a."team_id") OR ks."agent_id" = a."id") '
    'ORDER BY ks."agent_id" IS NULL, ks."team_id" IS NULL LIMIT 1)'
)


class AgentPaused(ServiceError, drf.APIException):
    """A ServiceError (the API's one error body, code agent_paused) that DRF's authentication
    also recognises (it marks the request unauthenticated before re-raising)."""

    status_code = 403
    code = "agent_paused"


def agent_paused_error(switch_id: int) -> AgentPaused:
    from apps.guardrails.models import KillSwitch
    from apps.guardrails.services import paused_message

    switch = KillSwitch.objects.filter(pk=switch_id).first()
    if switch is None:  # cleared and deleted between the two queries: still refuse this one
        return AgentPaused("This agent is paused.")
    error = AgentPaused(paused_message(switch))
    error.fields = {}
    return error
