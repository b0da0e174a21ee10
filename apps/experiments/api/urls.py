from rest_framework.routers import SimpleRouter

from apps.experiments.api import promotion, views

router = SimpleRouter()
router.trailing_slash = "/?"
router.register("experiments", views.ExperimentViewSet, basename="experiment")

urlpatterns = promotion.urlpatterns + router.urls
