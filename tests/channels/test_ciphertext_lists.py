"""Lists never show a platform's ciphertext either (the order list, the review queue)."""

import pytest
from django.urls import reverse

from channels.models import Channel
from channels.recipient import masked_any
from orderhub.models import OrderStatus as S

pytestmark = pytest.mark.django_db

YOUZAN_NAME = "$QmFzZTY0Q2lwaGVydGV4dA==$1$"
PDD_NAME = "~AgAAAAbc123XYZ~0~"


@pytest.mark.parametrize(("value", "shown"), [
    (YOUZAN_NAME, "***"),
    (PDD_NAME, "***"),
    ("#ZmFrZWRvdXlpbg==#1##", "***"),
    ("花木街道 ~AgAAAAbc123XYZ~1~~", "花木街道 ***"),
    ("张*", "张*"),
    ("王伟", "王伟"),
    ("$5 off (promo)", "$5 off (promo)"),
])
def test_any_platforms_ciphertext_is_masked(value, shown):
    assert masked_any(value) == shown


def test_order_list_and_review_queue_show_no_ciphertext(client, make_user, make_order):
    # given a Youzan order whose buyer name came encrypted, waiting in review
    channel = Channel.objects.create(code="yz", name="Youzan", platform="youzan")
    order = make_order(S.REVIEW, channel=channel, buyer_name=YOUZAN_NAME)
    client.force_login(make_user("ops"))
    # when ops open the order list and the review queue
    listing = client.get(reverse("orders:list")).content.decode()
    queue = client.get(reverse("fulfillment:review-queue")).content.decode()
    # then neither carries the ciphertext
    for html in (listing, queue):
        assert order.number in html
        assert "QmFzZTY0Q2lwaGVydGV4dA" not in html
