/* Citation links (#cite?d=..&s=..&e=..&n=..&l=..&c=..) open the source drawer (a side drawer on wide screens,
   a bottom sheet on phones): a header that stays in view (title, date, locator, close) above the stored text,
   shown as text (never HTML), with the cited span softly highlighted and scrolled into view; "Open original"
   downloads the file it was indexed from when the server still has it. The drawer
   follows the latest clicked citation and closes on Escape or its close button, giving focus back to the
   citation. A PDF's cited page is shown too, as an image with the span highlighted (GET /api/sources/ID/page),
   beside the text on wide screens and above it on narrow ones. Used by / and /embed. */
(function () {
  "use strict";
  var base = (document.currentScript && document.currentScript.dataset.base) || "/";
  var SVG = "http://www.w3.org/2000/svg";
  var opener = null, token = 0, pageUrl = null;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function icon(paths) {  // an inline SVG icon (stroke paths on a 24-unit grid), hidden from screen readers
    var s = document.createElementNS(SVG, "svg");
    s.setAttribute("viewBox", "0 0 24 24");
    s.setAttribute("aria-hidden", "true");
    s.setAttribute("class", "rag-svg");
    paths.forEach(function (d) {
      var p = document.createElementNS(SVG, "path");
      p.setAttribute("d", d);
      s.append(p);
    });
    return s;
  }
  window.ragIcon = icon;

  function panel() { return document.getElementById("rag-source-panel"); }

  function close() {
    var box = panel();
    if (!box || box.hidden) return;
    box.hidden = true;
    box.replaceChildren();
    forget();
    document.documentElement.classList.remove("rag-drawer-open");
    if (opener && document.contains(opener)) opener.focus();
    opener = null;
  }

  function forget() {  // the previous page image's memory
    if (pageUrl) URL.revokeObjectURL(pageUrl);
    pageUrl = null;
  }

  function frame(box, head, body) {
    var bar = el("div", "rag-source-bar");
    var x = el("button", "rag-close");
    x.type = "button";
    x.setAttribute("aria-label", "Close the source");
    x.append(icon(["M6 6l12 12", "M18 6L6 18"]));
    x.onclick = close;
    bar.append(head, x);
    box.replaceChildren(bar, body);
    box.classList.toggle("rag-with-page", body.classList.contains("rag-views"));
    box.hidden = false;
    document.documentElement.classList.add("rag-drawer-open");
  }

  async function show(p) {
    var box = panel();
    if (!box) return;
    var mine = ++token;   // a later click wins over a slower earlier one
    var s = parseInt(p.get("s"), 10) || 0, e = parseInt(p.get("e"), 10) || 0, col = p.get("c") || "";
    frame(box, el("header", "rag-source-head"), el("p", "rag-hint", "Loading the source…"));
    var doc;
    try {
      var r = await fetch(base + "api/sources/" + encodeURIComponent(p.get("d") || "") +
                          (col ? "?collection=" + encodeURIComponent(col) : ""),
                          { headers: window.ragKey ? { Authorization: "Bearer " + window.ragKey } : {} });
      doc = await r.json();
      if (!r.ok) throw new Error(doc.detail || ("HTTP " + r.status));
    } catch (err) {
      if (mine === token) frame(box, el("header", "rag-source-head"), el("p", "rag-error", "Could not load the source: " + err.message));
      return;
    }
    if (mine !== token) return;
    var head = el("header", "rag-source-head");
    head.append(el("h3", null, "[" + (p.get("n") || "?") + "] " + doc.title));
    head.append(el("p", "rag-meta", [doc.date, p.get("l"), doc.source].filter(Boolean).join(" · ")));
    if (doc.original) {   // the file it was indexed from, on this server (a download)
      var file = el("a", "rag-original", "Open original");
      file.href = base + doc.original;
      file.setAttribute("download", "");
      file.prepend(icon(["M12 4v11", "M7 10l5 5 5-5", "M5 20h14"]));
      head.append(file);
    }
    if (/^https?:\/\//.test(doc.origin || "")) {
      var orig = el("a", "rag-original", doc.original ? "Web page" : "Open the original");
      orig.href = doc.origin;
      orig.target = "_blank";
      orig.rel = "noopener noreferrer";
      head.append(orig);
    }
    var body = el("div", "rag-text");
    body.tabIndex = 0;
    body.setAttribute("aria-label", "Source text");
    var mark = el("mark", "rag-cited", doc.text.slice(s, e));
    mark.id = "rag-cited";
    mark.tabIndex = -1;
    body.append(document.createTextNode(doc.text.slice(0, s)), mark, document.createTextNode(doc.text.slice(e)));
    var views = body;
    if (doc.pages > 0) {   // a PDF: its page too, beside (or above) the text
      views = el("div", "rag-views");
      var fig = el("figure", "rag-page");
      fig.append(el("p", "rag-hint", "Loading the page…"));
      views.append(fig, body);
      showPage(fig, p, doc, mine);
    }
    frame(box, head, views);
    // only the text scrolls: the header stays in view; the passage starts a little below its top
    body.scrollTop = Math.max(0, mark.offsetTop - body.offsetTop - body.clientHeight / 4);
    mark.focus({ preventScroll: true });
  }

  async function showPage(fig, p, doc, mine) {
    var url = base + "api/sources/" + encodeURIComponent(p.get("d") || "") + "/page?start=" +
              encodeURIComponent(p.get("s") || "0") + "&end=" + encodeURIComponent(p.get("e") || "0") +
              (p.get("c") ? "&collection=" + encodeURIComponent(p.get("c")) : "");
    var r, blob;
    try {
      r = await fetch(url, { headers: window.ragKey ? { Authorization: "Bearer " + window.ragKey } : {} });
      if (!r.ok) throw new Error((await r.json()).detail || ("HTTP " + r.status));
      blob = await r.blob();
    } catch (err) {
      if (mine === token) fig.replaceChildren(el("p", "rag-hint", "No page image: " + err.message));
      return;
    }
    if (mine !== token) return;
    forget();
    pageUrl = URL.createObjectURL(blob);
    var n = r.headers.get("X-Rag-Page"), mark = (r.headers.get("X-Rag-Highlight") || "none").split(" ");
    var found = mark.length === 2;
    var img = el("img");
    img.alt = "Page " + n + " of " + doc.title + (found ? ", the cited passage highlighted" : "");
    fig.tabIndex = 0;   // it scrolls: reachable by keyboard
    fig.setAttribute("aria-label", "Page " + n);
    var caption = el("figcaption", "rag-meta", "Page " + n + (found ? "" :
                     " (the passage could not be found on the page image; it is highlighted in the text)"));
    img.onload = function () {   // the highlight a little below the top of the page's view
      if (found) fig.scrollTop = Math.max(0, parseFloat(mark[0]) * img.clientHeight - fig.clientHeight / 4);
    };
    img.src = pageUrl;
    fig.replaceChildren(caption, img);
  }

  window.ragClearSource = close;

  document.addEventListener("click", function (ev) {
    var a = ev.target && ev.target.closest && ev.target.closest('a[href*="#cite?"]');
    if (!a) return;
    ev.preventDefault();
    ev.stopPropagation();
    opener = a;
    var href = a.getAttribute("href");
    show(new URLSearchParams(href.slice(href.indexOf("#cite?") + 6)));
  }, true);

  document.addEventListener("keydown", function (ev) {
    var box = panel();
    if (ev.key === "Escape" && box && !box.hidden) {
      ev.stopPropagation();   // the widget's own Escape (close the widget) waits for the next press
      close();
    }
  }, true);
})();
