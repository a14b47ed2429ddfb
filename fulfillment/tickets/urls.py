from django.urls import path

from fulfillment.tickets import views

app_name = "tickets"

urlpatterns = [
    path("tickets/", views.queue, name="queue"),
    path("tickets/new/", views.create, name="create"),
    path("tickets/<int:ticket_id>/", views.detail, name="detail"),
    path("tickets/<int:ticket_id>/assign-me/", views.assign_me, name="assign-me"),
    path("tickets/<int:ticket_id>/assign/", views.assign, name="assign"),
    path("tickets/<int:ticket_id>/status/", views.set_status, name="status"),
    path("tickets/<int:ticket_id>/comment/", views.comment, name="comment"),
]
