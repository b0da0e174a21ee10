from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.guardrails.api import views

router = SimpleRouter()
router.trailing_slash = "/?"
router.register("guardrails/kill-switches", views.KillSwitchViewSet, basename="guardrail-switch")
router.register("guardrails/limits", views.LimitsViewSet, basename="guardrail-limits")
router.register(
    "guardrails/suppressions", views.SuppressionViewSet, basename="guardrail-suppression"
)
router.register("guardrails/trips", views.TripViewSet, basename="guardrail-trip")
router.register(
    "guardrails/circuit-breakers", views.CircuitBreakerViewSet, basename="guardrail-breaker"
)
router.register(
    "guardrails/breaker-trips", views.BreakerTripViewSet, basename="guardrail-breaker-trip"
)
router.register(
    "guardrails/reservations", views.ReservationViewSet, basename="guardrail-reservation"
)

urlpatterns = [
    path("guardrails/check", views.CheckView.as_view(), name="guardrail-check"),
    path("guardrails/check/", views.CheckView.as_view()),
    path("guardrails/commit", views.CommitView.as_view(), name="guardrail-commit"),
    path("guardrails/commit/", views.CommitView.as_view()),
    path("guardrails/release", views.ReleaseView.as_view(), name="guardrail-release"),
    path("guardrails/release/", views.ReleaseView.as_view()),
    *router.urls,
]
