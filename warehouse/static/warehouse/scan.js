/* Phone scanning screen (picking, and pack-verify at the packing bench).
 * No framework, no CDN.
 *
 * Scans go into a queue kept in localStorage, each with its own idempotency
 * key, and are sent one at a time: a few seconds of bad Wi-Fi delays them but
 * loses none, and a retried request never counts twice (the server answers a
 * known key with its first result).
 *
 * ``data-mode`` is "pick" or "pack": the same flow (scan a code to open the
 * order, scan each item, finish) against different URLs. Camera scanning uses
 * the browser's BarcodeDetector where it exists and the vendored ZXing library
 * (loaded on first use) everywhere else.
 *
 * A hardware (wedge) scanner types keystrokes + Enter into whatever has focus,
 * so the barcode input keeps the focus after every tap, swap, dialog and
 * answer, and keystrokes that land elsewhere are steered into it. The screen
 * polls the server for the task's state: a hold and its release, a task taken
 * on another device and one closed elsewhere show up without a reload.
 */
(function () {
  "use strict";
  var app = document.getElementById("app");
  if (!app) return;
  var $ = function (id) { return document.getElementById(id); };
  var strings = $("t-strings").dataset;
  var csrf = app.dataset.csrf;
  var mode = app.dataset.mode || "pick";
  // Pick and pack scans point at different endpoints: never mix their queues.
  var QUEUE_KEY = mode === "pack" ? "orderhub-pack-queue" : "orderhub-scan-queue";
  var task = JSON.parse($("task-state").textContent || "null");
  var sending = false;
  var retryDelay = 500;
  var POLL_MS = 3000;
  // Bumped by every answer that carries the task: a poll started before it is stale.
  var generation = 0;
  // The task whose lines the screen shows: a different one starts with a clean slate.
  var shownTaskId = null, shownHeld = false;

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
  }
  function loadQueue() {
    try { return JSON.parse(localStorage.getItem(QUEUE_KEY) || "[]"); } catch (e) { return []; }
  }
  function saveQueue(q) { localStorage.setItem(QUEUE_KEY, JSON.stringify(q)); showNet(q.length); }
  function taskUrl(id, suffix) { return app.dataset.taskUrl.replace("/0/", "/" + id + "/") + (suffix || ""); }

  function post(url, data) {
    var body = data instanceof FormData ? data : new URLSearchParams(data || {});
    return fetch(url, {
      method: "POST", body: body, credentials: "same-origin",
      headers: {"X-CSRFToken": csrf, "Accept": "application/json"}
    }).then(function (r) {
      return r.json().catch(function () { return {error: r.statusText}; }).then(function (json) {
        json._status = r.status; return json;
      });
    });
  }

  // --- feedback ---------------------------------------------------------------
  var audio;
  function beep(ok) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var osc = audio.createOscillator(), gain = audio.createGain();
      osc.type = ok ? "sine" : "square";
      osc.frequency.value = ok ? 1200 : 220;
      gain.gain.value = ok ? 0.15 : 0.4;
      osc.connect(gain); gain.connect(audio.destination);
      osc.start(); osc.stop(audio.currentTime + (ok ? 0.08 : 0.45));
    } catch (e) { /* no audio: the flash and the message still show */ }
  }
  function refuse(message) {
    var flash = $("flash");
    flash.textContent = message;
    flash.hidden = false;
    flash.classList.remove("on"); void flash.offsetWidth; flash.classList.add("on");
    beep(false);
    if (navigator.vibrate) navigator.vibrate([200, 80, 200]);
    setMessage(message, "bad");
    clearTimeout(refuse.t);
    refuse.t = setTimeout(function () { flash.hidden = true; }, 1400);
  }
  function setMessage(text, kind) {
    var el = task ? $("msg") : $("idle-msg");
    el.textContent = text || "";
    el.className = "msg " + (kind || "");
  }
  function showNet(n) {
    var net = $("net");
    net.hidden = !n;
    net.textContent = n ? strings.offline.replace("%(n)s", n) : "";
  }

  // --- rendering ---------------------------------------------------------------
  function render() {
    $("idle").hidden = !!task;
    $("task").hidden = !task;
    var id = task ? task.id : null;
    if (id !== shownTaskId) {
      // A new task (or none) never shows the previous task's messages.
      $("msg").textContent = ""; $("msg").className = "msg";
      if (task) {
        $("idle-msg").textContent = ""; $("idle-msg").className = "msg";
        if ($("label-link")) $("label-link").hidden = true;
      }
      shownTaskId = id; shownHeld = false;
    }
    keepFocus();
    if (!task) return;
    $("order-no").textContent = task.order;
    $("urgent").hidden = !task.urgent;
    var pct = task.total ? Math.round(100 * task.picked / task.total) : 0;
    $("progress-fill").style.width = pct + "%";
    $("progressbar").setAttribute("aria-valuenow", task.picked);
    $("progressbar").setAttribute("aria-valuemax", task.total);
    $("progress-text").textContent = task.picked + " / " + task.total;
    var ul = $("lines");
    ul.textContent = "";
    task.lines.forEach(function (ln) {
      var li = document.createElement("li");
      li.className = "line" + (ln.picked >= ln.quantity ? " done" : "") + (ln.gift ? " gift" : "");
      li.dataset.sku = ln.sku;
      var bin = document.createElement("span"); bin.className = "bin"; bin.textContent = ln.bin || "—";
      var name = document.createElement("span"); name.className = "name";
      name.textContent = (ln.gift ? strings.gift + " · " : "") + ln.name;
      var sku = document.createElement("small"); sku.textContent = ln.sku; name.appendChild(sku);
      var qty = document.createElement("span"); qty.className = "qty"; qty.textContent = ln.picked + "/" + ln.quantity;
      li.appendChild(bin); li.appendChild(name); li.appendChild(qty);
      ul.appendChild(li);
    });
    var held = !!task.on_hold;
    $("finish").disabled = !task.complete || held;
    if (held) {
      setMessage(strings.held.replace("%(number)s", task.order)
                 .replace("%(reason)s", task.hold_reason || "—"), "hold");
    } else if (shownHeld) {
      setMessage(strings.released.replace("%(number)s", task.order), "good");
    } else if (task.complete) {
      setMessage(strings.pickedAll, "good");
    } else if ($("msg").textContent === strings.pickedAll) {
      $("msg").textContent = "";
    }
    shownHeld = held;
  }

  // --- focus -------------------------------------------------------------------------
  var input = $("scan-input");
  function dialogOpen() { return !!document.querySelector("dialog[open]"); }
  function keepFocus() {
    if (dialogOpen() || document.activeElement === input) return;
    input.focus({preventScroll: true});
  }
  // After a tap the browser moves focus to the tapped button (Enter from the scanner
  // would press it) or to nothing: give it back once the tap's own work has run.
  document.addEventListener("click", function (ev) {
    if (ev.target.closest("dialog")) return;
    setTimeout(keepFocus, 0);
  });
  input.addEventListener("blur", function () { setTimeout(keepFocus, 0); });
  window.addEventListener("focus", keepFocus);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { keepFocus(); refresh(); }
  });
  // Belt and braces: a keystroke that still lands outside an input is steered into it
  // before the browser types it (the scanner's first character is not lost).
  document.addEventListener("keydown", function (ev) {
    if (dialogOpen() || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var el = document.activeElement;
    if (el === input || (el && el.matches("input, textarea, select"))) return;
    if (ev.key === "Enter") {
      ev.preventDefault();
      input.focus({preventScroll: true});
      $("scan-form").requestSubmit();
    } else if (ev.key.length === 1) {
      input.focus({preventScroll: true});
    }
  });

  // --- scanning --------------------------------------------------------------
  function flush() {
    if (sending) return;
    var queue = loadQueue();
    if (!queue.length) return;
    var item = queue[0];
    sending = true;
    post(taskUrl(item.task, "scan/"), {barcode: item.barcode, key: item.key}).then(function (res) {
      sending = false;
      if (res._status >= 500) throw new Error("server");
      saveQueue(loadQueue().filter(function (q) { return q.key !== item.key; }));
      retryDelay = 500;
      if (res.error) {
        refuse(res.error);
        // Held, closed or taken elsewhere: ask the server what the task is now.
        if (res._status === 409) refresh();
      } else {
        if (res.task && task && res.task.id === task.id) { task = res.task; generation++; }
        if (res.ok) { beep(true); setMessage(res.message, "good"); if (navigator.vibrate) navigator.vibrate(40); }
        else refuse(res.message);
        render();
      }
      flush();
    }).catch(function () {
      sending = false;
      showNet(loadQueue().length);
      setTimeout(flush, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 5000);
    });
  }

  function claim(url, data) {
    return post(url, data).then(function (res) {
      // e.g. "Finish order X first": the task open elsewhere comes back with the refresh.
      if (res.error) { refuse(res.error); refresh(); return; }
      task = res.task; generation++;
      render();
      if (!task && res.message) setMessage(res.message, "");
    }).catch(function () { refuse(strings.network); }).then(keepFocus);
  }

  // The server's view of the task: the picker's open task (pick mode) or the open
  // check re-read (pack mode). Skipped while scans are queued: their answers carry it.
  function refresh() {
    if (sending || loadQueue().length) return;
    var url = app.dataset.currentUrl || (task ? taskUrl(task.id) : null);
    if (!url) return;
    var asked = generation;
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (res) {
        if (!res || !("task" in res) || asked !== generation || sending) return;
        var fresh = res.task && res.task.status === "open" ? res.task : null;
        if (JSON.stringify(fresh) === JSON.stringify(task)) return;
        task = fresh; generation++;
        render();
      }).catch(function () { /* offline: the next poll tries again */ });
  }

  function onScan(code) {
    code = (code || "").trim();
    if (!code) return;
    if (!task) { claim(app.dataset.claimUrl, {code: code}); return; }
    var queue = loadQueue();
    queue.push({task: task.id, barcode: code, key: uuid()});
    saveQueue(queue);
    flush();
  }

  $("scan-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    onScan(input.value);
    input.value = "";
    keepFocus();
  });

  if ($("take")) $("take").addEventListener("click", function () { claim(app.dataset.nextUrl, {}); });

  var labelLink = $("label-link");
  function closeTask(suffix) {
    if (!task) return;
    post(taskUrl(task.id, suffix)).then(function (res) {
      if (res.error) { refuse(res.error); return; }
      task = null; generation++; render(); setMessage(res.message, "good"); beep(true);
      if (labelLink) {
        labelLink.hidden = !res.label_url;
        labelLink.href = res.label_url || "";
      }
    }).catch(function () { refuse(strings.network); }).then(function () {
      refresh(); keepFocus();
    });
  }
  $("finish").addEventListener("click", function () { closeTask("finish/"); });
  if ($("abandon")) $("abandon").addEventListener("click", function () { closeTask("abandon/"); });

  // --- problems ------------------------------------------------------------------
  var dialog = $("problem");
  if (dialog) $("problem-open").addEventListener("click", function () { dialog.showModal(); });
  // Closed by Cancel, Send or Escape: the scanner's input takes the focus back.
  if (dialog) dialog.addEventListener("close", function () { setTimeout(keepFocus, 0); });
  if (dialog) $("problem-form").addEventListener("submit", function (ev) {
    if (ev.submitter && ev.submitter.value === "cancel") return;
    ev.preventDefault();
    var data = new FormData(ev.target);
    post(taskUrl(task.id, "problem/"), data).then(function (res) {
      if (res.error) { refuse(res.error); return; }
      dialog.close(); ev.target.reset();
      setMessage(res.message, "good");
      keepFocus();
    }).catch(function () { refuse(strings.network); });
  });

  // --- camera ----------------------------------------------------------------------
  var FORMATS = ["code_128", "ean_13", "upc_a", "qr_code"];

  function loadZxing() {
    if (window.ZXingBrowser) return Promise.resolve(window.ZXingBrowser);
    if (loadZxing.p) return loadZxing.p;
    loadZxing.p = new Promise(function (resolve, reject) {
      var el = document.createElement("script");
      el.src = app.dataset.zxingUrl;
      el.onload = function () { resolve(window.ZXingBrowser); };
      el.onerror = function () { loadZxing.p = null; reject(new Error("zxing")); };
      document.head.appendChild(el);
    });
    return loadZxing.p;
  }
  function zxingReader(Z) {
    var reader = new Z.BrowserMultiFormatReader(undefined, {delayBetweenScanAttempts: 150});
    reader.possibleFormats = [Z.BarcodeFormat.CODE_128, Z.BarcodeFormat.EAN_13,
                              Z.BarcodeFormat.UPC_A, Z.BarcodeFormat.QR_CODE];
    return reader;
  }
  // Some browsers have BarcodeDetector but no formats behind it (no platform decoder).
  function nativeDetector() {
    if (!("BarcodeDetector" in window)) return Promise.resolve(null);
    return window.BarcodeDetector.getSupportedFormats().then(function (have) {
      var formats = FORMATS.filter(function (f) { return have.indexOf(f) >= 0; });
      return formats.length ? new window.BarcodeDetector({formats: formats}) : null;
    }).catch(function () { return null; });
  }

  // A code in view is seen many times a second: count it once, and count the same
  // code again only after it left the view (the next unit of the same item).
  var lastCode = "", lastSeen = 0, REARM_MS = 800;
  function onCameraCode(code) {
    if (!code) return;
    var now = Date.now(), fresh = code !== lastCode || now - lastSeen > REARM_MS;
    lastCode = code; lastSeen = now;
    if (fresh) onScan(code);
  }

  var camBtn = $("camera"), video = $("camera-view"), stopCamera = null;
  function cameraOff() {
    if (stopCamera) stopCamera();
    stopCamera = null; video.hidden = true; camBtn.classList.remove("on");
    keepFocus();
  }
  function startNative(detector) {
    return navigator.mediaDevices.getUserMedia({video: {facingMode: "environment"}}).then(function (s) {
      var live = true;
      video.srcObject = s; video.hidden = false; video.play();
      stopCamera = function () { live = false; s.getTracks().forEach(function (t) { t.stop(); }); };
      (function loop() {
        if (!live) return;
        detector.detect(video).then(function (codes) {
          if (codes.length) onCameraCode(codes[0].rawValue);
        }).catch(function () {}).then(function () { setTimeout(loop, 200); });
      })();
    });
  }
  function startZxing() {
    return loadZxing().then(function (Z) {
      video.hidden = false;
      return zxingReader(Z).decodeFromConstraints(
        {video: {facingMode: "environment"}}, video,
        function (result) { if (result) onCameraCode(result.getText()); });
    }).then(function (controls) { stopCamera = function () { controls.stop(); }; });
  }
  if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    camBtn.hidden = false;
    camBtn.addEventListener("click", function () {
      if (stopCamera) { cameraOff(); return; }
      camBtn.classList.add("on");
      nativeDetector().then(function (detector) {
        return detector ? startNative(detector) : startZxing();
      }).catch(function (e) {
        cameraOff();
        refuse(strings.cameraError + (e && e.name ? " (" + e.name + ")" : ""));
      });
    });
  }
  // Decode a still image with the fallback decoder (used by the browser tests).
  window.orderhubDecodeImage = function (url) {
    // The picture is fully decoded before ZXing draws it: on a busy phone a
    // "complete" image not yet decoded can reach the canvas blank.
    return loadZxing().then(function (Z) {
      var img = new Image();
      img.src = url;
      return img.decode().then(function () { return zxingReader(Z).decodeFromImageElement(img); });
    }).then(function (result) { return result.getText(); });
  };

  window.addEventListener("online", flush);
  setInterval(flush, 3000);
  setInterval(function () { if (!document.hidden) refresh(); }, POLL_MS);
  render();
  showNet(loadQueue().length);
  flush();
  keepFocus();
})();
