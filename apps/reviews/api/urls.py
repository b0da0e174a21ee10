from rest_framework.routers import SimpleRouter

from apps.reviews.api import views

router = SimpleRouter()
router.trailing_slash = "/?"
router.register("reviews", views.ReviewRequestViewSet, basename="review")

urlpatterns = router.urls
