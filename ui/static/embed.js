/* The compact chat inside the widget's iframe: plain DOM, text only (never innerHTML), REST API calls. */
(function () {
  "use strict";
  var params = new URLSearchParams(location.search);
  var collection = params.get("collection") || "";
  var key = /^ragpk_[0-9a-f]{8}_[A-Za-z0-9_-]+$/.test(params.get("key") || "") ? params.get("key") : "";
  window.ragKey = key;  // a publishable widget key (asking only): sent with every API call, read by sources.js
  var headers = { "Content-Type": "application/json" };
  if (key) headers.Authorization = "Bearer " + key;
  var accent = params.get("accent") || "";
  if (/^#[0-9a-fA-F]{3,8}$|^[a-zA-Z]{3,20}$/.test(accent)) document.documentElement.style.setProperty("--rag-accent", accent);
  var history = [];  // this conversation's turns, for follow-up questions (gone on reload: a new conversation)
  var $ = function (id) { return document.getElementById(id); };
  var THUMB_UP = ["M7 10v11", "M15 5.9 14 10h5.8a2 2 0 0 1 1.9 2.6l-2.3 7A2 2 0 0 1 17.5 21H4a1 1 0 0 1-1-1v-9a1 1 0 0 1 1-1h2.8a2 2 0 0 0 1.8-1.1L12 2a3.1 3.1 0 0 1 3 3.9z"];
  var THUMB_DOWN = ["M17 14V3", "M9 18.1 10 14H4.2a2 2 0 0 1-1.9-2.6l2.3-7A2 2 0 0 1 6.5 3H20a1 1 0 0 1 1 1v9a1 1 0 0 1-1 1h-2.8a2 2 0 0 0-1.8 1.1L12 22a3.1 3.1 0 0 1-3-3.9z"];
  var log = $("rag-log"), form = $("rag-form"), q = $("rag-q"), notice = $("rag-notice"), exs = $("rag-examples");

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function citeLink(c) {
    var p = new URLSearchParams({ d: c.doc_id, s: c.start, e: c.end, n: c.n, l: c.locator, c: collection });
    var a = el("a", "rag-cite", "[" + c.n + "]");
    a.href = "#cite?" + p.toString();
    a.setAttribute("aria-label", "Show source " + c.n + ": " + c.title);
    return a;
  }

  function sendFeedback(a, verdict, input, row) {
    fetch("/api/feedback", { method: "POST", headers: headers,
      body: JSON.stringify({ question: a.question, answer: a.answer, verdict: verdict, comment: input.value || null,
                             citations: a.citations, collection: collection || null }) })
      .then(function (r) { row.replaceChildren(el("span", null, r.ok ? "Thanks for the feedback." : "Feedback failed.")); });
  }

  function botMessage(a) {
    var box = el("div", "rag-msg bot");
    var byN = {};
    a.citations.forEach(function (c) { byN[c.n] = c; });
    a.answer.split(/(\[\d+\])/).forEach(function (part) {
      var m = /^\[(\d+)\]$/.exec(part);
      box.append(m && byN[m[1]] ? citeLink(byN[m[1]]) : document.createTextNode(part));
    });
    (a.notes || []).forEach(function (note) { box.append(el("div", "rag-note", note)); });
    if (a.citations.length) {
      box.append(el("div", "rag-label", a.refused ? "See also:" : "Sources:"));
      var ol = el("ol");
      a.citations.forEach(function (c) {
        var li = el("li");
        li.append(citeLink(c), document.createTextNode(" " + c.title + (c.date ? ", " + c.date : "") + " — " + c.locator));
        ol.append(li);
      });
      box.append(ol);
    }
    var row = el("div", "rag-fb"), input = el("input");
    input.type = "text";
    input.placeholder = "Comment (optional)";
    input.setAttribute("aria-label", "Comment on this answer (optional)");
    var up = el("button", "rag-thumb"), down = el("button", "rag-thumb");
    up.append(window.ragIcon(THUMB_UP));
    down.append(window.ragIcon(THUMB_DOWN));
    up.type = down.type = "button";
    up.setAttribute("aria-label", "Helpful");
    down.setAttribute("aria-label", "Not helpful");
    up.onclick = function () { sendFeedback(a, "up", input, row); };
    down.onclick = function () { sendFeedback(a, "down", input, row); };
    row.append(input, up, down);
    if (!key) box.append(row);  // widget keys may only ask
    return box;
  }

  function add(node) { log.append(node); node.scrollIntoView({ block: "end" }); }

  // POST /api/ask as server-sent events: the words show as they are written, then the checked answer
  // (the `answer` event) replaces them.
  async function ask(question) {
    notice.textContent = "";
    var send = $("rag-send");
    send.disabled = true;
    var pending = null;
    try {
      var r = await fetch("/api/ask", { method: "POST", headers: headers,
        body: JSON.stringify({ question: question, history: history, collection: collection || null, stream: true }) });
      if (!r.ok) {
        var e = await r.json().catch(function () { return {}; });
        throw new Error(typeof e.detail === "string" ? e.detail : "The question could not be sent.");
      }
      exs.replaceChildren();
      add(el("div", "rag-msg user", question));
      pending = el("div", "rag-msg bot rag-pending", "");
      add(pending);
      var a = null, reader = r.body.getReader(), decoder = new TextDecoder(), buf = "";
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) break;
        buf += decoder.decode(chunk.value, { stream: true });
        var parts = buf.split("\n\n");
        buf = parts.pop();
        parts.forEach(function (block) {
          var kind = (/^event: (.*)$/m.exec(block) || [])[1], data = (/^data: (.*)$/m.exec(block) || [])[1];
          if (!kind || data === undefined) return;
          var d = JSON.parse(data);
          if (kind === "token") pending.textContent += d.text;
          else if (kind === "answer") a = d;
          else if (kind === "error") throw new Error(d.detail);
        });
      }
      if (!a) throw new Error("The answer was cut off; please try again.");
      var box = botMessage(a);
      pending.replaceWith(box);
      pending = null;
      box.scrollIntoView({ block: "end" });
      history.push({ role: "user", content: a.question }, { role: "assistant", content: a.answer });
      history = history.slice(-20);
      q.value = "";
    } catch (err) {
      if (pending) pending.remove();
      notice.textContent = err.message;
    } finally {
      send.disabled = false;
      q.focus();
    }
  }

  function examples() {
    exs.replaceChildren();
    JSON.parse($("rag-embed").dataset.examples || "[]").forEach(function (text) {
      var li = el("li"), b = el("button", null, text);
      b.type = "button";
      b.onclick = function () { ask(text); };
      li.append(b);
      exs.append(li);
    });
  }

  form.addEventListener("submit", function (ev) { ev.preventDefault(); ask(q.value); });
  q.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); ask(q.value); }
  });
  var framed = window.parent !== window;
  function closeWidget() { window.parent.postMessage({ rag: "close" }, "*"); }
  document.addEventListener("keydown", function (ev) {  // Escape inside the widget closes it (see widget.js)
    if (ev.key === "Escape" && framed) closeWidget();
  });
  if (framed) {
    window.parent.postMessage({ rag: "ready" }, "*");   // widget.js: this page may be framed here
    var x = $("rag-close-widget");
    x.hidden = false;
    x.append(window.ragIcon(["M6 6l12 12", "M18 6L6 18"]));
    x.onclick = closeWidget;
  }
  $("rag-new").onclick = function () {
    history = [];
    log.replaceChildren();
    $("rag-source-panel").replaceChildren();
    notice.textContent = "";
    examples();
    q.focus();
  };
  examples();
})();
