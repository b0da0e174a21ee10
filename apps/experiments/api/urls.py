from rest_framework.routers import SimpleRouter

from apps.experiments.api import views

router = SimpleRouter()
router.trailing_slash = "/?"
router.register("experiments", views.ExperimentViewSet, basename="experiment")

urlpatterns = router.urls
