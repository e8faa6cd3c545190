from django.urls import path

from voice.apis import LiveCallApi

app_name = "voice"

urlpatterns = [
    path("hooks/twilio/<uuid:public_id>/voice/live/<uuid:session_id>", LiveCallApi.as_view(), name="live"),
]
