"""Encrypt the ERP password at rest and add the per-order stock check.

Existing plaintext passwords are encrypted with ``CHANNEL_CREDENTIALS_KEY``
(the channels' key) on the way in; migrating back decrypts them into the
old plaintext column, so the step is reversible as long as the key is the same.
"""

import django.core.validators
from django.db import migrations, models

from orderhub.crypto import decrypt_text, encrypt_text


def encrypt_secrets(apps, schema_editor):
    StockSource = apps.get_model("warehouse", "StockSource")
    for source in StockSource.objects.exclude(secret=""):
        source.secret_encrypted = encrypt_text(source.secret)
        source.save(update_fields=["secret_encrypted"])


def decrypt_secrets(apps, schema_editor):
    StockSource = apps.get_model("warehouse", "StockSource")
    for source in StockSource.objects.exclude(secret_encrypted=""):
        source.secret = decrypt_text(source.secret_encrypted)
        source.save(update_fields=["secret"])


class Migration(migrations.Migration):

    dependencies = [
        ("warehouse", "0006_sync_roles"),
    ]

    operations = [
        migrations.AddField(
            model_name="stocksource",
            name="secret_encrypted",
            field=models.TextField(blank=True, editable=False,
                                   verbose_name="password / secret / token (encrypted)"),
        ),
        migrations.RunPython(encrypt_secrets, decrypt_secrets),
        migrations.RemoveField(
            model_name="stocksource",
            name="secret",
        ),
        migrations.AddField(
            model_name="stocksource",
            name="check_each_order",
            field=models.BooleanField(
                default=False,
                help_text="At allocation, ask the ERP for the order's SKUs before reserving. "
                          "When the ERP does not answer in time, the last imported stock is used.",
                verbose_name="confirm stock in the ERP for each order"),
        ),
        migrations.AddField(
            model_name="stocksource",
            name="check_timeout_seconds",
            field=models.PositiveSmallIntegerField(
                default=2,
                validators=[django.core.validators.MinValueValidator(1),
                            django.core.validators.MaxValueValidator(30)],
                verbose_name="ERP check timeout (seconds)"),
        ),
    ]
