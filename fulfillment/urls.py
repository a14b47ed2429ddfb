from django.urls import path

from fulfillment import credit_views, views

app_name = "fulfillment"

urlpatterns = [
    path("review/", views.review_queue, name="review-queue"),
    path("review/bulk/", views.review_bulk, name="review-bulk"),
    path("review/<int:order_id>/approve/", views.review_approve, name="review-approve"),
    path("review/<int:order_id>/reject/", views.review_reject, name="review-reject"),
    path("review/credit/<int:customer_id>/", credit_views.credit_ledger, name="credit-ledger"),
    path("review/credit/<int:customer_id>/settle/", credit_views.credit_settle,
         name="credit-settle"),
    path("review/credit/<int:customer_id>/refund/", credit_views.credit_refund,
         name="credit-refund"),
    path("review/credit/<int:customer_id>/adjust/", credit_views.credit_adjust,
         name="credit-adjust"),
    path("automation/orders/<int:order_id>/reprocess/", views.order_reprocess_view,
         name="reprocess"),
]
