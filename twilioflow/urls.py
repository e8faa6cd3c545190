from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from api.docs import OfflineRedocView, OfflineSwaggerView
from twilioflow.core.views import healthz

admin.site.site_header = "TwilioFlow"
admin.site.site_title = "TwilioFlow"
admin.site.index_title = "Workspaces, connections and workflows"
# "View site" goes to the staff pages' dashboard.
admin.site.site_url = "/"

# Apps and their models in the order a new user needs them (the index's "Getting started"),
# not alphabetically: workspace → connection → numbers → workflow → trigger → events, runs.
APP_ORDER = ["workspaces", "connections", "triggers", "workflows"]
MODEL_ORDER = {
    "triggers": ["PhoneNumber", "Trigger", "TriggerEvent"],
    "workflows": ["Workflow", "Run"],
}
_alphabetical_app_list = admin.site.get_app_list


def _app_list_in_flow_order(request, app_label=None):
    apps = _alphabetical_app_list(request, app_label)
    rank = {label: i for i, label in enumerate(APP_ORDER)}
    apps.sort(key=lambda app: (rank.get(app["app_label"], len(APP_ORDER)), app["name"].lower()))
    for app in apps:
        order = MODEL_ORDER.get(app["app_label"])
        if order:
            app["models"].sort(
                key=lambda m: order.index(m["object_name"]) if m["object_name"] in order else len(order)
            )
    return apps


admin.site.get_app_list = _app_list_in_flow_order  # type: ignore[method-assign]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", OfflineSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", OfflineRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("api/v1/", include("api.urls")),
    path("", include("triggers.urls")),
    path("", include("voice.urls")),
    path("", include("staff.urls")),
]
