// Entering an order by hand (orders/new.html).
// A picked search result goes into the first line row without a SKU.
document.addEventListener("click", function (event) {
  var pick = event.target.closest("[data-pick-sku]");
  if (!pick) return;
  var rows = document.querySelectorAll("#new-order-form .line-row");
  for (var i = 0; i < rows.length; i++) {
    var sku = rows[i].querySelector("input[name$='-sku']");
    if (sku.value) continue;
    sku.value = pick.dataset.pickSku;
    var qty = rows[i].querySelector("input[name$='-quantity']");
    if (!qty.value) qty.value = 1;
    var price = rows[i].querySelector("input[name$='-unit_price']");
    if (!price.value && pick.dataset.price) price.value = pick.dataset.price;
    qty.focus();
    return;
  }
});
