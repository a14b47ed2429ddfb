from django.db import migrations

INDEXES = {
    "order_paid_desc_idx": "paid_at DESC NULLS LAST, id DESC",
    "order_paid_asc_idx": "paid_at ASC NULLS LAST, id ASC",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, columns in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON orderhub_order ({columns})")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("orderhub", "0003_order_sort_indexes")]

    operations = [migrations.RunPython(create, drop)]
