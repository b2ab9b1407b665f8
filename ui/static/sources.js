/* Citation links (#cite?d=..&s=..&e=..&n=..&l=..&c=..) open the source panel: the stored text, shown as
   text (never HTML), with the cited span highlighted and scrolled into view. Used by / and /embed. */
(function () {
  "use strict";
  var base = (document.currentScript && document.currentScript.dataset.base) || "/";

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function panel() { return document.getElementById("rag-source-panel"); }

  async function show(p) {
    var box = panel();
    if (!box) return;
    var s = parseInt(p.get("s"), 10) || 0, e = parseInt(p.get("e"), 10) || 0, col = p.get("c") || "";
    box.replaceChildren(el("p", "rag-hint", "Loading the source…"));
    var doc;
    try {
      var r = await fetch(base + "api/sources/" + encodeURIComponent(p.get("d") || "") +
                          (col ? "?collection=" + encodeURIComponent(col) : ""),
                          { headers: window.ragKey ? { Authorization: "Bearer " + window.ragKey } : {} });
      doc = await r.json();
      if (!r.ok) throw new Error(doc.detail || ("HTTP " + r.status));
    } catch (err) {
      box.replaceChildren(el("p", "rag-error", "Could not load the source: " + err.message));
      return;
    }
    var head = el("header", "rag-source-head");
    head.append(el("h3", null, "[" + (p.get("n") || "?") + "] " + doc.title));
    head.append(el("p", "rag-meta", [doc.date, p.get("l"), doc.source].filter(Boolean).join(" · ")));
    var body = el("div", "rag-text");
    var mark = el("mark", "rag-cited", doc.text.slice(s, e));
    mark.id = "rag-cited";
    mark.tabIndex = -1;
    body.append(document.createTextNode(doc.text.slice(0, s)), mark, document.createTextNode(doc.text.slice(e)));
    box.replaceChildren(head, body);
    mark.scrollIntoView({ block: "center" });
    mark.focus({ preventScroll: true });
  }

  window.ragClearSource = function () {
    var box = panel();
    if (box) box.replaceChildren(el("p", "rag-hint", "Click a citation such as [1] to see the passage in its source."));
  };

  document.addEventListener("click", function (ev) {
    var a = ev.target && ev.target.closest && ev.target.closest('a[href*="#cite?"]');
    if (!a) return;
    ev.preventDefault();
    ev.stopPropagation();
    var href = a.getAttribute("href");
    show(new URLSearchParams(href.slice(href.indexOf("#cite?") + 6)));
  }, true);
})();
