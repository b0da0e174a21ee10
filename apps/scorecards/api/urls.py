from rest_framework.routers import SimpleRouter

from apps.scorecards.api import views

router = SimpleRouter()
router.trailing_slash = "/?"
router.register("scorecards", views.ScorecardViewSet, basename="scorecard")

urlpatterns = router.urls
