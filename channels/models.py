from django.db import models
from django.utils.translation import gettext_lazy as _


class Channel(models.Model):
    """A sales channel: one store or account on one platform.

    The Channels issue adds credentials, cursors and health; the order core only
    needs to point at a channel and show its name.
    """

    class Platform(models.TextChoices):
        SHOPIFY = "shopify", "Shopify"
        WOOCOMMERCE = "woocommerce", "WooCommerce"
        AMAZON = "amazon", "Amazon"
        TAOBAO = "taobao", _("Taobao / Tmall")
        JD = "jd", _("JD")
        PINDUODUO = "pinduoduo", _("Pinduoduo")
        DOUYIN = "douyin", _("Douyin shop")
        YOUZAN = "youzan", _("Youzan")
        CSV = "csv", _("CSV / Excel file")
        MANUAL = "manual", _("Manual entry")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    platform = models.CharField(_("platform"), max_length=20, choices=Platform.choices)
    enabled = models.BooleanField(_("enabled"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("channel")
        verbose_name_plural = _("channels")

    def __str__(self):
        return self.name
