"""Admin → API tokens: the secret is shown once after creation, only its hash is kept,
and revoking refuses the token from the next request."""

from __future__ import annotations

import re

from django.contrib.auth.models import User

from api.models import ApiToken


def test_create_shows_the_secret_once_and_revoke_refuses_it(client, make_user, api_as):
    admin = make_user("admin")
    User.objects.filter(pk=admin.pk).update(is_superuser=True, is_staff=True)
    erp = make_user("finance", username="kingdee-erp")
    client.force_login(User.objects.get(pk=admin.pk))
    response = client.post("/admin/api/apitoken/add/", {
        "name": "Kingdee ERP", "system": "erp", "user": erp.pk, "scope": "read",
        "rate_limit": "0"})
    assert response.status_code == 200
    page = response.content.decode()
    secret = re.search(r"(oh_[0-9a-f]{8}_[\w-]+)", page).group(1)
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get()
    assert token.created_by_id == admin.pk and token.user == erp
    assert secret not in str(ApiToken.objects.filter(pk=token.pk).values().get())
    # Never shown again: the change page has the prefix only.
    change = client.get(f"/admin/api/apitoken/{token.pk}/change/").content.decode()
    assert token.prefix in change and secret not in change
    assert api_as(secret).get("/orders").status_code == 200

    client.post("/admin/api/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert api_as(secret).get("/orders").status_code == 401
