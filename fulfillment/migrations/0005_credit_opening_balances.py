"""Start the credit ledger from what is known today.

Nothing kept ``Customer.open_balance`` up to date before the ledger, so:

1. a balance someone entered by hand is kept as the customer's opening entry
   (debts from before the hub; nothing is lost);
2. B2B orders accepted and still in the warehouse (ready to pick, out of stock,
   picking, picked, or on hold from one of those) are counted as accepted on
   credit, so cancelling one gives its amount back and finance can settle it;
3. shipped, delivered and completed orders are not counted: nothing recorded
   whether they were paid. Finance enters what is still owed for them with a
   manual adjustment on the customer's credit page.

Reversing deletes the ledger rows and puts the balances back as they were.
"""

from decimal import Decimal

from django.db import migrations
from django.db.models import Q

IN_WAREHOUSE = ["ready_to_pick", "out_of_stock", "picking", "picked"]
ACTOR = "system:migration"


def forwards(apps, schema_editor):
    Customer = apps.get_model("orderhub", "Customer")
    Order = apps.get_model("orderhub", "Order")
    CreditEntry = apps.get_model("fulfillment", "CreditEntry")
    balances = {}
    rows = []
    for customer in Customer.objects.exclude(open_balance=0).order_by("pk"):
        balances[customer.pk] = customer.open_balance
        rows.append(CreditEntry(customer_id=customer.pk, kind="opening",
                                amount=customer.open_balance,
                                balance_after=customer.open_balance,
                                credit_limit=customer.credit_limit, actor=ACTOR,
                                note="balance before the credit ledger"))
    limits = dict(Customer.objects.values_list("pk", "credit_limit"))
    in_warehouse = Q(status__in=IN_WAREHOUSE) | Q(status="on_hold", held_from__in=IN_WAREHOUSE)
    orders = (Order.objects.filter(in_warehouse, customer__isnull=False)
              .filter(Q(kind="b2b") | Q(customer__tier="b2b"))
              .order_by("paid_at", "pk").values_list("pk", "customer_id", "total"))
    for order_id, customer_id, total in orders.iterator():
        if not total:
            continue
        balance = balances.get(customer_id, Decimal("0.00")) + total
        balances[customer_id] = balance
        rows.append(CreditEntry(customer_id=customer_id, order_id=order_id, kind="accept",
                                amount=total, balance_after=balance,
                                credit_limit=limits[customer_id], actor=ACTOR,
                                note="accepted before the credit ledger"))
    CreditEntry.objects.bulk_create(rows, batch_size=1000)
    for customer_id, balance in balances.items():
        Customer.objects.filter(pk=customer_id).update(open_balance=balance)


def backwards(apps, schema_editor):
    Customer = apps.get_model("orderhub", "Customer")
    CreditEntry = apps.get_model("fulfillment", "CreditEntry")
    openings = dict(CreditEntry.objects.filter(kind="opening")
                    .values_list("customer_id", "amount"))
    touched = set(CreditEntry.objects.values_list("customer_id", flat=True))
    for customer_id in touched:
        Customer.objects.filter(pk=customer_id).update(
            open_balance=openings.get(customer_id, Decimal("0.00")))
    CreditEntry.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("fulfillment", "0004_credit_ledger"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
