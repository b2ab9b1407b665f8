/* The documents page: lists the collection's documents (GET /api/collections/C/documents), uploads files
   dropped on the drop zone or picked with the file input (POST, multipart), follows the ingest's progress
   (GET .../ingest every 400 ms while it runs), deletes (DELETE .../documents/ID) and re-ingests (POST .../ingest).
   Every text from the server is shown as text, never as HTML. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var SVG = "http://www.w3.org/2000/svg";

  function api() { return "/api/collections/" + encodeURIComponent($("rag-docs-collection").value); }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function trash() {   // an inline SVG icon, hidden from screen readers
    var s = document.createElementNS(SVG, "svg");
    s.setAttribute("viewBox", "0 0 24 24");
    s.setAttribute("aria-hidden", "true");
    s.setAttribute("class", "rag-svg");
    ["M3 6h18", "M8 6V4h8v2", "M6 6l1 14h10l1-14"].forEach(function (d) {
      var p = document.createElementNS(SVG, "path");
      p.setAttribute("d", d);
      s.append(p);
    });
    return s;
  }

  function size(n) {
    if (n == null) return "–";
    if (n < 1024) return n + " B";
    if (n < 1048576) return (n / 1024).toFixed(n < 10240 ? 1 : 0) + " KB";
    return (n / 1048576).toFixed(1) + " MB";
  }

  function say(text) { $("rag-docs-status").textContent = text || ""; }
  function fail(text) { $("rag-docs-error").textContent = text || ""; }

  async function call(method, url, body) {
    var r = await fetch(url, { method: method, body: body, credentials: "same-origin" });
    var data = {};
    try { data = await r.json(); } catch (e) { /* an empty or non-JSON answer */ }
    if (!r.ok) throw new Error(data.detail || ("HTTP " + r.status));
    return data;
  }

  function row(d) {
    var tr = el("tr");
    tr.dataset.id = d.id;
    var title = el("td");
    title.append(el("div", "rag-doc-title", d.title), el("div", "rag-doc-file", d.name));
    var status = el("td");
    status.dataset.label = "Status";
    status.append(el("span", "rag-status rag-status-" + d.status, d.status));
    if (d.reason) status.append(el("p", "rag-reason", d.reason));
    var cells = [["Date", d.date || "–"], ["Size", size(d.size)], ["Chunks", d.status === "indexed" ? d.chunks : "–"]];
    tr.append(title);
    cells.forEach(function (c) {
      var td = el("td", c[0] === "Date" ? "rag-nowrap" : "rag-num", String(c[1]));
      td.dataset.label = c[0];
      tr.append(td);
    });
    tr.append(status);
    var act = el("td", "rag-nowrap");
    if (d.uploaded) {
      var del = el("button", "rag-delete");
      del.type = "button";
      del.setAttribute("aria-label", "Delete " + d.name);
      del.append(trash(), document.createTextNode("Delete"));
      del.onclick = function () { remove(d); };
      act.append(del);
    } else {
      act.append(el("span", "rag-doc-file", "from rag ingest"));
    }
    tr.append(act);
    return tr;
  }

  async function load() {
    try {
      var data = await call("GET", api() + "/documents");
      $("rag-docs-rows").replaceChildren.apply($("rag-docs-rows"), data.documents.map(row));
      $("rag-docs-empty").hidden = data.documents.length > 0;
      if (data.job.state === "running") follow();
    } catch (e) { fail("Could not list the documents: " + e.message); }
  }

  function progress(job) {
    var box = $("rag-progress");
    box.hidden = job.state !== "running";
    var bar = $("rag-progress-bar");
    if (job.total) { bar.max = job.total; bar.value = job.done; } else { bar.removeAttribute("value"); }
    $("rag-progress-label").textContent = job.total ? "Indexing… " + job.done + " of " + job.total + " files"
                                                    : "Indexing…";
  }

  function summary(job) {
    if (job.state === "failed") return fail("Indexing failed: " + job.error);
    var r = job.report || {}, n = function (k) { return (r[k] || []).length; };
    say("Indexed: " + n("added") + " added, " + n("updated") + " updated, " + n("removed") + " removed, " +
        n("errors") + " skipped" + (n("errors") ? " (see the reasons below)" : "") + ".");
  }

  var following = false;
  async function follow() {
    if (following) return;
    following = true;
    try {
      for (;;) {
        var job = await call("GET", api() + "/ingest");
        progress(job);
        if (job.state !== "running") { summary(job); break; }
        await new Promise(function (ok) { setTimeout(ok, 400); });
      }
    } catch (e) { fail(e.message); }
    following = false;
    $("rag-progress").hidden = true;
    load();
  }

  async function upload(files) {
    if (!files || !files.length) return;
    fail(""); say("Uploading " + files.length + " file" + (files.length > 1 ? "s" : "") + "…");
    var form = new FormData();
    Array.prototype.forEach.call(files, function (f) { form.append("files", f, f.name); });
    try {
      var data = await call("POST", api() + "/documents", form);
      say("Uploaded " + data.saved.join(", ") + ".");
      progress(data.job);
      follow();
    } catch (e) { say(""); fail("Upload refused: " + e.message); }
  }

  async function remove(d) {
    if (!window.confirm("Delete " + d.name + "? Its file and its place in the index are removed.")) return;
    fail("");
    try {
      await call("DELETE", api() + "/documents/" + encodeURIComponent(d.id));
      say("Deleted " + d.name + ".");
      load();
    } catch (e) { fail("Could not delete " + d.name + ": " + e.message); }
  }

  async function reingest() {
    fail(""); say("");
    try { progress(await call("POST", api() + "/ingest")); follow(); } catch (e) { fail(e.message); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var drop = $("rag-drop"), input = $("rag-file");
    input.addEventListener("change", function () { upload(input.files).then(function () { input.value = ""; }); });
    ["dragenter", "dragover"].forEach(function (t) {
      drop.addEventListener(t, function (ev) { ev.preventDefault(); drop.classList.add("rag-over"); });
    });
    ["dragleave", "drop"].forEach(function (t) {
      drop.addEventListener(t, function () { drop.classList.remove("rag-over"); });
    });
    drop.addEventListener("drop", function (ev) { ev.preventDefault(); upload(ev.dataTransfer.files); });
    $("rag-reingest").addEventListener("click", reingest);
    $("rag-docs-collection").addEventListener("change", function () {
      history.replaceState(null, "", "?collection=" + encodeURIComponent(this.value));
      fail(""); say(""); load();
    });
    load();
  });
})();
