from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from twilioflow.core.views import healthz

admin.site.site_header = "TwilioFlow"
admin.site.site_title = "TwilioFlow"
admin.site.index_title = "Workspaces, connections and workflows"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("triggers.urls")),
]
