"""The policies API. Agents read their resolved bundle (`GET /agents/me/bundle`, with ETag),
check a draft against it (`POST /policies/check`), validate a skill call
(`POST /skills/{name}/validate`) and, with `policies:propose`, save new versions. People read,
define artifacts, save versions, move labels (production through the review queue) and roll
back."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.db.models import Prefetch, QuerySet
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, permissions, status
from rest_framework import serializers as drf_serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.schema import NON_BLANK_TEXT_PATTERN, TEXT_PATTERN
from apps.core.api.views import HasTokenScopes, IsAgent, IsPerson, ScopedViewSet
from apps.core.exceptions import NotFound, ValidationFailed
from apps.core.idempotency import idempotent
from apps.experiments import applying
from apps.experiments.api.applied import (
    UNIT_HELP,
    AppliedExperimentSerializer,
    UnitQuerySerializer,
)
from apps.experiments.services import MAX_UNIT
from apps.policies import selectors, services
from apps.policies.api import serializers as s
from apps.policies.models import Artifact, ArtifactVersion, Label
from apps.policies.rules import Draft
from apps.policies.services import LABEL_MAX, label_checked
from apps.reviews.api.views import token_scopes
from apps.workspaces.models import Agent
from apps.workspaces.roles import Action
from apps.workspaces.scopes import Scope

BUNDLE_CACHE_SECONDS = 600
MAX_ELIGIBILITY = 60
UNIT_PARAMS = ("unit_id", "channel", "segment")
UNIT_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_UNIT,
    "pattern": NON_BLANK_TEXT_PATTERN,
}
BUNDLE_RESPONSE = inline_serializer(
    "AgentBundle",
    {
        "agent": drf_serializers.IntegerField(),
        "label": drf_serializers.CharField(),
        "experiments": AppliedExperimentSerializer(
            many=True,
            required=False,
            help_text="With `unit_id` only: the experiments whose variant this read applied.",
        ),
        "artifacts": drf_serializers.ListField(
            child=drf_serializers.DictField(),
            help_text="Resolved artifacts: kind, name, version, content, source, overrides...",
        ),
    },
)
READ = Scope.POLICIES_READ.value
PROPOSE = Scope.POLICIES_PROPOSE.value


# What label_checked accepts, as the schema says it (a slug; no -- and no - or _ at the ends).
LABEL_SCHEMA = {"type": "string", "maxLength": LABEL_MAX, "pattern": "^[a-z0-9]+([-_][a-z0-9]+)*$"}
LABEL_IN_PATH = OpenApiParameter("label", LABEL_SCHEMA, OpenApiParameter.PATH)


def _label_param(request: Request) -> str:
    return label_checked(request.query_params.get("label", "production"))


class BundleView(APIView):
    """`GET /api/v1/agents/me/bundle[?label=staging]`: the calling agent's resolved artifacts."""

    # The agent's token is read with its workspace's label revision: a 304 is one query.
    token_joined = selectors.REVISION_WITH_TOKEN
    permission_classes = [permissions.IsAuthenticated, IsAgent, HasTokenScopes]
    required_scopes = {"get": [READ]}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "label", LABEL_SCHEMA, description="The label to resolve (production)."
            ),
            OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER),
            OpenApiParameter("unit_id", UNIT_SCHEMA, description=UNIT_HELP),
            *(
                OpenApiParameter(
                    name,
                    {"type": "string", "maxLength": MAX_ELIGIBILITY, "pattern": TEXT_PATTERN},
                    description=f"The {name} of this read (experiments' eligibility).",
                )
                for name in ("channel", "segment")
            ),
        ],
        responses={200: BUNDLE_RESPONSE, 304: None},
        description=(
            "Every policy pack, prompt and skill that applies to the calling agent under a label, "
            "resolved agent > team > workspace by kind and name: its version, content, content "
            "hash, where it came from (`source`) and what it overrides. Send the `ETag` back in "
            "`If-None-Match` to get `304 Not Modified` while nothing changed. With `unit_id`, "
            "the variants of the running experiments that apply to the unit replace the "
            "label's version of their artifacts (such entries name their `experiment` and "
            "`variant`; `experiments` lists every variant applied) and the ETag is the "
            "variants' own."
        ),
    )
    def get(self, request: Request) -> HttpResponse:
        agent = request.user
        if not isinstance(agent, Agent):  # IsAgent let it through: never
            raise NotFound("Agents only.")
        label = _label_param(request)
        etag = selectors.bundle_etag(agent, label, getattr(request.auth, "joined", None))
        unit = _unit_params(request)
        if unit is not None:
            return self._with_variants(request, agent, label, etag, unit)
        if etag in request.headers.get("If-None-Match", ""):
            return HttpResponse(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        # The rendered body is cached under its ETag: a label move changes the ETag, so a
        # cached body is never served for another state of the bundle.
        key = f"policies:bundle:{agent.pk}:{label}:{etag.strip(chr(34))}"
        body = cache.get(key)
        if body is None:
            body = selectors.agent_bundle_json(agent, label)
            cache.set(key, body, BUNDLE_CACHE_SECONDS)
        return HttpResponse(body, content_type="application/json", headers={"ETag": etag})

    def _with_variants(
        self, request: Request, agent: Agent, label: str, etag: str, unit: dict[str, str]
    ) -> HttpResponse:
        """A read for a unit: its variants assigned and applied (apps.experiments.applying);
        the ETag and the cached body are the applied variants' own."""
        variants = applying.policy_variants(agent=agent, **unit)
        etag = applying.etag_with_variants(etag, variants)
        if etag in request.headers.get("If-None-Match", ""):
            return HttpResponse(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        key = f"policies:bundle:{agent.pk}:{label}:{etag.strip(chr(34))}:unit"
        body = cache.get(key)
        if body is None:
            rows = applying.variant_version_rows(agent, variants.versions)
            body = selectors.agent_bundle_json(
                agent,
                label,
                replace=lambda label_rows: applying.replaced_rows(label_rows, rows),
                extra=lambda version: _served_by(variants, version),
                experiments=variants.experiments(),
            )
            cache.set(key, body, BUNDLE_CACHE_SECONDS)
        return HttpResponse(body, content_type="application/json", headers={"ETag": etag})


def _served_by(variants: applying.PolicyVariants, version: int) -> dict[str, Any]:
    served = variants.versions.get(version)
    if served is None:
        return {}
    return {"experiment": served.key, "variant": served.variant}


def _unit_params(request: Request) -> dict[str, str] | None:
    """`unit_id` (and `channel`, `segment`) of a bundle read for a unit, checked as the
    assign endpoint checks them; None without a unit."""
    params = request.query_params
    for name in ("unit_id", "channel", "segment"):
        if len(params.getlist(name)) > 1:
            raise ValidationFailed(f"{name}: give it once.", fields={name: ["Repeated."]})
    given = {name: params[name] for name in UNIT_PARAMS if name in params}
    if not given:
        return None
    data = UnitQuerySerializer(data=given)
    data.is_valid(raise_exception=True)
    return dict(data.validated_data) if "unit_id" in given else None


def _agent_for(request: Request, given: int | None) -> Agent:
    """Agents check against their own bundle; people name an agent they may see."""
    if isinstance(request.user, Agent):
        if given not in (None, request.user.pk):
            raise ValidationFailed("Agents check their own bundle.", fields={"agent": ["Omit."]})
        return request.user
    if given is None:
        raise ValidationFailed(
            "Name the agent whose bundle to use.", fields={"agent": ["Required."]}
        )
    found = Agent.objects.visible_to(request.user, Action.VIEW).filter(pk=given).first()
    if found is None:
        raise NotFound("Unknown agent, or not one you may see.")
    return found


class CheckView(APIView):
    permission_classes = [permissions.IsAuthenticated, HasTokenScopes]
    required_scopes = {"post": [READ]}
    extra_error_statuses = {"post": [404]}  # an `agent` the person may not see

    @extend_schema(
        request=s.CheckSerializer,
        responses={200: dict},
        description=(
            "Check a draft (text, channel, region, language, discount) against the rules of the "
            "caller's resolved policy packs (production unless `label` says otherwise). Returns "
            "every violation with the rule, the pack, its version, where it came from and the "
            "offending span; `ok` is true when there is none."
        ),
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = s.CheckSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        attrs = data.validated_data
        agent = _agent_for(request, attrs.get("agent"))
        draft = Draft(
            text=attrs["text"],
            channel=attrs["channel"],
            region=attrs["region"],
            language=attrs["language"],
            discount_percent=attrs["discount_percent"],
        )
        found = selectors.policy_check(agent, draft, label_checked(attrs["label"]))
        return Response(
            {
                "ok": not found,
                "violations": [
                    {
                        "rule": v.rule,
                        "message": v.message,
                        "pack": v.pack,
                        "artifact": v.artifact,
                        "version": v.version,
                        "source": v.source,
                        "span": list(v.span) if v.span else None,
                        "excerpt": v.excerpt,
                    }
                    for v in found
                ],
            }
        )


class SkillValidateView(APIView):
    permission_classes = [permissions.IsAuthenticated, HasTokenScopes]
    required_scopes = {"post": [READ]}

    @extend_schema(
        request=s.SkillValidateSerializer,
        responses={200: dict},
        description=(
            "Validate a skill call's `arguments` against the resolved skill's input schema and "
            "its `result` against the output schema. 404 when no such skill applies."
        ),
    )
    @idempotent
    def post(self, request: Request, name: str) -> Response:
        data = s.SkillValidateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        attrs = data.validated_data
        agent = _agent_for(request, attrs.get("agent"))
        entry, errors = selectors.skill_validate(
            agent,
            name,
            arguments=attrs.get("arguments", ...),
            result=attrs.get("result", ...),
            label=label_checked(attrs["label"]),
        )
        return Response(
            {"valid": not errors, "skill": name, "version": entry.version, "errors": errors}
        )


class ArtifactViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Artifacts you may see, with their labels; versions, label history, moves, rollback."""

    serializer_class = s.ArtifactSerializer
    required_scopes = {
        "list": [READ],
        "retrieve": [READ],
        "versions": [READ],
        "create_version": [READ],
        "history": [READ],
    }
    person_only = ("create", "move", "rollback")

    def get_permissions(self) -> Any:
        if self.action in self.person_only:
            return [permissions.IsAuthenticated(), IsPerson(), HasTokenScopes()]
        return super().get_permissions()

    def scoped_queryset(self) -> QuerySet[Any]:
        labels = Prefetch(
            "labels",
            queryset=Label.objects.select_related("version").only(
                "artifact_id", "name", "version__number"
            ),
        )
        return (
            Artifact.objects.visible_to(self.principal, Action.VIEW)
            .prefetch_related(labels)
            .order_by("kind", "name", "id")
        )

    @extend_schema(request=s.ArtifactCreateSerializer, responses={201: s.ArtifactSerializer})
    @idempotent
    def create(self, request: Request) -> Response:
        data = s.ArtifactCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        created = services.policy_artifact_create(actor=self.principal, **data.validated_data)
        return Response(s.ArtifactSerializer(created).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={200: s.VersionSerializer(many=True)},
        description="Every version, newest first.",
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def versions(self, request: Request, pk: str | None = None) -> Response:
        artifact = self.get_object()
        rows = ArtifactVersion.objects.filter(artifact=artifact).order_by("-number")[:200]
        return Response(s.VersionSerializer(rows, many=True).data)

    @extend_schema(
        request=s.VersionCreateSerializer,
        responses={201: s.VersionSerializer},
        description=(
            "Save a new version (versions never change). People with the edit role; agents "
            "with the `policies:propose` scope, for artifacts that apply to them."
        ),
    )
    @versions.mapping.post
    @idempotent
    def create_version(self, request: Request, pk: str | None = None) -> Response:
        artifact = self.get_object()
        data = s.VersionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.policy_version_create(
            actor=self.principal,
            artifact=artifact,
            token_scopes=token_scopes(request),
            **data.validated_data,
        )
        return Response(s.VersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: s.LabelEventSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def history(self, request: Request, pk: str | None = None) -> Response:
        """Every label move of the artifact, newest first: before/after version, how, who."""
        artifact = self.get_object()
        rows = selectors.label_history(artifact.pk)[:500]
        return Response(s.LabelEventSerializer(rows, many=True).data)

    @extend_schema(
        methods=["POST"],
        request=s.LabelMoveSerializer,
        responses={200: dict, 202: dict},
        description=(
            "Point a label at a version. An unprotected label moves now (200); `production` "
            "and the workspace's protected labels open a review request (202) and move when it "
            "is approved."
        ),
    )
    @extend_schema(parameters=[LABEL_IN_PATH])
    @extend_schema(
        methods=["DELETE"],
        request=None,
        responses={204: None},
        description=(
            "Remove an unprotected label (agents resolving it fall back to the next partition). "
            "`production` and protected labels are moved, never removed (409)."
        ),
    )
    @action(detail=True, methods=["post", "delete"], url_path=r"labels/(?P<label>[^/]+)")
    @idempotent
    def move(self, request: Request, pk: str | None = None, label: str = "") -> Response:
        artifact = self.get_object()
        if request.method == "DELETE":
            services.policy_label_remove(actor=self.principal, artifact=artifact, label=label)
            return Response(status=status.HTTP_204_NO_CONTENT)
        data = s.LabelMoveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.policy_label_move(
            actor=self.principal, artifact=artifact, label=label, **data.validated_data
        )
        if result.request is not None:
            body = {"outcome": "requested", "review_request": result.request.pk, "label": label}
            return Response(body, status=status.HTTP_202_ACCEPTED)
        moved = result.label.version_id if result.label is not None else None
        body = {"outcome": "moved", "label": label, "version": moved}
        return Response(body)

    @extend_schema(
        request=s.LabelMoveSerializer,
        responses={200: dict},
        description=(
            "Move a label back to a version it held before, at once and without a new review; "
            "reviewers and admins. A version the label never held is 409."
        ),
    )
    @extend_schema(parameters=[LABEL_IN_PATH])
    @action(detail=True, methods=["post"], url_path=r"labels/(?P<label>[^/]+)/rollback")
    @idempotent
    def rollback(self, request: Request, pk: str | None = None, label: str = "") -> Response:
        artifact = self.get_object()
        data = s.LabelMoveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        moved = services.policy_label_rollback(
            actor=self.principal, artifact=artifact, label=label, **data.validated_data
        )
        return Response({"outcome": "rolled_back", "label": label, "version": moved.version_id})


class VersionViewSet(ScopedViewSet, mixins.RetrieveModelMixin):
    """`GET /policies/versions/{id}`: one version. There is no PUT, PATCH or DELETE: a saved
    version never changes (405)."""

    serializer_class = s.VersionSerializer
    required_scopes = {"retrieve": [READ]}

    def scoped_queryset(self) -> QuerySet[Any]:
        return ArtifactVersion.objects.visible_to(self.principal, Action.VIEW)
