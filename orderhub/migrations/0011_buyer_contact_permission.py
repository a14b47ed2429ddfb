"""The "see buyers' full contact data" permission, granted to ops, managers and admins.

Everyone else who reaches an order (finance, sales and warehouse managers) sees
the buyer's phone, e-mail and street masked (``orderhub.privacy``).
"""

from django.db import migrations

from orderhub.roles import sync_roles


def sync(apps, schema_editor):
    sync_roles(apps, labels=["orderhub"])


class Migration(migrations.Migration):

    dependencies = [
        ('orderhub', '0010_sync_roles_pages'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='order',
            options={'ordering': ['-placed_at', '-id'], 'permissions': [('pay_order', 'Can mark an order paid'), ('allocate_order', 'Can allocate an order (ready to pick, out of stock, restock)'), ('review_order', 'Can send an order to review and approve it'), ('pick_order', 'Can pick an order'), ('ship_order', 'Can ship, deliver and complete an order'), ('hold_order', 'Can put an order on hold'), ('release_order', 'Can release an order from hold'), ('cancel_order', 'Can cancel an order before picking'), ('intercept_order', 'Can intercept an order after picking started'), ('view_buyer_contact', "Can see buyers' full contact data")], 'verbose_name': 'order', 'verbose_name_plural': 'orders'},
        ),
        migrations.RunPython(sync, migrations.RunPython.noop),
    ]
