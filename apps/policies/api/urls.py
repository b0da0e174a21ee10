from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.policies.api import views

router = SimpleRouter()
router.trailing_slash = "/?"
router.register("policies/artifacts", views.ArtifactViewSet, basename="policy-artifact")
router.register("policies/versions", views.VersionViewSet, basename="policy-version")

urlpatterns = [
    path("agents/me/bundle", views.BundleView.as_view(), name="agent-bundle"),
    path("agents/me/bundle/", views.BundleView.as_view()),
    path("policies/check", views.CheckView.as_view(), name="policy-check"),
    path("policies/check/", views.CheckView.as_view()),
    path("skills/<slug:name>/validate", views.SkillValidateView.as_view(), name="skill-validate"),
    path("skills/<slug:name>/validate/", views.SkillValidateView.as_view()),
    *router.urls,
]
