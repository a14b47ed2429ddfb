"""Staff roles as Django groups, and what each may do: the whole table, every app.

``ROLE_PERMISSIONS`` is the one place a role's permissions are written down
(role -> ``"app_label.codename"``; ``["*"]`` is every permission of every app in
``APP_LABELS``). ``sync_roles`` makes the groups hold exactly that; each app
with permissions in the table has a migration calling it for its own label
after its models exist, so a fresh database and an upgraded one end the same.
Changing a role: edit the table, add a migration in the app whose permissions
changed that calls ``sync_roles(apps, labels=[...])`` again.

Written by hand against ``permission_required``/``staff_view`` names in the
views; the README's role table is the readable version of the order part.
"""

from __future__ import annotations

from django.apps import apps as project_apps
from django.contrib.auth.management import create_permissions

# Apps whose permissions the table governs (app labels, not module paths).
APP_LABELS = ("orderhub", "channels", "warehouse", "fulfillment", "changes", "notifications",
              "shipping", "tickets", "reporting", "webhooks", "api")

# --- building blocks ----------------------------------------------------------------

VIEW_CORE = [
    "orderhub.view_order",
    "orderhub.view_orderline",
    "orderhub.view_customer",
    "orderhub.view_tag",
    "orderhub.view_ordertransitionlog",
    "orderhub.view_orderevent",
    "warehouse.view_warehouse",
]

OPS = [
    *VIEW_CORE,
    "orderhub.change_order",
    "orderhub.add_orderevent",
    "orderhub.add_customer",
    "orderhub.change_customer",
    "orderhub.add_tag",
    "orderhub.allocate_order",
    "orderhub.review_order",
    "orderhub.hold_order",
    "orderhub.release_order",
    "orderhub.cancel_order",
]

# The buyer's phone, e-mail and street in full (``orderhub.privacy``): only roles that
# call or write to buyers or fix their addresses: customer service (ops), the ops
# lead (manager) and admins. Approvers and reviewers (finance, sales and warehouse
# managers) decide on the order, its lines, money and city, not the buyer's contact,
# and see those masked; pickers see no order page at all.
BUYER_CONTACT = ["orderhub.view_buyer_contact"]

# What an approver needs to read an order and decide a change-request step: what
# every staff role reads, tags aside.
VIEW_ORDER_FOR_APPROVAL = [p for p in VIEW_CORE if p != "orderhub.view_tag"]
VIEW_CHANGES = ["changes.view_changerequest", "changes.view_approvaldecision",
                "changes.view_approvalchain", "changes.view_approvalstep"]
APPROVE = ["changes.approve_changerequest"]

VIEW_CHANNELS = ["channels.view_channel", "channels.view_rawpayload", "channels.view_skumapping",
                 "channels.view_shipmentpush", "channels.view_shipmentpushattempt",
                 "channels.view_gapalert", "channels.view_legacyorder", "channels.replay_payload"]

VIEW_WAREHOUSE = [f"warehouse.{c}" for c in (
    "view_sku", "view_barcode", "view_kitcomponent", "view_bin", "view_skulocation",
    "view_stocklevel", "view_stockmovement", "view_reservation", "view_picklist",
    "view_picktask", "view_pickproblem", "view_packcheck", "view_packscan")]
WAREHOUSE_WORK = ["warehouse.print_picklist", "warehouse.add_pickproblem", "warehouse.pack_verify"]
# Presale deferred queue (/warehouse/presale/) and transfer requests (/warehouse/transfers/):
# ops and managers see both and set presale dates; the warehouse leads (manager,
# warehouse_manager) confirm, reject and receive transfers.
VIEW_ROUTING = ["warehouse.view_presaledeferral", "warehouse.view_transferrequest",
                "warehouse.view_transferline", "warehouse.view_transferorder"]
HANDLE_TRANSFERS = ["warehouse.handle_transfer"]

VIEW_RULES = [f"fulfillment.{c}" for c in (
    "view_rule", "view_condition", "view_shadowresult", "view_riskrule", "view_blacklist",
    "view_orderdecision", "view_reviewaction")]
EDIT_RULES = [f"fulfillment.{c}" for c in (
    "add_rule", "change_rule", "delete_rule", "add_condition", "change_condition",
    "delete_condition", "change_riskrule", "add_blacklist", "change_blacklist",
    "delete_blacklist")]

VIEW_NOTIFICATIONS = [f"notifications.{c}" for c in (
    "view_message", "view_messageattempt", "view_messagetemplate", "view_alertroute",
    "view_warehousecontact")]

VIEW_SHIPPING = [f"shipping.{c}" for c in (
    "view_waybill", "view_waybillattempt", "view_trackingevent", "view_carrieraccount",
    "view_carrierservice", "view_ratezone")]

# Outbound webhooks (Admin → Webhook subscriptions): managers set them up and re-send.
WEBHOOKS = [f"webhooks.{c}" for c in (
    "view_subscription", "add_subscription", "change_subscription", "view_delivery",
    "view_deliveryattempt", "resend_delivery")]

ALL_TICKETS = [f"tickets.{c}" for c in (
    "view_ticket", "add_ticket", "change_ticket", "delete_ticket", "view_ticketevent",
    "add_ticketevent")]

# --- the table ----------------------------------------------------------------------

ROLE_PERMISSIONS: dict[str, list[str]] = {
    "ops": [
        *OPS, *BUYER_CONTACT,
        *VIEW_CHANGES, "changes.add_changerequest",
        *VIEW_CHANNELS,
        *VIEW_RULES, "fulfillment.add_blacklist", "fulfillment.change_blacklist",
        *VIEW_NOTIFICATIONS, "notifications.resend_message",
        "reporting.export_orders",
        *VIEW_SHIPPING, "shipping.retry_waybill", "shipping.download_label",
        *ALL_TICKETS,
        *VIEW_WAREHOUSE, *WAREHOUSE_WORK,
        # Daily operations: poll a late channel now, pause a failing one, adjust
        # and count stock, watch the warehouse board (README pages table).
        "channels.poll_channel", "channels.pause_channel",
        "warehouse.adjust_stock", "warehouse.view_warehouse_dashboard",
        *VIEW_ROUTING, "warehouse.set_presale_date",
    ],
    # Pickers reach only /scan/ (pick and pack): no order pages (buyer phone,
    # e-mail, street) and no order transition endpoint; claim/finish go through
    # the scan task, which checks ``pick_order``. The pack bench prints the label.
    "picker": [
        "warehouse.view_warehouse",
        "orderhub.pick_order",
        "shipping.download_label",
        "warehouse.scan_pick", "warehouse.view_sku", "warehouse.view_bin",
        "warehouse.add_pickproblem", "warehouse.pack_verify",
    ],
    "manager": [
        *OPS, *BUYER_CONTACT,
        "orderhub.intercept_order",
        "orderhub.ship_order",
        "orderhub.pick_order",
        "orderhub.pay_order",
        # May approve either manager step of a change request; the chain's
        # "different person per step" rule keeps one manager from approving both.
        *VIEW_CHANGES, *APPROVE, "changes.add_changerequest", "changes.change_changerequest",
        *VIEW_CHANNELS, "channels.poll_channel", "channels.pause_channel",
        "channels.add_skumapping", "channels.change_skumapping",
        *VIEW_RULES, *EDIT_RULES,
        # Full phone numbers of recipients: managers and admins only.
        *VIEW_NOTIFICATIONS, "notifications.resend_message", "notifications.view_full_recipient",
        "notifications.view_gateway", "notifications.change_messagetemplate",
        "notifications.change_alertroute", "notifications.add_alertroute",
        "notifications.change_warehousecontact", "notifications.add_warehousecontact",
        "reporting.view_dashboard", "reporting.export_orders", "reporting.export_reports",
        "reporting.view_kpithreshold", "reporting.change_kpithreshold",
        "reporting.change_spikerule", "reporting.change_spikealert", "reporting.view_spikealert",
        "reporting.view_spikerule", "reporting.view_exportjob",
        *VIEW_SHIPPING, "shipping.retry_waybill", "shipping.download_label",
        *ALL_TICKETS,
        *VIEW_WAREHOUSE, *WAREHOUSE_WORK, "warehouse.scan_pick", "warehouse.adjust_stock",
        "warehouse.view_warehouse_dashboard",
        *WEBHOOKS,
        *VIEW_ROUTING, "warehouse.set_presale_date", *HANDLE_TRANSFERS,
    ],
    "finance": [
        *VIEW_CORE,
        # Credit holds are finance's: only they (and admins) review them.
        "fulfillment.review_credit", "fulfillment.view_orderdecision",
        "fulfillment.view_reviewaction",
        *VIEW_CHANGES, *APPROVE,
        # Write-back and gap panels of an order; not the channel pages (ops, managers).
        "channels.view_shipmentpush", "channels.view_gapalert", "channels.view_legacyorder",
        "reporting.view_dashboard", "reporting.export_orders", "reporting.export_reports",
        "reporting.reconcile", "reporting.view_reconciliationrun",
        "reporting.view_reconciliationdifference", "reporting.view_exportjob",
        # Read-only money pages only: no tickets, shipping or stock pages.
    ],
    # Approvers of a change request's steps (default chain: sales -> warehouse -> finance).
    "sales_manager": [*VIEW_ORDER_FOR_APPROVAL, *VIEW_CHANGES, *APPROVE],
    "warehouse_manager": [
        *VIEW_ORDER_FOR_APPROVAL, *VIEW_CHANGES, *APPROVE, "warehouse.view_picklist",
        "warehouse.view_picktask", "warehouse.view_reservation", "warehouse.view_sku",
        *VIEW_ROUTING, *HANDLE_TRANSFERS,
    ],
    # Admins are also superusers in practice; the group gives every permission of
    # every app so an admin account without the superuser flag still works.
    "admin": ["*"],
}

ROLE_NAMES = list(ROLE_PERMISSIONS)


def role_permissions(role: str, labels=APP_LABELS) -> set[str] | None:
    """The ``"app.codename"`` set of ``role`` within ``labels``; None for "everything"."""
    perms = ROLE_PERMISSIONS[role]
    if perms == ["*"]:
        return None
    return {p for p in perms if p.split(".", 1)[0] in labels}


def sync_roles(apps=None, *, labels=None) -> None:
    """Create or update the role groups so they hold exactly the table's permissions.

    ``apps`` is a migration's app registry (default: the running project's).
    ``labels`` limits the sync to those apps' permissions (default: every app
    of ``APP_LABELS`` the registry has): a permission of those apps that a
    role is not given is removed; other apps' are left to their own migration.
    Idempotent. A permission the table names that does not exist yet is
    skipped (an earlier migration; the app's own sync grants it), and the
    role test checks that every name in the table exists after migrating.
    """
    apps = apps or project_apps
    known = {config.label for config in apps.get_app_configs()}
    labels = [label for label in (labels or APP_LABELS) if label in known]
    # Permissions normally appear after all migrations ran (post_migrate); the
    # groups need them now.
    for label in labels:
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    scope = Permission.objects.filter(content_type__app_label__in=labels)
    by_name = {f"{app_label}.{codename}": pk for pk, app_label, codename
               in scope.values_list("pk", "content_type__app_label", "codename")}
    for role in ROLE_PERMISSIONS:
        group, _ = Group.objects.get_or_create(name=role)
        names = role_permissions(role, labels)
        wanted = set(by_name.values()) if names is None else {
            by_name[name] for name in names if name in by_name}
        have = set(group.permissions.filter(pk__in=list(by_name.values()))
                   .values_list("pk", flat=True))
        group.permissions.remove(*(have - wanted))
        group.permissions.add(*(wanted - have))
