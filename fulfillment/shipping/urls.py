from django.urls import path

from fulfillment.shipping import sandbox, views

app_name = "shipping"

urlpatterns = [
    path("shipping/", views.waybills, name="waybills"),
    path("shipping/waybills/<int:waybill_id>/retry/", views.retry, name="retry"),
    path("shipping/waybills/<int:waybill_id>/label.pdf", views.label, name="label"),
    path("shipping/picklists/<int:pick_list_id>/labels.pdf", views.wave_labels_pdf,
         name="wave-labels"),
    path("shipping/orders/<int:order_id>/tracking/", views.enter_tracking,
         name="enter-tracking"),
    path("shipping/kuaidi100/callback/<slug:account_code>/", views.kuaidi100_callback,
         name="kuaidi100-callback"),
    path("track/", views.track, name="track"),
    # Sandbox carrier APIs for the demo (404 unless settings.SANDBOX_ENABLED).
    path("sandbox/carriers/sf/std/service", sandbox.sf_service, name="sandbox-sf"),
    path("sandbox/carriers/kuaidi100/label/order", sandbox.kuaidi100_label,
         name="sandbox-kuaidi100-label"),
    path("sandbox/carriers/kuaidi100/label/image/<slug:number>.png",
         sandbox.kuaidi100_label_image, name="sandbox-kuaidi100-label-image"),
    path("sandbox/carriers/kuaidi100/poll/query.do", sandbox.kuaidi100_query,
         name="sandbox-kuaidi100-query"),
    path("sandbox/carriers/kuaidi100/poll", sandbox.kuaidi100_subscribe,
         name="sandbox-kuaidi100-subscribe"),
]
