from rest_framework.routers import SimpleRouter

from apps.signals.api import views

router = SimpleRouter()
router.trailing_slash = "/?"
router.register("traces", views.TraceViewSet, basename="trace")
router.register("feedback", views.FeedbackViewSet, basename="feedback")
router.register("outcomes", views.OutcomeViewSet, basename="outcome")

urlpatterns = router.urls
