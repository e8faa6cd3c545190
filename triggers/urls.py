from django.urls import path

from triggers.apis import TwilioGatherApi, TwilioWebhookApi

app_name = "triggers"

urlpatterns = [
    path("hooks/twilio/<uuid:public_id>/voice/gather/<int:run_id>", TwilioGatherApi.as_view(), name="gather"),
    path(
        "hooks/twilio/<uuid:public_id>/webhook/<uuid:trigger_id>",
        TwilioWebhookApi.as_view(),
        {"purpose": "webhook"},
        name="generic",
    ),
    path("hooks/twilio/<uuid:public_id>/<str:purpose>", TwilioWebhookApi.as_view(), name="webhook"),
]
