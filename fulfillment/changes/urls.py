from django.urls import path

from fulfillment.changes import views

app_name = "changes"

urlpatterns = [
    path("changes/", views.change_list, name="list"),
    path("changes/<int:change_id>/", views.change_detail, name="detail"),
    path("changes/<int:change_id>/decide/", views.change_decide, name="decide"),
    path("changes/<int:change_id>/withdraw/", views.change_withdraw, name="withdraw"),
    path("changes/new/<int:order_id>/", views.change_new, name="new"),
]
