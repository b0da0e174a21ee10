from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.core.api.errors import api_not_found
from apps.core.logins import admin_password_change
from apps.core.views import healthz

api_v1 = [
    path("", include("apps.workspaces.api.urls")),
    path("", include("apps.memories.api.urls")),
    path("", include("apps.reviews.api.urls")),
    path("", include("apps.policies.api.urls")),
    path("", include("apps.guardrails.api.urls")),
    path("", include("apps.signals.api.urls")),
    path("", include("apps.experiments.api.urls")),
    path("", include("apps.scorecards.api.urls")),
    path("", include("apps.datasets.api.urls")),
    path("", include("apps.evals.api.urls")),
]

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    # The admin's password change checks the old password through the sign-in lockout.
    path("admin/password_change/", admin_password_change),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/<path:rest>", api_not_found),
]

handler400 = "apps.core.api.errors.bad_request"
handler403 = "apps.core.views.permission_denied"
handler404 = "apps.core.views.page_not_found"
handler500 = "apps.core.api.errors.server_error"
