"""Warehouse: catalogue, warehouses and bins, the stock ledger, reservations,
pick lists and pick tasks.

Stock numbers change only through ``warehouse.services.stock``: every change
writes one ``StockMovement`` row and applies the same deltas to the matching
``StockLevel`` row with ``F()`` arithmetic, so the levels always equal the sum
of the ledger (``manage.py check_stock`` proves it).

One module (~630 lines) because Django finds an app's models here and the
models reference each other closely (SKU, levels, ledger, reservations, pick
lists, tasks, pack checks); each model is short.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orderhub.crypto import EncryptedSecret


class Warehouse(models.Model):
    """A place stock is kept and orders are picked from."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    address = models.CharField(_("address"), max_length=255, blank=True)
    active = models.BooleanField(_("active"), default=True)
    # Provinces or "province/city" pairs, in the same spelling orders use
    # (``上海市``, ``江苏省/南京市``). Empty means the warehouse serves everywhere.
    service_regions = models.JSONField(
        _("service regions"), default=list, blank=True,
        help_text=_("Provinces or province/city pairs, e.g. 上海市 or 江苏省/南京市."),
    )
    cold_chain = models.BooleanField(_("cold-chain capable"), default=False)
    purchasing_contact_name = models.CharField(_("purchasing contact"), max_length=120, blank=True)
    purchasing_contact_phone = models.CharField(
        _("purchasing contact phone"), max_length=32, blank=True
    )
    purchasing_contact_email = models.EmailField(_("purchasing contact e-mail"), blank=True)
    stock_synced_at = models.DateTimeField(_("stock synced"), null=True, blank=True, editable=False)
    stock_stale_since = models.DateTimeField(
        _("stock stale since"), null=True, blank=True, editable=False
    )
    stock_sync_error = models.CharField(
        _("last stock sync error"), max_length=500, blank=True, editable=False
    )
    presale_lead_days = models.PositiveSmallIntegerField(
        _("presale lead time (days)"), null=True, blank=True,
        help_text=_("Presale orders from this warehouse enter picking this many days before "
                    "their promised ship date. Empty: the PRESALE_LEAD_DAYS setting."),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("warehouse")
        verbose_name_plural = _("warehouses")
        permissions = [
            ("adjust_stock", _("Can adjust stock and upload stock counts")),
            ("print_picklist", _("Can print pick lists and seal labels")),
            ("scan_pick", _("Can use the scanning screen")),
            ("view_warehouse_dashboard", _("Can view the warehouse dashboard")),
            ("pack_verify", _("Can verify orders at the packing bench")),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        if not isinstance(self.service_regions, list) or not all(
            isinstance(r, str) and r.strip() for r in self.service_regions
        ):
            raise ValidationError(
                {"service_regions": _("Give a list of province or province/city names.")}
            )

    def serves(self, province: str, city: str = "") -> bool:
        if not self.service_regions:
            return True
        for region in self.service_regions:
            reg_province, _sep, reg_city = region.partition("/")
            if reg_province == province and (not reg_city or reg_city == city):
                return True
        return False

    @property
    def purchasing_contact(self) -> dict:
        return {
            "name": self.purchasing_contact_name,
            "phone": self.purchasing_contact_phone,
            "email": self.purchasing_contact_email,
        }


class SKU(models.Model):
    class Kind(models.TextChoices):
        SIMPLE = "simple", _("Single item")
        KIT = "kit", _("Kit / bundle")

    code = models.CharField(_("code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=255)
    category = models.CharField(_("category"), max_length=80, blank=True, db_index=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.SIMPLE)
    is_gift = models.BooleanField(
        _("gift"), default=False, help_text=_("A promotional item; pick lists mark it as a gift.")
    )
    weight_g = models.PositiveIntegerField(_("weight (g)"), null=True, blank=True)
    volume_cm3 = models.PositiveIntegerField(_("volume (cm³)"), null=True, blank=True)
    cold_chain = models.BooleanField(_("cold chain"), default=False)
    fragile = models.BooleanField(_("fragile"), default=False)
    attributes = models.JSONField(_("other attributes"), default=dict, blank=True)
    stop_selling_at_safety = models.BooleanField(
        _("stop selling at safety level"), default=False,
        help_text=_("Never reserve the safety stock of this SKU."),
    )
    active = models.BooleanField(_("active"), default=True)
    presale_ship_date = models.DateField(
        _("presale ship date"), null=True, blank=True,
        help_text=_("Presale SKUs: the date orders for it are promised to ship. Presale "
                    "orders wait in the deferred queue until shortly before it."),
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("SKU")
        verbose_name_plural = _("SKUs")

    def __str__(self):
        return f"{self.code} {self.name}"

    @property
    def is_kit(self) -> bool:
        return self.kind == self.Kind.KIT


class Barcode(models.Model):
    class Kind(models.TextChoices):
        EAN13 = "ean13", "EAN-13"
        UPC = "upc", "UPC-A"
        INTERNAL = "internal", _("Internal")
        OTHER = "other", _("Other")

    code = models.CharField(_("barcode"), max_length=64, unique=True)
    sku = models.ForeignKey(SKU, on_delete=models.CASCADE, related_name="barcodes")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.EAN13)

    class Meta:
        ordering = ["sku", "code"]
        verbose_name = _("barcode")
        verbose_name_plural = _("barcodes")

    def __str__(self):
        return self.code

    def clean(self):
        super().clean()
        self.code = (self.code or "").strip()
        if self.code and SKU.objects.filter(code=self.code).exclude(pk=self.sku_id).exists():
            raise ValidationError({"code": _("This is another SKU's code.")})


class KitComponent(models.Model):
    kit = models.ForeignKey(SKU, on_delete=models.CASCADE, related_name="components")
    component = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="used_in_kits")
    quantity = models.PositiveIntegerField(
        _("quantity"), default=1, validators=[MinValueValidator(1)]
    )

    class Meta:
        ordering = ["kit", "component"]
        verbose_name = _("kit component")
        verbose_name_plural = _("kit components")
        constraints = [
            models.UniqueConstraint(fields=["kit", "component"], name="kit_component_unique"),
            models.CheckConstraint(condition=~Q(kit=F("component")), name="kit_not_own_component"),
        ]

    def __str__(self):
        return f"{self.kit_id}: {self.component_id} × {self.quantity}"

    def clean(self):
        super().clean()
        if self.component_id and self.component.is_kit:
            raise ValidationError({"component": _("A kit cannot contain another kit.")})
        if self.kit_id and not self.kit.is_kit:
            raise ValidationError({"kit": _("Only a SKU of kind “kit” has components.")})


class Bin(models.Model):
    """A shelf location; ``pick_order`` is its place on the picker's walking path."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.CASCADE, related_name="bins")
    code = models.CharField(_("code"), max_length=40)
    zone = models.CharField(_("zone"), max_length=40, blank=True)
    pick_order = models.PositiveIntegerField(_("pick-path order"), default=0)

    class Meta:
        ordering = ["warehouse", "pick_order", "code"]
        verbose_name = _("bin")
        verbose_name_plural = _("bins")
        constraints = [
            models.UniqueConstraint(fields=["warehouse", "code"], name="bin_unique_code"),
        ]

    def __str__(self):
        return self.code


class SkuLocation(models.Model):
    """Where a SKU is picked from in one warehouse."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.CASCADE, related_name="locations")
    sku = models.ForeignKey(SKU, on_delete=models.CASCADE, related_name="locations")
    bin = models.ForeignKey(Bin, on_delete=models.CASCADE, related_name="locations")

    class Meta:
        ordering = ["warehouse", "bin__pick_order"]
        verbose_name = _("SKU location")
        verbose_name_plural = _("SKU locations")
        constraints = [
            models.UniqueConstraint(fields=["warehouse", "sku"], name="sku_location_unique"),
        ]

    def __str__(self):
        return f"{self.sku_id} @ {self.bin_id}"

    def clean(self):
        super().clean()
        if self.bin_id and self.warehouse_id and self.bin.warehouse_id != self.warehouse_id:
            raise ValidationError({"bin": _("This bin is in another warehouse.")})


class StockLevel(models.Model):
    """Current stock of one SKU in one warehouse: always the sum of its ledger."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.CASCADE, related_name="stock_levels")
    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="stock_levels")
    on_hand = models.IntegerField(_("on hand"), default=0)
    reserved = models.IntegerField(_("reserved"), default=0)
    safety = models.PositiveIntegerField(_("safety stock"), default=0)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["warehouse", "sku"]
        verbose_name = _("stock level")
        verbose_name_plural = _("stock levels")
        constraints = [
            models.UniqueConstraint(fields=["warehouse", "sku"], name="stock_level_unique"),
            # The last line of defence against overselling: even a bug in the
            # service cannot promise more than the shelf holds.
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="stock_on_hand_gte_0"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="stock_reserved_gte_0"),
            models.CheckConstraint(
                condition=Q(reserved__lte=F("on_hand")), name="stock_reserved_lte_on_hand"
            ),
        ]

    def __str__(self):
        return f"{self.sku_id}@{self.warehouse_id}: {self.on_hand}/{self.reserved}"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved - self.safety

    @property
    def is_low(self) -> bool:
        return self.available <= 0


class StockMovement(models.Model):
    """One line of the stock ledger. Never edited, never deleted."""

    class Kind(models.TextChoices):
        RECEIPT = "receipt", _("Receipt")
        ADJUSTMENT = "adjustment", _("Adjustment")
        COUNT = "count", _("Stock count")
        SYNC = "sync", _("ERP import")
        RESERVATION = "reservation", _("Reservation")
        RELEASE = "release", _("Release")
        PICK = "pick", _("Pick")
        SHIP = "ship", _("Ship")
        RETURN = "return", _("Return")
        TRANSFER_OUT = "transfer_out", _("Transfer out")
        TRANSFER_IN = "transfer_in", _("Transfer in")

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="movements")
    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="movements")
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    on_hand_delta = models.IntegerField(_("on hand change"), default=0)
    reserved_delta = models.IntegerField(_("reserved change"), default=0)
    on_hand_after = models.IntegerField(_("on hand after"))
    reserved_after = models.IntegerField(_("reserved after"))
    order = models.ForeignKey(
        "orderhub.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    actor = models.CharField(_("actor"), max_length=150)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("stock movement")
        verbose_name_plural = _("stock movements")
        indexes = [
            models.Index(fields=["warehouse", "sku", "-created_at"], name="movement_wh_sku_idx"),
            models.Index(fields=["order"], name="movement_order_idx"),
        ]

    def __str__(self):
        return (f"{self.kind} {self.sku_id}@{self.warehouse_id} "
                f"{self.on_hand_delta:+}/{self.reserved_delta:+}")


class Reservation(models.Model):
    """Units of one SKU held for one order in one warehouse (kits as components)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        RELEASED = "released", _("Released")
        CONSUMED = "consumed", _("Shipped")

    order = models.ForeignKey(
        "orderhub.Order", on_delete=models.CASCADE, related_name="reservations"
    )
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="reservations")
    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="reservations")
    quantity = models.PositiveIntegerField(_("quantity"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        ordering = ["order", "sku"]
        verbose_name = _("reservation")
        verbose_name_plural = _("reservations")
        constraints = [
            # One active reservation per order and SKU: reserving twice cannot double.
            models.UniqueConstraint(
                fields=["order", "sku"], condition=Q(status="active"),
                name="reservation_one_active_per_order_sku",
            ),
        ]
        indexes = [models.Index(fields=["warehouse", "status"], name="reservation_wh_status_idx")]

    def __str__(self):
        return f"{self.order_id}: {self.sku_id} × {self.quantity} ({self.status})"


class PickList(models.Model):
    class Kind(models.TextChoices):
        SINGLE = "single", _("Single order")
        WAVE = "wave", _("Wave")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        VOID = "void", _("Void")

    number = models.CharField(_("number"), max_length=32, unique=True)
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="pick_lists")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.ACTIVE)
    reprint = models.PositiveIntegerField(_("reprint number"), default=0)
    original = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="reprints"
    )
    orders = models.ManyToManyField(
        "orderhub.Order", through="PickListOrder", related_name="pick_lists"
    )
    created_by = models.CharField(_("created by"), max_length=150)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    voided_at = models.DateTimeField(_("voided"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("pick list")
        verbose_name_plural = _("pick lists")

    def __str__(self):
        return self.number


class PickListOrder(models.Model):
    pick_list = models.ForeignKey(PickList, on_delete=models.CASCADE, related_name="slots")
    order = models.ForeignKey("orderhub.Order", on_delete=models.CASCADE, related_name="+")
    slot = models.PositiveIntegerField(_("tote slot"))

    class Meta:
        ordering = ["pick_list", "slot"]
        constraints = [
            models.UniqueConstraint(fields=["pick_list", "order"], name="picklist_order_unique"),
            models.UniqueConstraint(fields=["pick_list", "slot"], name="picklist_slot_unique"),
        ]

    def __str__(self):
        return f"{self.pick_list_id} #{self.slot}: {self.order_id}"


class PickTask(models.Model):
    """One picker walking one order. At most one open task per order."""

    class Status(models.TextChoices):
        OPEN = "open", _("Picking")
        DONE = "done", _("Done")
        ABANDONED = "abandoned", _("Abandoned")

    order = models.ForeignKey("orderhub.Order", on_delete=models.CASCADE, related_name="pick_tasks")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="pick_tasks")
    picker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="pick_tasks"
    )
    pick_list = models.ForeignKey(
        PickList, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.OPEN)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("pick task")
        verbose_name_plural = _("pick tasks")
        constraints = [
            models.UniqueConstraint(
                fields=["order"], condition=Q(status="open"), name="picktask_one_open_per_order"
            ),
        ]
        indexes = [models.Index(fields=["picker", "status"], name="picktask_picker_status_idx")]

    def __str__(self):
        return f"{self.order_id} ({self.status})"


class PickTaskLine(models.Model):
    task = models.ForeignKey(PickTask, on_delete=models.CASCADE, related_name="lines")
    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=255)
    bin_code = models.CharField(_("bin"), max_length=40, blank=True)
    pick_order = models.PositiveIntegerField(default=0)
    quantity = models.PositiveIntegerField(_("quantity"))
    picked = models.PositiveIntegerField(_("picked"), default=0)
    is_gift = models.BooleanField(_("gift"), default=False)

    class Meta:
        ordering = ["task", "is_gift", "pick_order", "bin_code", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(picked__lte=F("quantity")), name="pickline_no_overpick"
            ),
        ]

    def __str__(self):
        return f"{self.sku_id} {self.picked}/{self.quantity}"

    @property
    def remaining(self) -> int:
        return self.quantity - self.picked


class ScanEvent(models.Model):
    """One scan, stored under the client's idempotency key so a retry never counts twice."""

    class Result(models.TextChoices):
        OK = "ok", _("Picked")
        WRONG_ITEM = "wrong_item", _("Wrong item")
        OVER_PICK = "over_pick", _("Over-pick")
        UNKNOWN = "unknown", _("Unknown barcode")

    key = models.CharField(_("idempotency key"), max_length=64, unique=True)
    task = models.ForeignKey(PickTask, on_delete=models.CASCADE, related_name="scans")
    barcode = models.CharField(_("barcode"), max_length=64)
    result = models.CharField(_("result"), max_length=12, choices=Result.choices)
    line = models.ForeignKey(PickTaskLine, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    message = models.CharField(_("message"), max_length=255, blank=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("scan")
        verbose_name_plural = _("scans")

    def __str__(self):
        return f"{self.barcode}: {self.result}"


class PickProblem(models.Model):
    class Kind(models.TextChoices):
        MISSING_ITEM = "missing_item", _("Missing item")
        DAMAGED = "damaged", _("Damaged")
        MISSING_GIFT = "missing_gift", _("Missing gift")
        WRONG_LABEL = "wrong_label", _("Wrong label")
        OTHER = "other", _("Other")

    order = models.ForeignKey(
        "orderhub.Order", on_delete=models.CASCADE, related_name="pick_problems"
    )
    task = models.ForeignKey(PickTask, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="problems")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("problem"), max_length=20, choices=Kind.choices)
    note = models.TextField(_("note"), blank=True)
    photo = models.FileField(_("photo"), upload_to="pick-problems/%Y/%m/", blank=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.CharField(_("actor"), max_length=150)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("pick problem")
        verbose_name_plural = _("pick problems")

    def __str__(self):
        return f"{self.order_id}: {self.kind}"


class PackCheck(models.Model):
    """A packer re-scanning every item of one picked order before it is sealed.

    The verified row is the audit record: who verified the order and when.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("Verifying")
        VERIFIED = "verified", _("Verified")
        ABANDONED = "abandoned", _("Abandoned")

    order = models.ForeignKey(
        "orderhub.Order", on_delete=models.CASCADE, related_name="pack_checks"
    )
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="pack_checks")
    packer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="pack_checks"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.OPEN)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("pack check")
        verbose_name_plural = _("pack checks")
        constraints = [
            models.UniqueConstraint(
                fields=["order"], condition=Q(status="open"), name="packcheck_one_open_per_order"
            ),
            # Verified once is the record; a second verification would blur who sealed it.
            models.UniqueConstraint(
                fields=["order"], condition=Q(status="verified"),
                name="packcheck_one_verified_per_order",
            ),
        ]
        indexes = [models.Index(fields=["packer", "status"], name="packcheck_packer_status_idx")]

    def __str__(self):
        return f"{self.order_id} ({self.status})"


class PackCheckLine(models.Model):
    pack_check = models.ForeignKey(PackCheck, on_delete=models.CASCADE, related_name="lines")
    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=255)
    quantity = models.PositiveIntegerField(_("quantity"))
    scanned = models.PositiveIntegerField(_("scanned"), default=0)
    is_gift = models.BooleanField(_("gift"), default=False)

    class Meta:
        ordering = ["pack_check", "is_gift", "id"]
        verbose_name = _("pack check line")
        verbose_name_plural = _("pack check lines")
        constraints = [
            models.CheckConstraint(
                condition=Q(scanned__lte=F("quantity")), name="packline_no_overscan"
            ),
        ]

    def __str__(self):
        return f"{self.sku_id} {self.scanned}/{self.quantity}"


class PackScan(models.Model):
    """One scan at the packing bench, stored under the client's idempotency key."""

    key = models.CharField(_("idempotency key"), max_length=64, unique=True)
    pack_check = models.ForeignKey(PackCheck, on_delete=models.CASCADE, related_name="scans")
    barcode = models.CharField(_("barcode"), max_length=64)
    result = models.CharField(_("result"), max_length=12, choices=ScanEvent.Result.choices)
    line = models.ForeignKey(PackCheckLine, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    message = models.CharField(_("message"), max_length=255, blank=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("pack scan")
        verbose_name_plural = _("pack scans")

    def __str__(self):
        return f"{self.barcode}: {self.result}"


class StockSource(EncryptedSecret, models.Model):
    """Where a warehouse's on-hand quantities come from when an ERP owns them."""

    class Kind(models.TextChoices):
        KINGDEE = "kingdee", _("Kingdee K/3 Cloud WebAPI")
        REST = "rest", _("Generic JSON REST")

    warehouse = models.OneToOneField(Warehouse, on_delete=models.CASCADE,
                                     related_name="stock_source")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    enabled = models.BooleanField(_("enabled"), default=True)
    base_url = models.URLField(_("base URL"))
    username = models.CharField(_("user name / app id"), max_length=120, blank=True)
    # Encrypted at rest like channel credentials; read and write it as ``secret``.
    secret_encrypted = models.TextField(_("password / secret / token (encrypted)"), blank=True,
                                        editable=False)
    # Kingdee: acctid, stock_number (FStockId.FNumber filter), page_size.
    # REST: items_path, sku_field, quantity_field, next_field, headers.
    options = models.JSONField(_("options"), default=dict, blank=True)
    interval_minutes = models.PositiveIntegerField(_("import every (minutes)"), default=15)
    # The mirror can be up to ``interval_minutes`` old; a seller who also sells the
    # same stock elsewhere asks the ERP again for each order's SKUs at allocation.
    check_each_order = models.BooleanField(
        _("confirm stock in the ERP for each order"), default=False,
        help_text=_("At allocation, ask the ERP for the order's SKUs before reserving. When "
                    "the ERP does not answer in time, the last imported stock is used."))
    check_timeout_seconds = models.PositiveSmallIntegerField(
        _("ERP check timeout (seconds)"), default=2,
        validators=[MinValueValidator(1), MaxValueValidator(30)])

    class Meta:
        verbose_name = _("external stock source")
        verbose_name_plural = _("external stock sources")

    def __str__(self):
        return f"{self.warehouse} ← {self.get_kind_display()}"

    def __repr__(self):
        # The password must never reach a log line, even through repr().
        return f"<StockSource {self.pk} ({self.kind})>"


class PresaleDeferral(models.Model):
    """A presale order waiting in the deferred queue until its release time.

    Written when automation first meets a presale order whose promised ship
    date is further away than the lead time; ``released_at`` is set exactly
    once (``warehouse.services.presale``), after which automation allocates the
    order as usual.
    """

    class Source(models.TextChoices):
        PLATFORM = "platform", _("Platform")
        SKU = "sku", _("SKU presale date")
        MANUAL = "manual", _("Set by hand")

    order = models.OneToOneField(
        "orderhub.Order", on_delete=models.CASCADE, related_name="presale_deferral"
    )
    ship_date = models.DateField(_("promised ship date"))
    source = models.CharField(_("ship date from"), max_length=10, choices=Source.choices)
    release_at = models.DateTimeField(_("release to picking at"))
    released_at = models.DateTimeField(_("released"), null=True, blank=True)
    released_by = models.CharField(_("released by"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("deferred"), default=timezone.now)

    class Meta:
        ordering = ["release_at", "id"]
        verbose_name = _("presale deferral")
        verbose_name_plural = _("presale deferrals")
        indexes = [
            # The release sweep: still waiting, due first.
            models.Index(fields=["release_at"], name="presale_waiting_idx",
                         condition=Q(released_at__isnull=True)),
        ]
        permissions = [
            ("set_presale_date", _("Can set the promised ship date of presale orders")),
        ]

    def __str__(self):
        return f"{self.order_id}: {self.release_at:%Y-%m-%d %H:%M}"

    @property
    def waiting(self) -> bool:
        return self.released_at is None


class TransferRequest(models.Model):
    """Stock asked from another warehouse because orders are short in theirs.

    Created by ``warehouse.services.transfers`` when an allocation is short
    and another warehouse has the units; the warehouse lead confirms (the units
    leave the source), or rejects; receiving books them into the destination
    and tries the waiting orders again.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        CONFIRMED = "confirmed", _("Confirmed, in transit")
        RECEIVED = "received", _("Received")
        REJECTED = "rejected", _("Rejected")

    from_warehouse = models.ForeignKey(
        Warehouse, verbose_name=_("from warehouse"), on_delete=models.PROTECT, related_name="+"
    )
    to_warehouse = models.ForeignKey(
        Warehouse, verbose_name=_("to warehouse"), on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.REQUESTED)
    orders = models.ManyToManyField("orderhub.Order", through="TransferOrder",
                                    related_name="transfer_requests", verbose_name=_("orders"))
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    confirmed_at = models.DateTimeField(_("confirmed"), null=True, blank=True)
    received_at = models.DateTimeField(_("received"), null=True, blank=True)
    rejected_at = models.DateTimeField(_("rejected"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("transfer request")
        verbose_name_plural = _("transfer requests")
        indexes = [models.Index(fields=["status", "to_warehouse"], name="transfer_status_idx")]
        permissions = [
            ("handle_transfer", _("Can confirm, reject and receive transfer requests")),
        ]

    def __str__(self):
        return f"T{self.pk} {self.from_warehouse_id}→{self.to_warehouse_id} {self.status}"

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.REQUESTED, self.Status.CONFIRMED)


class TransferLine(models.Model):
    request = models.ForeignKey(TransferRequest, on_delete=models.CASCADE, related_name="lines")
    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(_("requested"), validators=[MinValueValidator(1)])
    received_quantity = models.PositiveIntegerField(_("received"), null=True, blank=True)

    class Meta:
        ordering = ["request", "sku__code"]
        verbose_name = _("transfer line")
        verbose_name_plural = _("transfer lines")
        constraints = [
            models.UniqueConstraint(fields=["request", "sku"], name="transfer_line_unique"),
        ]

    def __str__(self):
        return f"{self.sku_id} × {self.quantity}"


class TransferOrder(models.Model):
    """An order waiting on a transfer request (its shortage is in the lines)."""

    request = models.ForeignKey(TransferRequest, on_delete=models.CASCADE,
                                related_name="waiting")
    order = models.ForeignKey("orderhub.Order", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(_("added"), default=timezone.now)

    class Meta:
        ordering = ["request", "id"]
        verbose_name = _("order waiting on a transfer")
        verbose_name_plural = _("orders waiting on transfers")
        constraints = [
            models.UniqueConstraint(fields=["request", "order"], name="transfer_order_unique"),
        ]

    def __str__(self):
        return f"{self.request_id}: {self.order_id}"
