"""Who reaches which URL: the one documented access table (issue 14/15).

``ACCESS`` maps every URL pattern of the project (its name, or its route for the
unnamed sandbox patterns) to the staff roles that get through its guard. Every
other role gets a 403; an anonymous visitor is sent to the login page, unless
the pattern is ``PUBLIC`` (no login: buyers, platforms, carriers, the demo
sandbox). ``ADMIN_SITE`` covers every ``admin/`` pattern: superusers only (the
``admin`` role; other roles are not staff accounts and go to the admin login).

The permission-matrix test (``tests/orderhub/test_permission_matrix.py``) walks
every pattern of the root URLconf x every role and asserts this table, and
checks the README's pages table against ``readme_pages_table()``. The roles'
permissions themselves are in ``orderhub/roles.py``; this table is what they add
up to at the views.

``method`` is the method the test sends: the guard of a POST-only view sits
behind ``require_POST``, so a GET would only show the 405.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("picker", "ops", "manager", "finance", "sales_manager", "warehouse_manager", "admin")
PUBLIC = "public"


@dataclass(frozen=True)
class Access:
    roles: frozenset[str] | str  # staff roles let through, or PUBLIC
    method: str = "GET"


def _roles(*names: str) -> frozenset[str]:
    unknown = set(names) - set(ROLES)
    assert not unknown, unknown
    return frozenset(names)


STAFF = _roles(*ROLES)
ORDER_READERS = _roles("ops", "manager", "finance", "sales_manager", "warehouse_manager", "admin")
OPS = _roles("ops", "manager", "admin")
SCAN = _roles("picker", "manager", "admin")
PACK = _roles("picker", "ops", "manager", "admin")
MONEY = _roles("manager", "finance", "admin")
EXPORT = _roles("ops", "manager", "finance", "admin")
REVIEW = EXPORT  # risk (ops, managers) and credit (finance) reviews
ROUTING = _roles("ops", "manager", "warehouse_manager", "admin")
WAREHOUSE_LEADS = _roles("manager", "warehouse_manager", "admin")
APPROVERS = _roles("manager", "finance", "sales_manager", "warehouse_manager", "admin")

OPEN = Access(PUBLIC)
OPEN_POST = Access(PUBLIC, "POST")


def post(roles) -> Access:
    return Access(roles, "POST")


ACCESS: dict[str, Access] = {
    "home": Access(STAFF),
    "favicon": OPEN,
    "healthz": OPEN,
    "login": OPEN,
    "logout": OPEN_POST,
    "set_language": OPEN_POST,
    # Orders: buyer data, so never pickers (they see name, city and lines on /scan/).
    "orders:list": Access(ORDER_READERS),
    "orders:detail": Access(ORDER_READERS),
    # Each transition checks its own permission in the service; pickers never get
    # here: claim/finish go through the scan task.
    "orders:transition": post(ORDER_READERS),
    "orders:note": post(OPS),
    "orders:new": Access(OPS),
    "orders:new-customer": Access(OPS),
    "orders:new-skus": Access(OPS),
    # Picking and packing (phone screens).
    "scan": Access(SCAN),
    "scan-next": post(SCAN),
    "scan-claim": post(SCAN),
    "scan-current": Access(SCAN),
    "scan-task": Access(SCAN),
    "scan-item": post(SCAN),
    "scan-problem": post(SCAN),
    "scan-finish": post(SCAN),
    "pack": Access(PACK),
    "pack-start": post(PACK),
    "pack-check": Access(PACK),
    "pack-item": post(PACK),
    "pack-finish": post(PACK),
    "pack-abandon": post(PACK),
    "warehouse-seal-label": Access(PACK),
    # Warehouse desk.
    "warehouse-problem-photo": Access(OPS),
    "warehouse-stock": Access(OPS),
    "warehouse-stock-detail": Access(OPS),
    "warehouse-stock-count": Access(OPS),
    "warehouse-dashboard": Access(OPS),
    "warehouse-picklist-create": Access(OPS),
    "warehouse-picklist-pdf": Access(OPS),
    "warehouse-picklist-reprint": post(OPS),
    # Presale deferred queue and transfer requests: warehouse leads confirm/receive.
    "warehouse-presale": Access(ROUTING),
    "warehouse-presale-date": post(OPS),
    "warehouse-transfers": Access(ROUTING),
    "warehouse-transfer": Access(ROUTING),
    "warehouse-transfer-confirm": post(WAREHOUSE_LEADS),
    "warehouse-transfer-reject": post(WAREHOUSE_LEADS),
    "warehouse-transfer-receive": post(WAREHOUSE_LEADS),
    # Channels.
    "channel-webhook": OPEN_POST,
    "channels:health": Access(OPS),
    "channels:poll": post(OPS),
    "channels:pause": post(OPS),
    "channels:resume": post(OPS),
    "channels:upload": Access(OPS),
    "channels:replay_all": post(OPS),
    "channels:problems": Access(OPS),
    "channels:problem": Access(OPS),
    "channels:replay": post(OPS),
    "channels:legacy": Access(EXPORT),  # past orders and their amounts: finance too
    # Reporting.
    "dashboard": Access(MONEY),
    "dashboard-wall": Access(MONEY),
    "reporting-sla-late": Access(MONEY),
    "reporting-alert-ack": post(MONEY),
    "reporting-export-orders": Access(EXPORT),
    "reporting-export-summary": Access(MONEY),
    "reporting-export-job": Access(EXPORT),
    "reporting-export-download": Access(EXPORT),
    "reporting-reconciliation": Access(_roles("finance", "admin")),
    "reporting-reconciliation-detail": Access(_roles("finance", "admin")),
    "reporting-reconciliation-export": Access(_roles("finance", "admin")),
    # Review and automation.
    "fulfillment:review-queue": Access(REVIEW),
    "fulfillment:review-bulk": post(REVIEW),
    "fulfillment:review-approve": post(REVIEW),
    "fulfillment:review-reject": post(REVIEW),
    "fulfillment:reprocess": post(OPS),
    # A customer's credit ledger, settle / refund / adjust: finance (review_credit).
    "fulfillment:credit-ledger": Access(_roles("finance", "admin")),
    "fulfillment:credit-settle": post(_roles("finance", "admin")),
    "fulfillment:credit-refund": post(_roles("finance", "admin")),
    "fulfillment:credit-adjust": post(_roles("finance", "admin")),
    # Shipping.
    "shipping:waybills": Access(OPS),
    "shipping:retry": post(OPS),
    "shipping:label": Access(PACK),  # the pack bench prints the label
    "shipping:wave-labels": Access(OPS),  # with the pick list: label and pick-list printers
    "shipping:enter-tracking": post(_roles("manager", "admin")),
    "shipping:kuaidi100-callback": OPEN_POST,
    "shipping:track": OPEN,
    # Messages.
    "notifications:log": Access(OPS),
    "notifications:detail": Access(OPS),
    "notifications:resend": post(OPS),
    # Tickets.
    "tickets:queue": Access(OPS),
    "tickets:create": Access(OPS),
    "tickets:detail": Access(OPS),
    "tickets:assign-me": post(OPS),
    "tickets:assign": post(OPS),
    "tickets:status": post(OPS),
    "tickets:comment": post(OPS),
    # Change requests.
    "changes:list": Access(ORDER_READERS),
    "changes:detail": Access(ORDER_READERS),
    "changes:decide": post(APPROVERS),
    "changes:withdraw": post(ORDER_READERS),
    "changes:new": Access(OPS),
}

ACCESS["admin:login"] = OPEN
ACCESS["admin:logout"] = OPEN_POST

# Every other admin/ pattern (Django's own admin site).
ADMIN_SITE = Access(_roles("admin"))

# Unnamed patterns: the sandbox (platform-shaped demo APIs, checking their own
# signatures). Matched by route prefix.
# The open API (/api/v1/): no login; every endpoint but its schema and docs wants an API
# token (401 without one), which the API checks itself.
PUBLIC_PREFIXES = ("sandbox/", "api/")


def access_for(name: str | None, route: str) -> Access | None:
    """The documented access of one URL pattern; None when the table lacks it."""
    if name and name in ACCESS:
        return ACCESS[name]
    if route.startswith("admin/"):
        return ADMIN_SITE
    if route.startswith(PUBLIC_PREFIXES):
        return OPEN
    return None


# --- what each role sees of the buyer ----------------------------------------------

FULL = "full"      # name, phone, e-mail and street as stored (``orderhub.view_buyer_contact``)
MASKED = "masked"  # name partly, phone 138****1234, e-mail a***@x.com, street hidden
SCAN_ONLY = "scan"  # no order pages: name, city and lines on the scan screen only

# Per role, how the buyer's contact data shows on every page the role reaches
# (order list and page, review queue, change requests). ``orderhub.roles`` grants
# ``view_buyer_contact`` to exactly the FULL roles; the permission-matrix test
# checks both and renders the order page as each role.
BUYER_DATA: dict[str, str] = {
    "picker": SCAN_ONLY,
    "ops": FULL,  # customer service: calls buyers, fixes addresses
    "manager": FULL,  # the ops lead: escalations, intercepts with the carrier
    "finance": MASKED,  # money and credit: the order, not the buyer's door
    "sales_manager": MASKED,  # approves change requests
    "warehouse_manager": MASKED,  # approves change requests; name, city and lines suffice
    "admin": FULL,
}
assert set(BUYER_DATA) == set(ROLES)

BUYER_DATA_WORDS = {
    FULL: "in full (name, phone, e-mail, street)",
    MASKED: "masked: name partly, phone `138****1234`, e-mail `a***@x.com`, street hidden; "
            "province and city shown",
    SCAN_ONLY: "no order pages; the scan screen shows name, city and lines",
}


def readme_buyer_data_table() -> str:
    """The README's "who sees the buyer's contact data" table, generated from ``BUYER_DATA``."""
    rows = ["| role | buyer contact data |", "| --- | --- |"]
    rows += [f"| {role} | {BUYER_DATA_WORDS[BUYER_DATA[role]]} |" for role in ROLES]
    return "\n".join(rows) + "\n"


# --- the README's pages table -------------------------------------------------------

# (paths shown, URL name whose access the "who" column states, what the page does)
README_PAGES: list[tuple[str, str, str]] = [
    ("`/orders/`", "orders:list",
     "every order: status tabs with counts, filters, search by order no., platform id, "
     "tracking no. or buyer phone; export to CSV/XLSX"),
    ("`/orders/<id>/`", "orders:detail",
     "lines, address, timeline, any two versions side by side, the actions your role "
     "allows, write-back and warehouse panels"),
    ("`/orders/new/`", "orders:new", "enter an order by hand (phone, WeChat, B2B)"),
    ("`/channels/`", "channels:health",
     "channel health (last sync, lag, errors, paused and why), poll now / pause / resume, "
     "sync problems with replay (one by one or all of a channel's), CSV/XLSX upload, legacy "
     "orders by phone. A channel pauses itself on rejected credentials, after "
     "`CHANNEL_MAX_FAILURES` failed polls, or when its payloads stop parsing (format "
     "drift); its owner gets an e-mail and the team robot a post, both through the message "
     "outbox"),
    ("`/channels/legacy/`", "channels:legacy", "legacy (pre-hub) orders by buyer phone"),
    ("`/review/`", "fulfillment:review-queue",
     "orders automation sent to review, with every reason; approve or reject (ops and "
     "managers: risk; finance: credit)"),
    ("`/changes/`", "changes:list",
     "change and intercept requests, side-by-side diff, approval chain"),
    ("`/tickets/`", "tickets:queue",
     "customer-service tickets (created by stalled parcels, pick problems, intercepts, out "
     "of stock, sync problems, or by hand)"),
    ("`/shipping/`", "shipping:waybills",
     "waybills: booking status and attempts, retry, label PDFs (100×150 mm); Kuaidi100 gets "
     "phones in its documented forms (the mainland number, `+86` dropped)"),
    ("`/messages/`", "notifications:log",
     "SMS and team alerts sent through the outbox, with resend"),
    ("`/track/`", "shipping:track",
     "buyers: order or tracking number + last 4 phone digits → the parcel's timeline, masked"),
    ("`/scan/`", "scan",
     "phone screen: take the next pick task, scan items (scanner or camera), report a "
     "problem. An order ops put on hold meanwhile refuses scans with the hold reason until "
     "it is released"),
    ("`/scan/pack/`", "pack", "pack-verify at the bench, print the parcel's label"),
    ("`/warehouse/stock/`, `/warehouse/picklists/`, `/warehouse/dashboard/`", "warehouse-stock",
     "stock levels and ledger, adjustments, stock counts, pick-list and seal-label PDFs, "
     "a wave's shipping labels in one PDF (pick order; orders without one on a cover page), "
     "the lead's board"),
    ("`/warehouse/presale/`", "warehouse-presale",
     "presale orders waiting in the deferred queue with their promised ship date and release "
     "time (and those released); ops and managers set a ship date by hand"),
    ("`/warehouse/transfers/`", "warehouse-transfers",
     "transfer requests made when an order is short in its warehouse and another has the "
     "stock: source, lines, waiting orders; warehouse leads (manager, warehouse_manager) "
     "confirm, reject or mark received, which books the stock and allocates the orders again"),
    ("`/dashboard/`, `/dashboard/wall/`, `/dashboard/sla/late/`", "dashboard",
     "KPI cards with thresholds and drill-down to the orders, charts, wall screen, the "
     "orders over an SLA's window"),
    ("`/reports/reconciliation/`", "reporting-reconciliation",
     "settlement file against the hub's orders, differences report"),
    ("`/admin/`", "admin:index",
     "channels and credentials, warehouses, SKUs, routing and risk rules (with a dry run on "
     "past orders), carriers, message templates and gateways, approval chains, thresholds, "
     "users and roles"),
    ("`/hooks/<channel>/`", "channel-webhook", "platforms' signed webhooks"),
    ("`/api/v1/`", "api/v1/", "the open API for ERP, WMS, CRM and audit systems: every call "
     "but the schema (`/api/v1/openapi.json`) and the docs (`/api/v1/docs`) needs an API token "
     "(README \"Open API\")"),
    ("`/sandbox/`", "sandbox/", "the demo: Shopify-, WooCommerce-, Amazon-, Taobao-, "
     "Pinduoduo-, Douyin- and Youzan-shaped APIs, SF Express and Kuaidi100, Aliyun SMS, "
     "WeCom and DingTalk robots, checking signatures like the real ones (`SANDBOX_ENABLED`)"),
]


def who(access: Access) -> str:
    if access.roles == PUBLIC:
        return "anyone, no login"
    return ", ".join(role for role in ROLES if role in access.roles)


def readme_pages_table() -> str:
    """The README's "What is in the hub" table, generated from ``ACCESS``."""
    rows = ["| page | who | what |", "| --- | --- | --- |"]
    for paths, name, what in README_PAGES:
        # A row names a URL name, "admin:..." for the admin site or a sandbox route.
        access = access_for(name, "admin/" if name.startswith("admin:") else name)
        rows.append(f"| {paths} | {who(access)} | {what} |")
    return "\n".join(rows) + "\n"
