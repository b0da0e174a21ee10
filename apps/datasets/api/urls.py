from rest_framework.routers import SimpleRouter

from apps.datasets.api import views

router = SimpleRouter()
router.trailing_slash = "/?"
router.register("datasets", views.DatasetViewSet, basename="dataset")

urlpatterns = router.urls
