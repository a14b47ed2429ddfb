from django.urls import path

from orderhub.views import new_order, orders

app_name = "orders"

urlpatterns = [
    path("", orders.order_list, name="list"),
    path("new/", new_order.new_order, name="new"),
    path("new/customer/", new_order.customer_lookup, name="new-customer"),
    path("new/skus/", new_order.sku_search_view, name="new-skus"),
    path("<int:order_id>/", orders.order_detail, name="detail"),
    path("<int:order_id>/transition/", orders.order_transition_view, name="transition"),
    path("<int:order_id>/note/", orders.order_note_view, name="note"),
]
