"""The real recipient of an order, for waybills and labels only.

Some platforms (Taobao, Pinduoduo, Douyin, Youzan) send the recipient's name,
phone and street as ciphertext or masked values; the order stores what the
platform sent. Only a waybill or a label needs the real values, so shipping
asks here at that moment and never stores or logs the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from orderhub.models import Order


class NeedsPlatformDecryption(Exception):
    """The platform sent ciphertext and no decryption is configured for the channel."""

    message = _("The recipient's details are encrypted by the platform and need decrypting "
                "through the platform before a waybill can be printed.")

    def __str__(self):
        return str(self.message)


@dataclass(frozen=True)
class Recipient:
    name: str
    phone: str
    province: str
    city: str
    district: str
    street: str
    postcode: str
    country: str

    def __repr__(self):
        # Never let the real values reach a log line through a repr.
        return f"Recipient(province={self.province!r}, city={self.city!r})"


def real_recipient(order: Order) -> Recipient:
    """The recipient as the carrier must see it.

    Raises ``NeedsPlatformDecryption`` when the platform encrypted the values
    and the channel cannot decrypt them.
    """
    return Recipient(
        name=order.ship_name or order.buyer_name, phone=order.ship_phone or order.buyer_phone,
        province=order.ship_province, city=order.ship_city, district=order.ship_district,
        street=order.ship_street, postcode=order.ship_postcode, country=order.ship_country,
    )
