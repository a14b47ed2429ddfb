from django.urls import path

from channels import views

app_name = "channels"

urlpatterns = [
    path("", views.health, name="health"),
    path("<int:channel_id>/poll/", views.poll_now, name="poll"),
    path("<int:channel_id>/pause/", views.pause, name="pause"),
    path("<int:channel_id>/resume/", views.resume, name="resume"),
    path("<int:channel_id>/upload/", views.upload, name="upload"),
    path("<int:channel_id>/replay/", views.replay_all, name="replay_all"),
    path("problems/", views.problems, name="problems"),
    path("problems/<int:raw_id>/", views.problem_detail, name="problem"),
    path("problems/<int:raw_id>/replay/", views.replay, name="replay"),
    path("legacy/", views.legacy_orders, name="legacy"),
]
