from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.evals.api import views

router = SimpleRouter()
router.trailing_slash = "/?"
router.register("eval-sets", views.EvalSetViewSet, basename="eval-set")
router.register("eval-runs", views.EvalRunViewSet, basename="eval-run")

urlpatterns = [
    *router.urls,
    path("eval-settings", views.EvalSettingsView.as_view(), name="eval-settings"),
]
