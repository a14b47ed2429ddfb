"""Change request events of their own (they travelled as intercept alerts until now).

- Outbox rows the approval chain already wrote are relabelled by their dedupe key
  (``change:<id>:step:…`` / ``:outcome:…`` / ``:reprint:…``), so the message list
  names them right.
- On an install that already routes intercept alerts to robots, those robots keep
  getting the approval posts they got so far, now through routes of their own
  (copied once, only while no change request route exists): an admin can switch
  them off without touching the intercept routes. A fresh install has no routes
  and nothing is copied; the demo data routes the new events to the ops robot.
"""

from django.db import migrations, models

ROBOT_KINDS = ("wecom", "dingtalk")
# What the approval chain's dedupe keys name -> the event the row now carries.
STAGES = {"step": "change_waiting", "outcome": "change_decided",
          "reprint": "picklist_reprinted"}
# Robots heard about waiting and decided requests; reprints went to warehouse leads only.
ROUTED_FROM_INTERCEPT = ("change_waiting", "change_decided")


def forwards(apps, schema_editor):
    AlertRoute = apps.get_model("notifications", "AlertRoute")
    Message = apps.get_model("notifications", "Message")
    for stage, event in STAGES.items():
        Message.objects.filter(event="intercept", dedupe_key__startswith="change:",
                               dedupe_key__contains=f":{stage}:").update(event=event)
    if AlertRoute.objects.filter(event__in=STAGES.values()).exists():
        return
    intercept_robots = AlertRoute.objects.filter(event="intercept",
                                                 gateway__kind__in=ROBOT_KINDS).order_by("id")
    AlertRoute.objects.bulk_create([
        AlertRoute(event=event, gateway_id=route.gateway_id, recipient=route.recipient,
                   warehouse_id=route.warehouse_id, language=route.language,
                   enabled=route.enabled)
        for event in ROUTED_FROM_INTERCEPT for route in intercept_robots
    ])


def backwards(apps, schema_editor):
    AlertRoute = apps.get_model("notifications", "AlertRoute")
    Message = apps.get_model("notifications", "Message")
    MessageTemplate = apps.get_model("notifications", "MessageTemplate")
    events = list(STAGES.values())
    # The old choices know no such events: the rows go back to what they were.
    Message.objects.filter(event__in=events).update(event="intercept")
    AlertRoute.objects.filter(event__in=events).delete()
    MessageTemplate.objects.filter(event__in=events).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('notifications', '0005_template_parameter_map_ready_to_ship'),
    ]

    operations = [
        migrations.AlterField(
            model_name='alertroute',
            name='event',
            field=models.CharField(choices=[('shipped', 'Shipped'), ('ready_to_ship', 'Packed, about to ship'), ('delayed', 'Parcel delayed'), ('out_of_stock', 'Out of stock'), ('intercept', 'Order intercepted'), ('urgent_order', 'Urgent order'), ('stock_low', 'Stock low'), ('pick_problem', 'Picking problem'), ('spike', 'Sales spike'), ('channel_paused', 'Channel sync paused'), ('parcel_stalled', 'Parcel stalled'), ('waybill_failed', 'Waybill booking failed'), ('change_waiting', 'Change request waiting for approval'), ('change_decided', 'Change request decided'), ('picklist_reprinted', 'Pick list voided and reprinted')], db_index=True, max_length=20, verbose_name='event'),
        ),
        migrations.AlterField(
            model_name='message',
            name='event',
            field=models.CharField(choices=[('shipped', 'Shipped'), ('ready_to_ship', 'Packed, about to ship'), ('delayed', 'Parcel delayed'), ('out_of_stock', 'Out of stock'), ('intercept', 'Order intercepted'), ('urgent_order', 'Urgent order'), ('stock_low', 'Stock low'), ('pick_problem', 'Picking problem'), ('spike', 'Sales spike'), ('channel_paused', 'Channel sync paused'), ('parcel_stalled', 'Parcel stalled'), ('waybill_failed', 'Waybill booking failed'), ('change_waiting', 'Change request waiting for approval'), ('change_decided', 'Change request decided'), ('picklist_reprinted', 'Pick list voided and reprinted')], max_length=20, verbose_name='event'),
        ),
        migrations.AlterField(
            model_name='messagetemplate',
            name='event',
            field=models.CharField(choices=[('shipped', 'Shipped'), ('ready_to_ship', 'Packed, about to ship'), ('delayed', 'Parcel delayed'), ('out_of_stock', 'Out of stock'), ('intercept', 'Order intercepted'), ('urgent_order', 'Urgent order'), ('stock_low', 'Stock low'), ('pick_problem', 'Picking problem'), ('spike', 'Sales spike'), ('channel_paused', 'Channel sync paused'), ('parcel_stalled', 'Parcel stalled'), ('waybill_failed', 'Waybill booking failed'), ('change_waiting', 'Change request waiting for approval'), ('change_decided', 'Change request decided'), ('picklist_reprinted', 'Pick list voided and reprinted')], max_length=20, verbose_name='event'),
        ),
        migrations.RunPython(forwards, backwards),
    ]
