// OpenTI portal: progressive enhancement only. Every page works without this script;
// with it, the alert queue updates live, imports show progress and values can be copied.
// Served from the portal itself (the Content-Security-Policy allows no inline script).
(function () {
  "use strict";

  function csrfToken() {
    return document.body ? document.body.getAttribute("data-csrf") || "" : "";
  }

  // --- copy buttons: <button data-copy="element-id"> -------------------------------------
  function setupCopy() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var target = document.getElementById(button.getAttribute("data-copy"));
        if (!target) return;
        var text = target.value !== undefined ? target.value : target.textContent;
        var done = function () {
          var label = button.textContent;
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = label; }, 1500);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, function () { target.select(); });
        } else if (target.select) {
          target.focus();
          target.select();
          try { document.execCommand("copy"); done(); } catch (e) { /* selected for the user */ }
        }
      });
    });
  }

  // --- confirmation: <form data-confirm="question"> ---------------------------------------
  function setupConfirm() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
  }

  // --- live alert queue -------------------------------------------------------------------
  function setupLiveQueue() {
    var tbody = document.getElementById("alert-rows");
    if (!tbody || !tbody.getAttribute("data-stream") || !window.EventSource) return;
    var indicator = document.getElementById("live-indicator");
    var status = document.getElementById("live-status");
    var source = new EventSource(tbody.getAttribute("data-stream"));

    function rowFrom(html) {
      var template = document.createElement("template");
      template.innerHTML = html.trim(); // server-rendered and escaped
      return template.content.firstElementChild;
    }

    function place(row, isNew) {
      var id = Number(row.getAttribute("data-alert-id"));
      var existing = tbody.querySelector('tr[data-alert-id="' + id + '"]');
      if (existing) {
        existing.replaceWith(row);
        return;
      }
      if (!isNew) return; // a change to an alert not on this page
      var empty = tbody.querySelector("tr.empty-row");
      if (empty) empty.remove();
      // newest first: before the first row with a smaller id
      var before = Array.prototype.find.call(tbody.rows, function (r) {
        return Number(r.getAttribute("data-alert-id")) < id;
      });
      tbody.insertBefore(row, before || null);
      row.classList.add("fresh");
    }

    function handle(isNew) {
      return function (event) {
        var data;
        try { data = JSON.parse(event.data); } catch (e) { return; }
        var row = rowFrom(data.html);
        if (!row) return;
        place(row, isNew);
        if (isNew && status) status.textContent = "New " + data.severity + " alert: " + data.title;
      };
    }

    source.addEventListener("alert", handle(true));
    source.addEventListener("update", handle(false));
    source.addEventListener("open", function () {
      if (indicator) { indicator.hidden = false; indicator.classList.remove("offline"); }
      tbody.setAttribute("data-live", "open");
    });
    source.addEventListener("error", function () {
      if (indicator) indicator.classList.add("offline");
      tbody.setAttribute("data-live", "reconnecting");
    });
  }

  // --- CSV import with progress -----------------------------------------------------------
  function setupImport() {
    var form = document.getElementById("import-form");
    if (!form || !window.XMLHttpRequest || !window.FormData) return;
    var box = document.getElementById("import-progress");
    var bar = document.getElementById("import-bar");
    var stage = document.getElementById("import-stage");
    var result = document.getElementById("import-result");
    var button = form.querySelector("button[type=submit]");

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var xhr = new XMLHttpRequest();
      var seen = 0;
      var finished = false;
      box.hidden = false;
      bar.value = 0;
      stage.textContent = "Uploading…";
      result.innerHTML = "";
      button.disabled = true;
      form.setAttribute("aria-busy", "true");

      function show(html) {
        finished = true;
        result.innerHTML = html; // server-rendered and escaped
        result.focus();
        button.disabled = false;
        form.removeAttribute("aria-busy");
      }

      function readLines() {
        var text = xhr.responseText;
        var end = text.lastIndexOf("\n");
        if (end < seen) return;
        text.slice(seen, end).split("\n").forEach(function (line) {
          if (!line.trim()) return;
          var msg;
          try { msg = JSON.parse(line); } catch (e) { return; }
          if (msg.stage === "validating") {
            bar.value = 50 + Math.round(45 * (msg.total ? msg.done / msg.total : 1));
            stage.textContent = "Checking row " + msg.done.toLocaleString() + " of " + msg.total.toLocaleString() + "…";
          } else if (msg.stage === "saving") {
            bar.value = 96;
            stage.textContent = "Saving " + msg.total.toLocaleString() + " IOCs…";
          } else if (msg.stage === "done") {
            bar.value = 100;
            stage.textContent = msg.ok ? "Done." : "Stopped: nothing was imported.";
            show(msg.html);
          }
        });
        seen = end + 1;
      }

      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          bar.value = Math.round(50 * e.loaded / e.total);
          stage.textContent = "Uploading… " + Math.round(100 * e.loaded / e.total) + "%";
        }
      });
      xhr.addEventListener("progress", readLines);
      xhr.addEventListener("load", function () {
        readLines();
        if (!finished) {
          stage.textContent = "The import failed (" + xhr.status + ").";
          var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
          var main = doc.querySelector("main");
          var p = document.createElement("p");
          p.className = "alert-error";
          p.setAttribute("role", "alert");
          p.textContent = main ? main.textContent.trim() : "The server refused the file.";
          result.innerHTML = "";
          result.appendChild(p);
          button.disabled = false;
          form.removeAttribute("aria-busy");
        }
      });
      xhr.addEventListener("error", function () {
        stage.textContent = "The upload failed: the server could not be reached.";
        button.disabled = false;
        form.removeAttribute("aria-busy");
      });
      xhr.open("POST", form.getAttribute("data-action"));
      xhr.setRequestHeader("X-CSRF-Token", csrfToken());
      xhr.setRequestHeader("Accept", "application/x-ndjson");
      xhr.send(new FormData(form));
    });
  }

  function init() {
    setupCopy();
    setupConfirm();
    setupLiveQueue();
    setupImport();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
