"""Default message templates for every event, in Simplified Chinese and English.

Only creates templates that do not exist yet, so admins' edits survive.
Aliyun template codes are left empty: they come from the seller's own Aliyun
console (the demo fills in sandbox codes).
"""

from django.db import migrations

# (event, audience, language, subject, body)
DEFAULTS = [
    ("shipped", "buyer", "zh-hans", "",
     "【{{ shop }}】您的订单{{ order_number }}已发货，{{ carrier }}运单号{{ tracking_number }}，"
     "请注意查收。"),
    ("shipped", "buyer", "en", "",
     "{{ shop }}: your order {{ order_number }} has shipped with {{ carrier }}, "
     "tracking number {{ tracking_number }}."),
    ("delayed", "buyer", "zh-hans", "",
     "【{{ shop }}】很抱歉，您的订单{{ order_number }}（{{ carrier }} {{ tracking_number }}）"
     "物流暂时延误，我们正在跟进，给您带来不便敬请谅解。"),
    ("delayed", "buyer", "en", "",
     "{{ shop }}: sorry, your parcel for order {{ order_number }} ({{ carrier }} "
     "{{ tracking_number }}) is delayed. We are chasing the carrier."),
    ("out_of_stock", "team", "zh-hans", "缺货：订单{{ order_number }}",
     "订单{{ order_number }}在{{ warehouse }}缺货：{{ shortages }}。请{{ contact_name }}安排补货。"),
    ("out_of_stock", "team", "en", "Out of stock: order {{ order_number }}",
     "Order {{ order_number }} is out of stock in {{ warehouse }}: {{ shortages }}. "
     "{{ contact_name }}, please restock."),
    ("intercept", "team", "zh-hans", "拦截：订单{{ order_number }}",
     "订单{{ order_number }}已拦截（原状态：{{ from_status }}），原因：{{ reason }}，"
     "操作人：{{ actor }}。请停止出库。"),
    ("intercept", "team", "en", "Intercept: order {{ order_number }}",
     "Order {{ order_number }} was intercepted (was {{ from_status }}). Reason: {{ reason }}. "
     "By {{ actor }}. Stop the parcel."),
    ("urgent_order", "team", "zh-hans", "加急订单{{ order_number }}",
     "加急订单{{ order_number }}（{{ priority }}）已进入{{ warehouse }}拣货队列，请优先处理。"),
    ("urgent_order", "team", "en", "Urgent order {{ order_number }}",
     "Urgent order {{ order_number }} ({{ priority }}) is waiting in {{ warehouse }}'s pick "
     "queue. Please pick it first."),
    ("stock_low", "team", "zh-hans", "库存预警：{{ sku_code }}",
     "{{ warehouse }}的{{ sku_code }}可用库存{{ available }}，已到安全库存{{ safety }}。"),
    ("stock_low", "team", "en", "Stock low: {{ sku_code }}",
     "{{ sku_code }} in {{ warehouse }}: {{ available }} available, safety stock {{ safety }}."),
    ("pick_problem", "team", "zh-hans", "拣货问题：订单{{ order_number }}",
     "{{ warehouse }}订单{{ order_number }}拣货问题：{{ problem }}。{{ note }}（{{ actor }}）"),
    ("pick_problem", "team", "en", "Picking problem: order {{ order_number }}",
     "Picking problem on order {{ order_number }} in {{ warehouse }}: {{ problem }}. "
     "{{ note }} ({{ actor }})"),
    ("spike", "team", "zh-hans", "销量异动：{{ sku_code }}",
     "{{ sku_code }}在{{ province }}连续增长，{{ day }}已付订单{{ orders }}，"
     "付款成功率{{ payment_success_percent }}%。"),
    ("spike", "team", "en", "Sales spike: {{ sku_code }}",
     "{{ sku_code }} keeps growing in {{ province }}: {{ orders }} paid orders on {{ day }}, "
     "{{ payment_success_percent }}% paid."),
    ("channel_paused", "team", "zh-hans", "店铺同步已暂停：{{ channel }}",
     "{{ channel }}的订单同步已暂停，原因：{{ reason }}。请处理后在渠道页面恢复。"),
    ("channel_paused", "team", "en", "Sync paused: {{ channel }}",
     "Orders from {{ channel }} are no longer being pulled. Reason: {{ reason }}. "
     "Fix it, then resume the channel."),
    ("parcel_stalled", "team", "zh-hans", "物流停滞：订单{{ order_number }}",
     "订单{{ order_number }}（{{ carrier }} {{ tracking_number }}）自{{ last_event_at }}"
     "起无新物流信息。"),
    ("parcel_stalled", "team", "en", "Parcel stalled: order {{ order_number }}",
     "Order {{ order_number }} ({{ carrier }} {{ tracking_number }}) has had no tracking "
     "update since {{ last_event_at }}."),
    ("waybill_failed", "team", "zh-hans", "面单下单失败：订单{{ order_number }}",
     "订单{{ order_number }}电子面单下单失败：{{ error }}。请人工处理。"),
    ("waybill_failed", "team", "en", "Waybill failed: order {{ order_number }}",
     "Booking the waybill for order {{ order_number }} failed: {{ error }}. "
     "Please handle it by hand."),
]


def create(apps, schema_editor):
    MessageTemplate = apps.get_model("notifications", "MessageTemplate")
    for event, audience, language, subject, body in DEFAULTS:
        MessageTemplate.objects.get_or_create(
            event=event, audience=audience, language=language,
            defaults={"subject": subject, "body": body},
        )


class Migration(migrations.Migration):
    dependencies = [("notifications", "0001_initial")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
