"""Designing experiments in the admin: "Add experiment" and a draft's "Edit design" call the
design services as the signed-in person (editors and up); the services' field errors come back
onto the form and nothing is stored; a started experiment's design is read-only; read-only
roles see no button and their POSTs are refused."""

from __future__ import annotations

from typing import Any

import pytest

from apps.experiments.models import Experiment, ExperimentStatus, Variant
from apps.experiments.power import sample_size_per_variant
from apps.policies import services as policy_services
from apps.policies.models import ArtifactVersion
from tests.api_helpers import audit_mark, audit_since
from tests.conftest import SYSTEM
from tests.experiments.conftest import make, state
from tests.workspaces.factories import TeamFactory

ADMIN = "/admin/experiments/experiment"
PEOPLE = [
    "owner",
    "admin",
    "editor",
    "reviewer",
    "auditor",
    "viewer",
    "team_admin",
    "team_viewer",
    "outsider",
    "nobody",
    "operator",
]
DESIGNERS = ("owner", "admin", "editor", "operator")


@pytest.fixture
def staff(cast: Any) -> Any:
    for who in PEOPLE:
        user = cast.user(who)
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return cast


def rows(prefix: str, items: list[dict[str, Any]], initial: int, extra: int = 1) -> dict[str, str]:
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(items) + extra),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, item in enumerate(items):
        for name, value in item.items():
            if value is True:
                data[f"{prefix}-{index}-{name}"] = "on"
            elif value is not False:
                data[f"{prefix}-{index}-{name}"] = str(value)
    for index in range(len(items), len(items) + extra):  # a blank row left as the page drew it
        if prefix == "variants":
            data[f"{prefix}-{index}-weight"] = "1"
        else:
            data.update({f"{prefix}-{index}-kind": "rate", f"{prefix}-{index}-window_days": "14"})
    return data


VARIANTS = [
    {"key": "control", "is_control": True, "weight": 1},
    {"key": "short", "weight": 1, "config": '{"max_sentences": 5}'},
]
GUARDS = [{"kind": "rate", "event": "unsubscribe", "window_days": 14}]


def form_data(
    space: Any,
    variants: list[dict[str, Any]] | None = None,
    guards: list[dict[str, Any]] | None = None,
    initial_variants: int = 2,
    extra_variants: int = 1,
    **changes: Any,
) -> dict[str, str]:
    data = {
        "workspace": str(space.pk),
        "key": "from-the-form",
        "name": "Shorter first e-mail",
        "hypothesis": "Short first mails book more meetings.",
        "owner": "",
        "unit_kind": "contact",
        "segments": "smb, mid-market",
        "channels": "email",
        "primary_kind": "conversion",
        "primary_event": "meeting_booked",
        "primary_window_days": "14",
        "baseline_rate": "0.05",
        "minimum_detectable_effect": "0.01",
        "alpha": "0.05",
        "power": "0.8",
        "exposure_cap": "",
        **{name: str(value) for name, value in changes.items()},
    }
    chosen = VARIANTS if variants is None else variants
    data.update(rows("variants", chosen, initial_variants, extra_variants))
    data.update(rows("guardrails", GUARDS if guards is None else guards, 0))
    return data


def count() -> tuple[int, int]:
    return Experiment.objects.count(), Variant.objects.count()


@pytest.mark.parametrize("who", PEOPLE)
def test_adding_an_experiment_in_the_browser(client, staff, who):
    client.force_login(staff.user(who))
    before, mark = count(), audit_mark()

    form = client.get(f"{ADMIN}/add/")
    saved = client.post(f"{ADMIN}/add/", form_data(staff.workspace))

    created = Experiment.objects.filter(workspace=staff.workspace, key="from-the-form").first()
    if who in DESIGNERS:
        assert form.status_code == 200 and b'data-testid="experiment-design"' in form.content
        assert saved.status_code == 302 and created is not None
        assert saved["Location"] == f"{ADMIN}/{created.pk}/change/"
        assert created.status == ExperimentStatus.DRAFT
        assert created.eligibility == {"channels": ["email"], "segments": ["mid-market", "smb"]}
        assert created.guardrail_metrics == GUARDS
        assert created.owner == staff.user(who)
        variants = list(created.variants.order_by("id").values("key", "is_control", "config"))
        assert variants == [
            {"key": "control", "is_control": True, "config": {}},
            {"key": "short", "is_control": False, "config": {"max_sentences": 5}},
        ]
        assert created.sample_size_per_variant > 1000
        assert [e.action for e in audit_since(mark)] == ["experiment.create"]
    else:
        assert created is None and count() == before and audit_since(mark) == []
        assert saved.status_code in (200, 302, 403)
        if saved.status_code == 200:  # may design elsewhere: this workspace is not a choice
            assert b"Select a valid choice" in saved.content


@pytest.mark.parametrize("who", PEOPLE)
def test_the_add_button_and_the_edit_link_show_for_designers_only(client, staff, who):
    draft = make(staff.workspace, "a-draft")
    client.force_login(staff.user(who))

    listing = client.get(f"{ADMIN}/")
    page = client.get(f"{ADMIN}/{draft.pk}/change/")

    if who in ("outsider", "nobody"):
        assert b"a-draft" not in listing.content and page.status_code in (302, 403)
        return
    add_button = f'href="{ADMIN}/add/"'.encode()
    assert (add_button in listing.content) is (who in DESIGNERS)
    assert (b'data-testid="experiment-design-link"' in page.content) is (who in DESIGNERS)


@pytest.mark.parametrize("who", PEOPLE)
def test_editing_a_draft_in_the_browser(client, staff, who):
    draft = make(staff.workspace, "edit-me")
    client.force_login(staff.user(who))
    before, mark = state(draft), audit_mark()
    three = [*VARIANTS, {"key": "shorter", "weight": 2}]

    form = client.get(f"{ADMIN}/{draft.pk}/design/")
    saved = client.post(
        f"{ADMIN}/{draft.pk}/design/",
        form_data(staff.workspace, variants=three, name="Three-way test", key="edit-me"),
    )

    draft.refresh_from_db()
    if who in DESIGNERS:
        assert form.status_code == 200 and b'value="edit-me"' in form.content
        assert b"As saved:" in form.content
        assert saved.status_code == 302
        assert draft.name == "Three-way test"
        assert list(draft.variants.order_by("id").values_list("key", "weight")) == [
            ("control", 1),
            ("short", 1),
            ("shorter", 2),
        ]
        assert [e.action for e in audit_since(mark)] == ["experiment.update"]
    else:
        assert form.status_code in (302, 403) and saved.status_code in (302, 403)
        assert state(draft) == before and audit_since(mark) == []


def test_the_edit_form_is_filled_from_the_draft_and_a_row_can_be_removed(client, staff):
    draft = make(staff.workspace, "filled", variants=[*VARIANTS[:1], {"key": "a"}, {"key": "b"}])
    client.force_login(staff.user("editor"))

    form = client.get(f"{ADMIN}/{draft.pk}/design/")
    data = form_data(
        staff.workspace,
        variants=[*VARIANTS[:1], {"key": "a", "weight": 1}, {"key": "b", "DELETE": True}],
        initial_variants=3,
        key="filled",
    )
    saved = client.post(f"{ADMIN}/{draft.pk}/design/", data)

    text = form.content.decode()
    assert 'name="variants-2-key"' in text and 'value="b"' in text
    assert 'value="unsubscribe" selected' in text
    assert saved.status_code == 302
    assert list(draft.variants.values_list("key", flat=True).order_by("id")) == ["control", "a"]


def test_a_started_experiments_design_is_read_only(client, staff):
    running = make(staff.workspace, "running-one", start=True)
    client.force_login(staff.user("owner"))
    before, mark = state(running), audit_mark()

    page = client.get(f"{ADMIN}/{running.pk}/change/")
    form = client.get(f"{ADMIN}/{running.pk}/design/", follow=True)
    posted = client.post(
        f"{ADMIN}/{running.pk}/design/", form_data(staff.workspace, key="running-one")
    )

    assert b'data-testid="experiment-design-link"' not in page.content
    assert b"has started: its design is fixed" in form.content
    assert posted.status_code == 302
    assert state(running) == before and audit_since(mark) == []


def bad_cases() -> list[tuple[str, dict[str, Any], str, str]]:
    """(case, changes to the form, field or section, the message shown)."""
    return [
        ("one variant", {"variants": [VARIANTS[0]], "initial_variants": 1}, "variants", "2"),
        (
            "two controls",
            {"variants": [VARIANTS[0], {**VARIANTS[1], "is_control": True}]},
            "variants",
            "Exactly one variant is the control",
        ),
        (
            "no control",
            {"variants": [{**VARIANTS[0], "is_control": False}, VARIANTS[1]]},
            "variants",
            "Exactly one variant is the control",
        ),
        (
            "same key twice",
            {"variants": [VARIANTS[0], {**VARIANTS[1], "key": "control"}]},
            "variants",
            "Each variant has its own key",
        ),
        (
            "config not JSON",
            {"variants": [VARIANTS[0], {**VARIANTS[1], "config": "{nope"}]},
            "variants-1-config",
            "Not valid JSON",
        ),
        (
            "config a list",
            {"variants": [VARIANTS[0], {**VARIANTS[1], "config": "[1, 2]"}]},
            "variants-1-config",
            "A JSON object",
        ),
        (
            "weight not a number",
            {"variants": [VARIANTS[0], {**VARIANTS[1], "weight": "abc"}]},
            "variants-1-weight",
            "Enter a whole number",
        ),
        (
            "weight too big",
            {"variants": [VARIANTS[0], {**VARIANTS[1], "weight": 10_001}]},
            "variants-1-weight",
            "less than or equal to 10000",
        ),
        (
            "memory ids not numbers",
            {"variants": [VARIANTS[0], {**VARIANTS[1], "memory_ids": "1, x"}]},
            "variants-1-memory_ids",
            "Comma-separated memory ids",
        ),
        (
            "unknown memory id",
            {"variants": [VARIANTS[0], {**VARIANTS[1], "memory_ids": "999999"}]},
            "variants",
            "A memory is not one of this workspace",
        ),
        (
            "unknown policy version",
            {"variants": [VARIANTS[0], {**VARIANTS[1], "policy_versions": "999999"}]},
            "variants-1-policy_versions",
            "Select a valid choice",
        ),
        (
            "another workspace's team",
            {"teams": "OTHER_TEAM"},
            "teams",
            "Select a valid choice",
        ),
        ("another workspace", {"workspace": "OTHER_WORKSPACE"}, "workspace", "valid choice"),
        ("bad key", {"key": "Not A Slug!"}, "key", "Enter a valid"),
        ("blank name", {"name": ""}, "name", "This field is required"),
        ("hypothesis too long", {"hypothesis": "x" * 10_001}, "hypothesis", "at most 10000"),
        ("unknown event", {"primary_event": "nope"}, "primary_event", "Select a valid choice"),
        ("window too long", {"primary_window_days": 366}, "primary_window_days", "365"),
        ("baseline not a number", {"baseline_rate": "lots"}, "baseline_rate", "Enter a number"),
        (
            "baseline plus effect beyond 1",
            {"baseline_rate": "0.95", "minimum_detectable_effect": "0.1"},
            "minimum_detectable_effect",
            "baseline + effect stays between 0 and 1",
        ),
        (
            "effect zero",
            {"minimum_detectable_effect": "0"},
            "minimum_detectable_effect",
            "Not zero",
        ),
        ("alpha too big", {"alpha": "0.7"}, "alpha", "Between 0 and 0.5"),
        ("power too small", {"power": "0.2"}, "power", "At least 0.5"),
        ("cap zero", {"exposure_cap": "0"}, "exposure_cap", "greater than or equal to 1"),
        ("segment not a slug", {"segments": "Big Fish!"}, "eligibility", "slugs"),
        (
            "guardrail without event",
            {"guards": [{"kind": "conversion", "event": "", "window_days": 14}]},
            "guardrails-0-event",
            "This field is required",
        ),
    ]


BAD = [case[0] for case in bad_cases()]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_shows_errors_on_the_form_and_stores_nothing(client, staff, case):
    [(_, changes, place, message)] = [c for c in bad_cases() if c[0] == case]
    changes = dict(changes)
    if changes.get("teams") == "OTHER_TEAM":
        changes["teams"] = TeamFactory(workspace=staff.other_workspace).pk
    if changes.get("workspace") == "OTHER_WORKSPACE":
        changes["workspace"] = staff.other_workspace.pk
    client.force_login(staff.user("editor"))
    before, mark = count(), audit_mark()

    page = client.post(f"{ADMIN}/add/", form_data(staff.workspace, **changes))

    assert page.status_code == 200, case
    assert count() == before and audit_since(mark) == []
    assert message in page.content.decode(), (case, place)
    assert _errors_at(page, place), (case, place)


def _errors_at(page: Any, place: str) -> list[str]:
    """The errors the page shows at a field (`name`, `variants-1-config`) or a section."""
    context = page.context
    form, variants, guardrails = context["form"], context["variants"], context["guardrails"]
    if place.startswith(("variants-", "guardrails-")):
        prefix, index, name = place.split("-", 2)
        formset = variants if prefix == "variants" else guardrails
        return list(formset.forms[int(index)].errors.get(name, []))
    if place == "variants":
        return [*variants.non_form_errors(), *context["section_errors"].get("variants", [])]
    if place == "eligibility":
        return [*form.errors.get("segments", []), *context["section_errors"].get(place, [])]
    return list(form.errors.get(place, []))


def test_a_key_already_used_is_an_error_on_the_key(client, staff):
    make(staff.workspace, "taken")
    client.force_login(staff.user("editor"))
    before = count()

    page = client.post(f"{ADMIN}/add/", form_data(staff.workspace, key="taken"))

    assert page.status_code == 200 and count() == before
    assert page.context["form"].errors["key"] == ["Already used in this workspace."]


def test_policy_versions_are_chosen_from_the_workspaces_versions(client, staff):
    ours = _version(staff.workspace)
    theirs = _version(staff.other_workspace)
    client.force_login(staff.user("editor"))
    variants = [VARIANTS[0], {**VARIANTS[1], "policy_versions": ours.pk}]

    form = client.get(f"{ADMIN}/add/")
    saved = client.post(f"{ADMIN}/add/", form_data(staff.workspace, variants=variants))
    refused = client.post(
        f"{ADMIN}/add/",
        form_data(
            staff.workspace,
            key="other-version",
            variants=[VARIANTS[0], {**VARIANTS[1], "policy_versions": theirs.pk}],
        ),
    )

    offered = dict(form.context["variants"].forms[0].fields["policy_versions"].choices)
    assert str(ours.pk) in offered and str(theirs.pk) not in offered
    assert f'<option value="{ours.pk}">first-mail v1 (#{ours.pk})</option>' in form.content.decode()
    assert saved.status_code == 302
    created = Experiment.objects.get(key="from-the-form")
    assert created.variants.get(key="short").policy_versions == [ours.pk]
    assert refused.status_code == 200 and not Experiment.objects.filter(key="other-version")
    assert ArtifactVersion.objects.filter(pk=theirs.pk).exists()


def _version(workspace: Any) -> ArtifactVersion:
    art = policy_services.policy_artifact_create(
        actor=SYSTEM, workspace=workspace, kind="prompt", name="first-mail"
    )
    return policy_services.policy_version_create(
        actor=SYSTEM,
        artifact=art,
        content={"template": "Write plainly.", "variables": []},
        message="v",
    )


def test_a_repeated_post_creates_one_experiment(client, staff):
    client.force_login(staff.user("editor"))
    data = form_data(staff.workspace)

    first = client.post(f"{ADMIN}/add/", data)
    second = client.post(f"{ADMIN}/add/", data)

    assert first.status_code == 302 and second.status_code == 200
    assert Experiment.objects.filter(key="from-the-form").count() == 1
    assert second.context["form"].errors["key"] == ["Already used in this workspace."]


def test_ten_variants_fit_and_an_eleventh_is_refused(client, staff):
    client.force_login(staff.user("editor"))
    ten = [VARIANTS[0], *({"key": f"t{i}", "weight": 1} for i in range(9))]

    saved = client.post(
        f"{ADMIN}/add/",
        form_data(staff.workspace, variants=ten, key="ten", extra_variants=0),
    )
    eleven = client.post(
        f"{ADMIN}/add/",
        form_data(
            staff.workspace,
            variants=[*ten, {"key": "t10", "weight": 1}],
            key="eleven",
            extra_variants=0,
        ),
    )

    assert saved.status_code == 302
    assert Experiment.objects.get(key="ten").variants.count() == 10
    assert eleven.status_code == 200 and not Experiment.objects.filter(key="eleven").exists()
    assert "Please submit at most 10 forms." in eleven.content.decode()


def test_the_design_page_reads_a_fixed_number_of_queries(
    client, staff, django_assert_max_num_queries
):
    draft = make(staff.workspace, "counted")
    client.force_login(staff.user("editor"))
    client.get(f"{ADMIN}/{draft.pk}/design/")

    with django_assert_max_num_queries(20):
        page = client.get(f"{ADMIN}/{draft.pk}/design/")

    assert page.status_code == 200


def test_a_form_sent_back_with_errors_shows_the_sample_size_of_its_power_inputs(client, staff):
    client.force_login(staff.user("editor"))

    page = client.post(f"{ADMIN}/add/", form_data(staff.workspace, name="", baseline_rate="0.1"))

    expected = sample_size_per_variant(baseline=0.1, mde=0.01, alpha=0.05, power=0.8)
    assert page.status_code == 200 and page.context["typed_sample_size"] == expected
    assert f"With these inputs: {expected} units per variant." in page.content.decode()
