from django.urls import path

from webhooks import sandbox

urlpatterns = [
    # Unnamed like the other sandbox APIs: public by its sandbox/ prefix (orderhub/access.py).
    path("sandbox/webhooks/receiver/", sandbox.receiver),
]
