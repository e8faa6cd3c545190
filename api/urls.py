from django.urls import include, path, re_path
from rest_framework.routers import SimpleRouter

from api import views

app_name = "api"

router = SimpleRouter(trailing_slash=False)
router.register("workspaces", views.WorkspaceViewSet, basename="workspace")
router.register("connections", views.ConnectionViewSet, basename="connection")
router.register("workflows", views.WorkflowViewSet, basename="workflow")
router.register("runs", views.RunViewSet, basename="run")
router.register("triggers", views.TriggerViewSet, basename="trigger")
router.register("events", views.EventViewSet, basename="event")
router.register("phone-numbers", views.PhoneNumberViewSet, basename="phone-number")
router.register("actions", views.ActionViewSet, basename="action")
router.register("consent", views.ConsentViewSet, basename="consent")
router.register("campaigns", views.CampaignViewSet, basename="campaign")
router.register("voice-agents", views.VoiceAgentViewSet, basename="voice-agent")
router.register("llm-connections", views.LlmConnectionViewSet, basename="llm-connection")
router.register("call-sessions", views.CallSessionViewSet, basename="call-session")

urlpatterns = [
    path("", include(router.urls)),
    re_path(r"^(?P<path>.*)$", views.api_not_found),
]
