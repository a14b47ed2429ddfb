from django.urls import path

from fulfillment.notifications import sandbox, views

app_name = "notifications"

urlpatterns = [
    path("messages/", views.message_log, name="log"),
    path("messages/<int:message_id>/", views.message_detail, name="detail"),
    path("messages/<int:message_id>/resend/", views.message_resend, name="resend"),
    # Sandbox gateways (404 unless settings.SANDBOX_ENABLED).
    path("sandbox/notify/aliyun/", sandbox.aliyun_sms, name="sandbox-aliyun"),
    path("sandbox/notify/wecom/", sandbox.wecom_robot, name="sandbox-wecom"),
    path("sandbox/notify/dingtalk/", sandbox.dingtalk_robot, name="sandbox-dingtalk"),
    path("sandbox/notify/sms/", sandbox.http_sms, name="sandbox-sms"),
]
