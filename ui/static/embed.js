/* The compact chat inside the widget's iframe: plain DOM, text only (never innerHTML), REST API calls. */
(function () {
  "use strict";
  var params = new URLSearchParams(location.search);
  var collection = params.get("collection") || "";
  var accent = params.get("accent") || "";
  if (/^#[0-9a-fA-F]{3,8}$|^[a-zA-Z]{3,20}$/.test(accent)) document.documentElement.style.setProperty("--accent", accent);
  var history = [];  // this conversation's turns, for follow-up questions (gone on reload: a new conversation)
  var $ = function (id) { return document.getElementById(id); };
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
    fetch("/api/feedback", { method: "POST", headers: { "Content-Type": "application/json" },
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
    var up = el("button", null, "👍"), down = el("button", null, "👎");
    up.type = down.type = "button";
    up.setAttribute("aria-label", "Helpful");
    down.setAttribute("aria-label", "Not helpful");
    up.onclick = function () { sendFeedback(a, "up", input, row); };
    down.onclick = function () { sendFeedback(a, "down", input, row); };
    row.append(input, up, down);
    box.append(row);
    return box;
  }

  function add(node) { log.append(node); node.scrollIntoView({ block: "end" }); }

  async function ask(question) {
    notice.textContent = "";
    var send = $("rag-send");
    send.disabled = true;
    try {
      var r = await fetch("/api/ask", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ question: question, history: history, collection: collection || null }) });
      var a = await r.json();
      if (!r.ok) throw new Error(typeof a.detail === "string" ? a.detail : "The question could not be sent.");
      exs.replaceChildren();
      add(el("div", "rag-msg user", a.question));
      add(botMessage(a));
      history.push({ role: "user", content: a.question }, { role: "assistant", content: a.answer });
      history = history.slice(-20);
      q.value = "";
    } catch (err) {
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
  document.addEventListener("keydown", function (ev) {  // Escape inside the widget closes it (see widget.js)
    if (ev.key === "Escape" && window.parent !== window) window.parent.postMessage({ rag: "close" }, "*");
  });
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
