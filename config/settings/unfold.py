"""Look of the admin (django-unfold); see docs/admin-theme.md for why this theme."""

from django.templatetags.static import static
from django.urls import reverse_lazy

UNFOLD = {
    "SITE_TITLE": "Steward",
    "SITE_HEADER": "Steward",
    "SITE_SUBHEADER": "Governance for what agents learn",
    "SITE_SYMBOL": "verified_user",
    "SHOW_HISTORY": True,
    "STYLES": [lambda request: static("steward/admin.css")],
    "SHOW_VIEW_ON_SITE": False,
    "ENVIRONMENT": "apps.core.admin_site.environment_badge",
    "DASHBOARD_CALLBACK": "apps.core.admin_site.dashboard_callback",
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": False,
        "navigation": [
            {
                "title": "Workspaces",
                "separator": True,
                "items": [
                    {
                        "title": "Workspaces",
                        "icon": "domain",
                        "link": reverse_lazy("admin:workspaces_workspace_changelist"),
                        "permission": "apps.core.admin_site.sidebar_console",
                    },
                    {
                        "title": "Teams",
                        "icon": "groups",
                        "link": reverse_lazy("admin:workspaces_team_changelist"),
                        "permission": "apps.core.admin_site.sidebar_console",
                    },
                    {
                        "title": "Members",
                        "icon": "badge",
                        "link": reverse_lazy("admin:workspaces_membership_changelist"),
                        "permission": "apps.core.admin_site.sidebar_console",
                    },
                    {
                        "title": "Agents",
                        "icon": "smart_toy",
                        "link": reverse_lazy("admin:workspaces_agent_changelist"),
                        "permission": "apps.core.admin_site.sidebar_console",
                    },
                    {
                        "title": "Agent tokens",
                        "icon": "key",
                        "link": reverse_lazy("admin:workspaces_agenttoken_changelist"),
                        "permission": "apps.core.admin_site.sidebar_tokens",
                    },
                ],
            },
            {
                "title": "Review",
                "separator": True,
                "items": [
                    {
                        "title": "Review queue",
                        "icon": "fact_check",
                        "link": reverse_lazy("admin:reviews_reviewrequest_changelist"),
                        "permission": "apps.reviews.admin.sidebar_reviews",
                        "badge": "apps.reviews.admin.sidebar_badge",
                    },
                    {
                        "title": "Review settings",
                        "icon": "tune",
                        "link": reverse_lazy("admin:reviews_reviewsettings_changelist"),
                        "permission": "apps.reviews.admin.sidebar_review_settings",
                    },
                ],
            },
            {
                "title": "Policies",
                "separator": True,
                "items": [
                    {
                        "title": "Policy packs",
                        "icon": "gavel",
                        "link": reverse_lazy("admin:policies_policypack_changelist"),
                        "permission": "apps.policies.admin.sidebar_policies",
                    },
                    {
                        "title": "Prompts",
                        "icon": "chat",
                        "link": reverse_lazy("admin:policies_prompt_changelist"),
                        "permission": "apps.policies.admin.sidebar_policies",
                    },
                    {
                        "title": "Skills",
                        "icon": "construction",
                        "link": reverse_lazy("admin:policies_skill_changelist"),
                        "permission": "apps.policies.admin.sidebar_policies",
                    },
                    {
                        "title": "Policy settings",
                        "icon": "tune",
                        "link": reverse_lazy("admin:policies_policysettings_changelist"),
                        "permission": "apps.policies.admin.sidebar_policy_settings",
                    },
                ],
            },
            {
                "title": "Memories",
                "separator": True,
                "items": [
                    {
                        "title": "Memories",
                        "icon": "psychology",
                        "link": reverse_lazy("admin:memories_memoryitem_changelist"),
                        "permission": "apps.memories.admin.sidebar_memories",
                    },
                    {
                        "title": "Brains",
                        "icon": "hub",
                        "link": reverse_lazy("admin:memories_brain_index"),
                        "permission": "apps.memories.admin.sidebar_memories",
                    },
                    {
                        "title": "Proposed",
                        "icon": "pending_actions",
                        "link": lambda request: (
                            f"{reverse_lazy('admin:memories_memoryitem_changelist')}"
                            "?status__exact=proposed"
                        ),
                        "permission": "apps.memories.admin.sidebar_memories",
                    },
                    {
                        "title": "Write policy",
                        "icon": "rule",
                        "link": reverse_lazy("admin:memories_writepolicy_changelist"),
                        "permission": "apps.memories.write_policy_admin.sidebar_write_policy",
                    },
                ],
            },
            {
                "title": "Signals",
                "separator": True,
                "items": [
                    {
                        "title": "Traces",
                        "icon": "timeline",
                        "link": reverse_lazy("admin:signals_trace_changelist"),
                        "permission": "apps.signals.admin.sidebar_signals",
                    },
                    {
                        "title": "Feedback",
                        "icon": "thumbs_up_down",
                        "link": reverse_lazy("admin:signals_feedback_changelist"),
                        "permission": "apps.signals.admin.sidebar_signals",
                    },
                    {
                        "title": "Outcomes",
                        "icon": "flag",
                        "link": reverse_lazy("admin:signals_outcome_changelist"),
                        "permission": "apps.signals.admin.sidebar_signals",
                    },
                    {
                        "title": "Experiments",
                        "icon": "science",
                        "link": reverse_lazy("admin:experiments_experiment_changelist"),
                        "permission": "apps.experiments.admin.sidebar_experiments",
                    },
                    {
                        "title": "Weekly scorecards",
                        "icon": "monitoring",
                        "link": reverse_lazy("admin:scorecards_weeklyscorecard_changelist"),
                        "permission": "apps.scorecards.admin.sidebar_scorecards",
                    },
                    {
                        "title": "Training datasets",
                        "icon": "dataset",
                        "link": reverse_lazy("admin:datasets_datasetversion_changelist"),
                        "permission": "apps.datasets.admin.sidebar_datasets",
                    },
                    {
                        "title": "Experiment settings",
                        "icon": "tune",
                        "link": reverse_lazy("admin:experiments_experimentsettings_changelist"),
                        "permission": "apps.experiments.admin.sidebar_experiment_settings",
                    },
                    {
                        "title": "Eval sets",
                        "icon": "fact_check",
                        "link": reverse_lazy("admin:evals_evalset_changelist"),
                        "permission": "apps.evals.admin.sidebar_evals",
                    },
                    {
                        "title": "Eval runs",
                        "icon": "rule",
                        "link": reverse_lazy("admin:evals_evalrun_changelist"),
                        "permission": "apps.evals.admin.sidebar_evals",
                    },
                    {
                        "title": "Promotion block",
                        "icon": "block",
                        "link": reverse_lazy("admin:evals_evalsettings_changelist"),
                        "permission": "apps.evals.admin.sidebar_eval_settings",
                    },
                ],
            },
            {
                "title": "Privacy",
                "separator": True,
                "items": [
                    {
                        "title": "Privacy policies",
                        "icon": "shield_person",
                        "link": reverse_lazy("admin:privacy_privacypolicy_changelist"),
                        "permission": "apps.privacy.admin.sidebar_privacy",
                    },
                    {
                        "title": "PII re-scans",
                        "icon": "policy",
                        "link": reverse_lazy("admin:privacy_piiscanjob_changelist"),
                        "permission": "apps.privacy.admin.sidebar_pii_scans",
                    },
                    {
                        "title": "Reveal",
                        "icon": "visibility",
                        "link": reverse_lazy("admin:privacy_privacypolicy_reveal"),
                        "permission": "apps.privacy.admin.sidebar_reveal",
                    },
                ],
            },
            {
                "title": "Compliance",
                "separator": True,
                "items": [
                    {
                        "title": "Audit trail",
                        "icon": "history",
                        "link": reverse_lazy("admin:audit_auditevent_changelist"),
                        "permission": "apps.core.admin_site.sidebar_audit",
                    },
                    {
                        "title": "Chain verification",
                        "icon": "verified",
                        "link": reverse_lazy("admin:audit_auditverificationrun_changelist"),
                        "permission": "apps.core.admin_site.sidebar_audit",
                    },
                    {
                        "title": "Erasure requests",
                        "icon": "person_remove",
                        "link": reverse_lazy("admin:compliance_erasurerequest_changelist"),
                        "permission": "apps.compliance.admin.sidebar_compliance",
                    },
                    {
                        "title": "Retention",
                        "icon": "auto_delete",
                        "link": reverse_lazy("admin:compliance_retentionrule_changelist"),
                        "permission": "apps.compliance.admin.sidebar_compliance",
                    },
                    {
                        "title": "Audit exports",
                        "icon": "download",
                        "link": reverse_lazy("admin:compliance_exportjob_changelist"),
                        "permission": "apps.compliance.admin.sidebar_compliance",
                    },
                    {
                        "title": "Sign-in lockouts",
                        "icon": "lock_person",
                        "link": reverse_lazy("admin:axes_accessattempt_changelist"),
                        "permission": "apps.core.admin.sidebar_logins",
                    },
                    {
                        "title": "Sign-ins",
                        "icon": "login",
                        "link": reverse_lazy("admin:axes_accesslog_changelist"),
                        "permission": "apps.core.admin.sidebar_logins",
                    },
                ],
            },
            {
                "title": "Guardrails",
                "separator": True,
                "items": [
                    {
                        "title": "Kill switches",
                        "icon": "pause_circle",
                        "link": reverse_lazy("admin:guardrails_killswitch_changelist"),
                        "permission": "apps.guardrails.admin.sidebar_guardrails",
                    },
                    {
                        "title": "Limits",
                        "icon": "speed",
                        "link": reverse_lazy("admin:guardrails_guardraillimits_changelist"),
                        "permission": "apps.guardrails.admin.sidebar_guardrails",
                    },
                    {
                        "title": "Suppression list",
                        "icon": "unsubscribe",
                        "link": reverse_lazy("admin:guardrails_suppressionentry_changelist"),
                        "permission": "apps.guardrails.admin.sidebar_guardrails",
                    },
                    {
                        "title": "Trips",
                        "icon": "report",
                        "link": reverse_lazy("admin:guardrails_trip_changelist"),
                        "permission": "apps.guardrails.admin.sidebar_trips",
                    },
                    {
                        "title": "Circuit breakers",
                        "icon": "electrical_services",
                        "link": reverse_lazy("admin:guardrails_circuitbreaker_changelist"),
                        "permission": "apps.guardrails.admin.sidebar_guardrails",
                    },
                    {
                        "title": "Breaker trips",
                        "icon": "flash_off",
                        "link": reverse_lazy("admin:guardrails_breakertrip_changelist"),
                        "permission": "apps.guardrails.admin.sidebar_guardrails",
                    },
                    {
                        "title": "Reservations",
                        "icon": "receipt_long",
                        "link": reverse_lazy("admin:guardrails_reservation_changelist"),
                        "permission": "apps.guardrails.admin.sidebar_trips",
                    },
                ],
            },
        ],
    },
}
