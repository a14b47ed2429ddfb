// Page glue for OrderHub: toasts, and keeping deliberate error fragments on the page.
(function () {
  "use strict";

  function dismissLater(toast) {
    if (toast.dataset.timer) return;
    toast.dataset.timer = "1";
    // Errors stay until closed: someone has to read them.
    if (toast.classList.contains("toast-error")) return;
    setTimeout(function () { toast.remove(); }, 6000);
  }

  function armToasts() {
    document.querySelectorAll("#toasts .toast").forEach(dismissLater);
  }

  document.addEventListener("click", function (event) {
    var close = event.target.closest(".toast-close");
    if (close) close.closest(".toast").remove();
    // A click outside an open reason popover closes it.
    document.querySelectorAll("details.reason-action[open]").forEach(function (d) {
      if (!d.contains(event.target)) d.removeAttribute("open");
    });
  });

  document.addEventListener("DOMContentLoaded", function () {
    armToasts();
    // Our 4xx answers that carry HX-Reswap are fragments to swap in (a refused
    // action, a bad filter). Stop the event before django-htmx's debug hook on
    // document, which would otherwise replace the whole page with the fragment.
    document.body.addEventListener("htmx:beforeOnLoad", function (event) {
      var xhr = event.detail.xhr;
      if (xhr && xhr.status >= 400 && xhr.status < 500 && xhr.getResponseHeader("HX-Reswap")) {
        event.stopPropagation();
      }
    });
    document.body.addEventListener("htmx:afterSettle", armToasts);
    // A refused action: fold its reason popover and bring the message into view.
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (event.detail.target && event.detail.target.id === "action-alert") {
        document.querySelectorAll("details.reason-action[open]").forEach(function (d) {
          d.removeAttribute("open");
        });
        event.detail.target.scrollIntoView({block: "nearest"});
      }
    });
    document.body.addEventListener("htmx:oobAfterSwap", armToasts);
    // The phone menu closes once a link in it was followed.
    document.body.addEventListener("htmx:beforeRequest", function () {
      var toggle = document.getElementById("nav-toggle");
      if (toggle) toggle.checked = false;
    });
  });
})();
