from django.urls import path

from channels import views

urlpatterns = [
    path("<slug:channel_code>/", views.webhook, name="channel-webhook"),
]
