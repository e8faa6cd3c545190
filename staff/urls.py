from django.contrib.auth.views import LogoutView
from django.urls import path

from staff import campaign_views, views

app_name = "staff"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(next_page="staff:login"), name="logout"),
    path("workspace/", views.switch_workspace, name="switch_workspace"),
    path("inbox/", views.inbox_list, name="inbox"),
    path("inbox/<str:number>/<str:contact>/", views.conversation, name="conversation"),
    path("inbox/<str:number>/<str:contact>/thread/", views.conversation_thread, name="thread"),
    path("inbox/<str:number>/<str:contact>/estimate/", views.reply_estimate, name="estimate"),
    path("inbox/<str:number>/<str:contact>/reply/", views.reply, name="reply"),
    path("runs/", views.run_list, name="runs"),
    path("runs/<int:run_id>/", views.run_detail, name="run"),
    path("runs/<int:run_id>/replay/", views.run_replay_view, name="replay"),
    path("runs/<int:run_id>/cancel/", views.run_cancel_view, name="cancel"),
    path("campaigns/", campaign_views.campaign_list, name="campaigns"),
    path("campaigns/<int:campaign_id>/", campaign_views.campaign_detail, name="campaign"),
    path("campaigns/<int:campaign_id>/export.csv", campaign_views.campaign_export, name="campaign_export"),
    path(
        "campaigns/<int:campaign_id>/<str:operation>/",
        campaign_views.campaign_operate,
        name="campaign_operate",
    ),
]
