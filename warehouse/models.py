from django.db import models
from django.utils.translation import gettext_lazy as _


class Warehouse(models.Model):
    """A place stock is kept and orders are picked from.

    The Warehouse issue adds service regions, bins and stock.
    """

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    address = models.CharField(_("address"), max_length=255, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("warehouse")
        verbose_name_plural = _("warehouses")

    def __str__(self):
        return self.name
