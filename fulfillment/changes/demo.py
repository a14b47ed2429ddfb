"""Demo data for change requests: the two approver logins and one pending request.

Idempotent: users are get_or_create'd, and the pending request is filed only
when no demo request exists yet.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from fulfillment.changes.models import ChangeRequest
from fulfillment.changes.services import ChangeRequestError, change_request_create
from orderhub.models import Order, OrderStatus

# username, password (public by design, like seed_demo's USERS), group
USERS = [
    ("sales_manager", "sales_manager-demo", "sales_manager"),
    ("warehouse_manager", "warehouse_manager-demo", "warehouse_manager"),
]
DEMO_REASON = "Buyer asked to deliver to the office instead (demo)"


def _users() -> None:
    User = get_user_model()
    for username, password, group in USERS:
        user, new = User.objects.get_or_create(
            username=username, defaults={"email": f"{username}@orderhub.example"})
        if new:
            user.set_password(password)
            user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=group))


def seed(stdout) -> None:
    _users()
    if ChangeRequest.objects.filter(reason=DEMO_REASON).exists():
        stdout.write("Change requests: demo request already there.")
        return
    requester = get_user_model().objects.filter(username="ops").first()
    busy = ChangeRequest.objects.filter(status__in=ChangeRequest.OPEN).values("order_id")
    order = (Order.objects.filter(status__in=[OrderStatus.PICKING, OrderStatus.PICKED],
                                  ship_country="CN")
             .exclude(pk__in=busy).order_by("pk").first())
    if requester is None or order is None:
        stdout.write("Change requests: no ops user or no order in picking; no demo request.")
        return
    try:
        change = change_request_create(
            order=order, actor=requester, reason=DEMO_REASON,
            proposed={"fields": {"ship_street": "科苑南路2666号 中国华润大厦18楼",
                                 "ship_district": "南山区", "ship_city": "深圳市",
                                 "ship_province": "广东省", "ship_postcode": "518052"},
                      "note": "Office reception accepts parcels 9:00-18:00"},
        )
    except ChangeRequestError as exc:
        stdout.write(f"Change requests: demo request not filed ({exc.message}).")
        return
    stdout.write(f"Change requests: demo request #{change.pk} on {order.number} waits for "
                 "sales_manager / warehouse_manager / finance.")
    for username, password, _group in USERS:
        stdout.write(f"  {username:<18} {password}")
