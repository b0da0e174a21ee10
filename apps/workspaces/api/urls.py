from rest_framework.routers import SimpleRouter

from apps.workspaces.api import views

router = SimpleRouter()
router.trailing_slash = "/?"  # agents may call /agents/me or /agents/me/
router.register("workspaces", views.WorkspaceViewSet, basename="workspace")
router.register("teams", views.TeamViewSet, basename="team")
router.register("memberships", views.MembershipViewSet, basename="membership")
router.register("agents", views.AgentViewSet, basename="agent")
router.register("tokens", views.AgentTokenViewSet, basename="agent-token")

urlpatterns = router.urls
