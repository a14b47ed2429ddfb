from django.urls import path

from channels import sandbox, sandbox_cn

urlpatterns = [
    path("shopify/admin/api/<str:version>/orders.json", sandbox.shopify_orders),
    path("shopify/admin/api/<str:version>/orders/<int:order_id>.json", sandbox.shopify_order),
    path("shopify/admin/api/<str:version>/orders/<int:order_id>/fulfillment_orders.json",
         sandbox.shopify_fulfillment_orders),
    path("shopify/admin/api/<str:version>/fulfillments.json", sandbox.shopify_fulfillments),
    path("woocommerce/wp-json/wc/v3/orders", sandbox.woo_orders),
    path("woocommerce/wp-json/wc/v3/orders/<int:order_id>", sandbox.woo_order),
    path("woocommerce/wp-json/wc/v3/orders/<int:order_id>/notes", sandbox.woo_notes),
    path("woocommerce/wp-json/wc-shipment-tracking/v3/orders/<int:order_id>/shipment-trackings",
         sandbox.woo_shipment_trackings),
    path("amazon/auth/o2/token", sandbox.amazon_token),
    path("amazon/tokens/2021-03-01/restrictedDataToken", sandbox.amazon_rdt),
    path("amazon/orders/v0/orders", sandbox.amazon_orders),
    path("amazon/orders/v0/orders/<str:order_id>", sandbox.amazon_order),
    path("amazon/orders/v0/orders/<str:order_id>/address", sandbox.amazon_order_address),
    path("amazon/orders/v0/orders/<str:order_id>/buyerInfo", sandbox.amazon_order_buyer_info),
    path("amazon/orders/v0/orders/<str:order_id>/orderItems", sandbox.amazon_order_items),
    path("amazon/orders/v0/orders/<str:order_id>/shipmentConfirmation",
         sandbox.amazon_confirm_shipment),
    path("taobao/router/rest", sandbox_cn.top_router),
    path("pinduoduo/api/router", sandbox_cn.pdd_router),
    path("douyin/<str:group>/<str:name>", sandbox_cn.douyin_api),
    path("youzan/auth/token", sandbox_cn.youzan_token),
    path("youzan/api/<str:name>/<str:version>", sandbox_cn.youzan_api),
]
