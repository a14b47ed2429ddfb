from django.urls import path

from fulfillment import views

app_name = "fulfillment"

urlpatterns = [
    path("review/", views.review_queue, name="review-queue"),
    path("review/bulk/", views.review_bulk, name="review-bulk"),
    path("review/<int:order_id>/approve/", views.review_approve, name="review-approve"),
    path("review/<int:order_id>/reject/", views.review_reject, name="review-reject"),
    path("automation/orders/<int:order_id>/reprocess/", views.order_reprocess_view,
         name="reprocess"),
]
