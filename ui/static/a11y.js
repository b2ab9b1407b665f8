/* Mends for Gradio's own markup that axe-core reports as critical (tests/test_ui_app.py runs axe on every
   page): the chat's example questions are buttons inside a role="list" without list items. */
(function () {
  "use strict";
  function mend() {
    document.querySelectorAll('#rag-chat .examples[role="list"]').forEach(function (e) { e.removeAttribute("role"); });
  }
  new MutationObserver(mend).observe(document.documentElement, { childList: true, subtree: true });
})();
