from django.urls import path

from orderhub.views import orders

app_name = "orders"

urlpatterns = [
    path("", orders.order_list, name="list"),
    path("<int:order_id>/", orders.order_detail, name="detail"),
    path("<int:order_id>/transition/", orders.order_transition_view, name="transition"),
    path("<int:order_id>/note/", orders.order_note_view, name="note"),
]
