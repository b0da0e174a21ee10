from django.urls import include, path
from rest_framework.routers import SimpleRouter

from apps.memories.api import views

router = SimpleRouter()
router.trailing_slash = "/?"  # /memories and /memories/ alike, as in apps.workspaces.api
router.register("memories", views.MemoryViewSet, basename="memory")
router.register("context", views.ContextViewSet, basename="context")
router.register("coaching", views.CoachingViewSet, basename="coaching")

urlpatterns = router.urls
urlpatterns += [path("", include("apps.memories.api.write_policy"))]
