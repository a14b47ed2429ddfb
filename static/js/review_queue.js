// The review queue (fulfillment/review_queue.html).
// Select all / count, and refuse a bulk reject without a reason before posting.
(function () {
  var form = document.getElementById("review-bulk");
  if (!form) return;
  var all = document.getElementById("review-select-all");
  var picks = function () { return Array.from(document.querySelectorAll("#review-rows input.bulk-pick")); };
  var count = function () {
    var n = picks().filter(function (c) { return c.checked; }).length;
    document.getElementById("review-selected").textContent = n ? form.dataset.selected + " " + n : "";
  };
  all.addEventListener("change", function () { picks().forEach(function (c) { c.checked = all.checked; }); count(); });
  document.addEventListener("change", function (e) { if (e.target.classList.contains("bulk-pick")) count(); });
  form.addEventListener("submit", function (e) {
    if (!picks().some(function (c) { return c.checked; })) { e.preventDefault(); alert(form.dataset.none); return; }
    if (e.submitter && e.submitter.value === "reject" && !document.getElementById("review-bulk-reason").value.trim()) {
      e.preventDefault(); alert(form.dataset.noReason);
    }
  });
})();
