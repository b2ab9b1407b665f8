/* One tag adds the chat to any page, no build step:
   <script src="http://HOST:PORT/widget.js" data-title="Ask HR" data-position="bottom-left"
           data-accent="#0a7d55" data-collection="hr" data-key="ragpk_..." async></script>
   A floating button opens a compact chat: an iframe to HOST:PORT/embed. */
(function () {
  "use strict";
  if (window.__ragWidget) return;
  var me = document.currentScript || document.querySelector('script[src*="/widget.js"]');
  if (!me) return;
  window.__ragWidget = true;
  var origin = new URL(me.src, location.href).origin;
  var d = me.dataset;
  var title = (d.title || "Ask the sources").slice(0, 80);
  var left = d.position === "bottom-left";
  var accent = /^#[0-9a-fA-F]{3,8}$|^[a-zA-Z]{3,20}$/.test(d.accent || "") ? d.accent : "#2563eb";
  var q = new URLSearchParams({ title: title, accent: accent });
  if (d.collection) q.set("collection", d.collection);
  if (d.key) q.set("key", d.key);  // a publishable widget key (`rag keys create --widget --origin THIS_PAGE'S_ORIGIN`)
  var side = left ? "left:20px;" : "right:20px;";

  var btn = document.createElement("button");
  btn.type = "button";
  btn.id = "rag-widget-button";
  // an inline SVG speech bubble (no emoji: they render as empty boxes where no emoji font is installed)
  btn.innerHTML = '<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" fill="none" stroke="currentColor" ' +
    'stroke-width="2" stroke-linecap="round" stroke-linejoin="round" style="vertical-align:-4px;margin-right:8px">' +
    '<path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/></svg>';
  btn.append(document.createTextNode(title));
  btn.setAttribute("aria-expanded", "false");
  btn.setAttribute("aria-controls", "rag-widget-panel");
  btn.style.cssText = "position:fixed;bottom:20px;" + side + "z-index:2147483000;padding:12px 16px;border:0;" +
    "border-radius:999px;background:" + accent + ";color:#fff;font:600 15px system-ui,sans-serif;cursor:pointer;" +
    "box-shadow:0 4px 14px rgba(0,0,0,.25);";

  var panel = document.createElement("div");
  panel.id = "rag-widget-panel";
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", title);
  panel.hidden = true;
  panel.style.cssText = "position:fixed;bottom:80px;" + side + "z-index:2147483000;width:min(400px,calc(100vw - 24px));" +
    "height:min(600px,calc(100vh - 100px));border-radius:12px;overflow:hidden;background:#fff;" +
    "box-shadow:0 8px 30px rgba(0,0,0,.3);";
  var phone = window.innerWidth < 480;
  if (phone) {  // phones: the chat takes the whole screen (its header has a close button)
    panel.style.cssText += "inset:0;width:auto;height:auto;border-radius:0;";
  }
  var frame = null, ready = false, blocked = false;

  function refused() {  // the iframe never said hello: the app refused to be framed by this page (CSP)
    var box = document.createElement("div");
    box.id = "rag-widget-refused";
    box.setAttribute("role", "alert");
    box.style.cssText = "padding:20px;font:15px/1.5 system-ui,sans-serif;color:#1f2328;";
    var strong = document.createElement("strong");
    strong.textContent = "The chat cannot be shown on this page.";
    var p = document.createElement("p");
    p.textContent = "Pages of " + (location.origin === "null" ? "a local file" : location.origin) + " may not embed " +
      "the chat at " + origin + ". Its operator can allow them in RAG_EMBED_ORIGINS (or the widget key's " +
      "--origin); to try the widget, open " + origin + "/widget/example.";
    box.append(strong, p);
    panel.replaceChildren(box);
    frame = null;
    blocked = true;
  }

  function open(yes) {
    if (yes && !frame && !blocked) {
      frame = document.createElement("iframe");
      frame.src = origin + "/embed?" + q.toString();
      frame.title = title;
      frame.id = "rag-widget-frame";
      frame.style.cssText = "border:0;width:100%;height:100%;";
      frame.addEventListener("load", function () { setTimeout(function () { if (!ready && frame) refused(); }, 1500); });
      panel.append(frame);
    }
    panel.hidden = !yes;
    if (phone) btn.style.display = yes ? "none" : "";  // full screen: the chat's own header closes it
    btn.setAttribute("aria-expanded", String(yes));
    if (yes && frame) frame.focus(); else if (!yes) btn.focus();
  }

  btn.addEventListener("click", function () { open(panel.hidden); });
  document.addEventListener("keydown", function (ev) { if (ev.key === "Escape" && !panel.hidden) open(false); });
  window.addEventListener("message", function (ev) {  // Escape pressed inside the chat (embed.js)
    if (ev.origin !== origin || !frame || ev.source !== frame.contentWindow || !ev.data) return;
    if (ev.data.rag === "ready") ready = true;
    if (ev.data.rag === "close") open(false);
  });
  function mount() { document.body.append(panel, btn); }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
