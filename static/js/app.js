// Page glue for OrderHub: toasts, conditional polls, and keeping deliberate error fragments
// on the page.
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

  // Polls that wait for a condition. An htmx trigger filter ("every 60s [cond]") is eval,
  // which the Content-Security-Policy forbids, so such an element says hx-trigger="poll" and:
  //   data-poll-every="60"       a "poll" event every 60 s while the tab is visible,
  //   data-poll-unless="sel"     ...skipped while something matches sel (a half-done selection),
  //   data-poll-on-visible       ...and one at once when the tab becomes visible again.
  function pollAllowed(el) {
    if (document.visibilityState !== "visible") return false;
    var unless = el.dataset.pollUnless;
    return !(unless && document.querySelector(unless));
  }

  function armPolls(root) {
    var found = Array.from(root.querySelectorAll ? root.querySelectorAll("[data-poll-every]") : []);
    if (root.matches && root.matches("[data-poll-every]")) found.push(root);
    found.forEach(function (el) {
      if (el.__pollTimer) return;
      el.__pollTimer = setInterval(function () {
        // Swapped away: stop this timer (its replacement arms its own).
        if (!el.isConnected) { clearInterval(el.__pollTimer); return; }
        if (pollAllowed(el)) htmx.trigger(el, "poll");
      }, 1000 * Number(el.dataset.pollEvery));
    });
  }

  document.addEventListener("htmx:load", function (event) { armPolls(event.target); });

  document.addEventListener("visibilitychange", function () {
    document.querySelectorAll("[data-poll-on-visible]").forEach(function (el) {
      if (pollAllowed(el)) htmx.trigger(el, "poll");
    });
  });

  // A picker that applies itself (no inline onchange under the CSP): <select data-autosubmit>.
  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-autosubmit]") && event.target.form) event.target.form.submit();
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
