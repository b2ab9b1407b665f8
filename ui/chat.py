"""The Gradio chat page: a conversation filling the page with its composer, per-answer actions (copy, rate with
an optional comment, retry), a collection picker with that collection's description and examples, saved
conversations in a sidebar (rename, delete), and the source drawer (ui/static/sources.js)."""
from __future__ import annotations

import logging
import secrets
from contextlib import closing
from urllib.parse import quote

import gradio as gr

from rag import RagError
from rag.errors import AccessDenied

from .api import BAD_CHARS, audit_names, caller
from .guard import principal_of
from .render import answer_dict, answer_markdown, md_text

log = logging.getLogger(__name__)

SIGN_OUT = '<form method="post" action="/signout"><button type="submit" class="rag-signout">Sign out</button></form>'
GAPS_LINK = ('<a class="rag-gaps-link" href="/gaps"><svg class="rag-svg" viewBox="0 0 24 24" aria-hidden="true">'
             '<path d="M4 20V10M10 20V4M16 20v-7M22 20H2"/></svg>Knowledge gaps</a>')   # for managers only
MAX_TURNS = 20  # turns of a conversation's history kept for follow-up questions
PANEL = ('<aside id="rag-source-panel" class="rag-source-panel" aria-label="Source" hidden></aside>')
BRAND = '<div class="rag-brand"><span class="rag-logo" aria-hidden="true"></span><span class="rag-brand-name">Ask the sources</span></div>'
SEARCHING = "_Searching the sources…_"
WIDE = 900  # px: wider screens show the sidebar beside the chat
DOCS_LINK = ('<a class="rag-docs-link" href="/documents?collection={collection}"><svg class="rag-svg" viewBox="0 0 24 24" '
             'aria-hidden="true"><path d="M14 3H6v18h12V7z"/><path d="M14 3v4h4"/><path d="M9 13h6M9 17h6"/></svg>'
             '<span>Documents</span></a>')   # for managers of a collection only


def bad_input(question, turns) -> str | None:
    """Why a question or conversation sent to the chat (the page, or its API) is refused, or None."""
    if not isinstance(question, str) or len(question) > 100_000 or BAD_CHARS.search(question):
        return "The question must be plain text (no control characters)."
    ok = isinstance(turns, list) and all(isinstance(t, dict) and isinstance(t.get("question"), str)
                                         and isinstance(t.get("answer"), str) for t in turns)
    return None if ok else "The conversation is not valid; start a new chat."


def messages(turns: list[dict], collection: str) -> list[dict]:
    """Chatbot messages of a conversation's answers."""
    out = []
    for t in turns:
        out += [{"role": "user", "content": md_text(t["question"])},
                {"role": "assistant", "content": answer_markdown(t, collection)}]
    return out


def history_of(turns: list[dict]) -> list[dict]:
    """Plain-text turns for follow-up questions (the last MAX_TURNS messages)."""
    out = []
    for t in turns:
        out += [{"role": "user", "content": t["question"]}, {"role": "assistant", "content": t["answer"]}]
    return out[-MAX_TURNS:]


def welcome(collection: str, info: dict) -> str:
    about = md_text(info["description"]) if info["description"] else \
        f"Ask about the documents in the collection *{md_text(collection)}*."
    return f"### Ask the sources\n{about}\n\nEvery answer quotes its sources; click a citation such as [1] to read it."


def build_chat(rag, feedback, audit, catalog, chats, secret: str) -> gr.Blocks:
    """`secret` encrypts the per-browser id kept in the browser's localStorage (sign-in off)."""

    def owner(request, browser) -> str | None:
        user = principal_of(request)
        return f"user:{user.name}" if user else (f"browser:{browser}" if isinstance(browser, str) else None)

    def choices(request) -> list[str]:
        try:
            return rag.collections(caller(rag, request))
        except RagError as e:
            log.warning("collections: %s", e)
            return []

    def past(request, browser, selected=None):
        who = owner(request, browser)
        rows = chats.list(who) if who else []
        return gr.Radio(choices=[(r["title"], r["id"]) for r in rows], value=selected)

    def empty_chat(collection: str, clear: bool = True):
        """The chat showing a collection's welcome and examples (emptied unless `clear` is False)."""
        info = catalog.info(collection)
        shown = {"placeholder": welcome(collection, info), "examples": [{"text": q} for q in info["examples"]] or None}
        return gr.Chatbot(value=[], **shown) if clear else gr.Chatbot(**shown)

    def start(browser, request: gr.Request):
        """Page load: this browser's id, the collections the caller may ask, the saved conversations."""
        browser = browser if isinstance(browser, str) and len(browser) < 64 else secrets.token_urlsafe(16)
        names = choices(request)
        default = rag.settings.collection
        pick = default if default in names or not names else names[0]
        picker = gr.Dropdown(choices=names or [default], value=pick, interactive=len(names) > 1)
        managed = rag.managed(caller(rag, request))
        docs = gr.HTML(DOCS_LINK.format(collection=quote(pick if pick in managed else managed[0])),
                       visible=True) if managed else gr.HTML(visible=False)
        # a question asked already stays
        return browser, picker, empty_chat(pick, clear=False), past(request, browser), docs

    def respond(question, chat, turns, collection, chat_id, browser, request: gr.Request):
        """Append the question and its cited answer, streaming a generative backend's words; save the chat."""
        chat, turns = list(chat or []), list(turns or [])
        collection = collection or rag.settings.collection
        problem = bad_input(question, turns)
        if problem:
            yield question if isinstance(question, str) else "", chat, turns, chat_id, problem, gr.skip()
            return
        pending = [{"role": "user", "content": md_text(question.strip())}, {"role": "assistant", "content": SEARCHING}]
        if question.strip():  # show the question at once, then the answer
            yield "", chat + pending, turns, chat_id, "", gr.skip()
        a, streamed, live = None, "", rag.settings.backend != "extractive"
        try:   # a generative backend's words stream in; the checked answer then replaces them
            events = rag.ask_stream(question, history=history_of(turns), collection=collection,
                                    user=caller(rag, request))
            with closing(events):    # Gradio closes this generator when the page goes: so is the LLM request
                for event in events:
                    if event[0] == "token" and live:
                        streamed += event[1]
                        yield "", chat + [pending[0], {"role": "assistant", "content": md_text(streamed) + " ▍"}], \
                            turns, chat_id, "", gr.skip()
                    elif event[0] == "answer":
                        a = event[1]
        except RagError as e:
            if isinstance(e, AccessDenied):
                audit.denied(*audit_names(request), collection, str(e), question)
            yield question, chat, turns, chat_id, md_text(str(e)), gr.skip()
            return
        audit.asked(*audit_names(request), collection, a)
        turns.append(answer_dict(a))
        who = owner(request, browser)
        chat_id = chats.save(who, chat_id, collection, turns) if who else chat_id
        yield "", messages(turns, collection), turns, chat_id, "", past(request, browser, chat_id)

    def example(chat, turns, collection, chat_id, browser, evt: gr.SelectData, request: gr.Request):
        text = evt.value["text"] if isinstance(evt.value, dict) else str(evt.value)
        yield from respond(text, chat, turns, collection, chat_id, browser, request)

    def retry(chat, turns, collection, chat_id, browser, evt: gr.RetryData, request: gr.Request):
        """Ask the last question again (the retry button under the last answer)."""
        turns = list(turns or [])
        if not turns:
            yield "", chat, turns, chat_id, "", gr.skip()
            return
        question = turns.pop()["question"]
        yield from respond(question, messages(turns, collection), turns, collection, chat_id, browser, request)

    def rate(turns, collection, evt: gr.LikeData, request: gr.Request):
        """A thumb under an answer: stored at once; the comment box opens for an optional comment."""
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        turn = (turns or [])[index // 2] if isinstance(index, int) and 0 <= index // 2 < len(turns or []) else None
        if turn is None or evt.liked not in (True, False):
            return None, gr.Group(visible=False), ""
        try:   # feedback is about a collection's answers: only those who may ask it may rate them
            rag.access.check(caller(rag, request), collection or rag.settings.collection)
        except AccessDenied as e:
            return None, gr.Group(visible=False), md_text(str(e))
        user = principal_of(request)
        row = feedback.add(turn["question"], turn["answer"], "up" if evt.liked else "down",
                           citations=turn["citations"], user=user.name if user else None, collection=collection)
        return row, gr.Group(visible=True), ""

    def comment(row, text, request: gr.Request):
        if not isinstance(text, str) or len(text) > 5_000 or BAD_CHARS.search(text):
            return row, gr.Group(visible=True), text, "The comment must be plain text of at most 5000 characters."
        user = principal_of(request)
        if row and text.strip():
            feedback.comment(row, text, user.name if user else None)
        return None, gr.Group(visible=False), "", "Thanks, your feedback was recorded."

    def switch(collection):
        return empty_chat(collection), [], None, ""

    def open_chat(chat_id, browser, request: gr.Request):
        who = owner(request, browser)
        saved = chats.load(who, chat_id) if who and isinstance(chat_id, str) else None
        if saved is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return (messages(saved["turns"], saved["collection"]), saved["turns"], saved["id"],
                gr.Dropdown(value=saved["collection"]), saved["title"])

    def rename(chat_id, title, browser, request: gr.Request):
        who = owner(request, browser)
        if who and chat_id and isinstance(title, str) and not BAD_CHARS.search(title):
            chats.rename(who, chat_id, title)
        return past(request, browser, chat_id)

    def delete(chat_id, browser, collection, request: gr.Request):
        who = owner(request, browser)
        if who and chat_id:
            chats.delete(who, chat_id)
        return (past(request, browser), empty_chat(collection or rag.settings.collection), [], None, "")

    def new_chat(collection, browser, request: gr.Request):
        return empty_chat(collection or rag.settings.collection), [], None, "", "", past(request, browser)

    def gaps_link(request: gr.Request):
        """The gap report's link, for managers of a collection only."""
        try:
            return gr.HTML(GAPS_LINK, visible=bool(rag.managed(caller(rag, request))))
        except RagError:
            return gr.HTML(visible=False)

    with gr.Blocks(title="Ask the sources", analytics_enabled=False, fill_height=True, fill_width=True) as demo:
        browser = gr.BrowserState(None, storage_key="rag-browser", secret=secret)
        turns, chat_id, rated = gr.State([]), gr.State(None), gr.State(None)
        with gr.Sidebar(label="Conversations", elem_id="rag-sidebar", width=280, open=False):
            new = gr.Button("New chat", elem_id="rag-new", elem_classes="rag-icon-new", variant="primary")
            saved = gr.Radio(label="Conversations", choices=[], elem_id="rag-past", container=False)
            with gr.Accordion("Rename or delete", open=False, elem_id="rag-manage"):
                title = gr.Textbox(label="Title", elem_id="rag-title", max_lines=1, max_length=80)
                with gr.Row():
                    rename_btn = gr.Button("Rename", elem_id="rag-rename", size="sm")
                    delete_btn = gr.Button("Delete", elem_id="rag-delete", size="sm", variant="stop")
            gaps = gr.HTML("", elem_id="rag-gaps", padding=False, visible=False)
        with gr.Column(elem_id="rag-main", scale=1):
            with gr.Row(elem_id="rag-top", equal_height=True):
                gr.HTML(BRAND, elem_id="rag-brand", padding=False)
                collection = gr.Dropdown(label="Collection", choices=[rag.settings.collection], elem_id="rag-collection",
                                         value=rag.settings.collection, scale=0, min_width=180, container=False,
                                         show_label=False)
                docs_link = gr.HTML("", elem_id="rag-docs-link", padding=False, visible=False)
                if rag.settings.auth == "password":
                    gr.HTML(SIGN_OUT, elem_id="rag-signout", padding=False)
            chat = gr.Chatbot(label="Conversation", show_label=False, elem_id="rag-chat", scale=1, height="100%",
                              buttons=["copy"], feedback_options=("Like", "Dislike"), autoscroll=True,
                              layout="bubble", placeholder="Ask a question.", container=False)
            box = gr.Textbox(label="Your question", show_label=False, elem_id="rag-question", lines=1, max_lines=6,
                             submit_btn="Ask", placeholder="Ask a question",
                             autofocus=True, container=False)
            notice = gr.Markdown(elem_id="rag-notice")
            thanks = gr.Markdown(elem_id="rag-thanks")
        with gr.Group(visible=False, elem_id="rag-feedback") as popover:   # floats above the composer
            note = gr.Textbox(label="Comment (optional)", elem_id="rag-comment", max_lines=3,
                              placeholder="What was wrong or missing?")
            with gr.Row():
                send = gr.Button("Send", elem_id="rag-comment-send", size="sm", variant="primary")
                close = gr.Button("Close", elem_id="rag-comment-close", size="sm")
        gr.HTML(PANEL, elem_id="rag-source", padding=False)

        clear_source = "(...a) => { window.ragClearSource && window.ragClearSource(); return a; }"
        # the sidebar starts open on wide screens, closed on phones, where it closes again once a chat is picked
        toggle = "document.querySelector('#rag-sidebar .toggle-button')?.click()"
        open_wide = f"(...a) => {{ if (innerWidth > {WIDE}) {toggle}; return a; }}"
        pick = f"(...a) => {{ window.ragClearSource && window.ragClearSource(); if (innerWidth <= {WIDE}) {toggle}; return a; }}"
        outputs = [box, chat, turns, chat_id, notice, saved]
        state = [turns, collection, chat_id, browser]
        demo.load(start, [browser], [browser, collection, chat, saved, docs_link], api_name=False, js=open_wide)
        # once answered, the answer's first line is in view (a long answer scrolled to its end hid it on phones)
        # (again after Gradio's own scroll to the end, which can come after this handler on a slow machine)
        answer_top = ("() => { const top = () => { const m = document.querySelectorAll('#rag-chat [data-testid=\"bot\"]'); "
                      "if (!m.length) return; const el = m[m.length - 1]; let s = el.parentElement; "
                      "while (s && !(s.scrollHeight > s.clientHeight && /auto|scroll/.test(getComputedStyle(s).overflowY))) "
                      "s = s.parentElement; "
                      "if (s) s.scrollTop += el.getBoundingClientRect().top - s.getBoundingClientRect().top; }; "
                      "top(); for (const t of [150, 600, 1200]) setTimeout(top, t); }")
        box.submit(respond, [box, chat, *state], outputs, api_name="ask", concurrency_limit="default",
                   js=clear_source).then(None, js=answer_top)
        chat.example_select(example, [chat, *state], outputs, api_name="example",
                            concurrency_limit="default").then(None, js=answer_top)
        chat.retry(retry, [chat, *state], outputs, api_name="retry", concurrency_limit="default").then(
            None, js=answer_top)
        chat.like(rate, [turns, collection], [rated, popover, thanks], api_name="feedback")
        send.click(comment, [rated, note], [rated, popover, note, thanks], api_name="comment")
        close.click(lambda: (None, gr.Group(visible=False), ""), None, [rated, popover, note], api_name=False)
        collection.input(switch, [collection], [chat, turns, chat_id, notice], api_name=False, js=clear_source)
        new.click(new_chat, [collection, browser], [chat, turns, chat_id, notice, thanks, saved],
                  api_name="new_conversation", js=pick)
        chat.clear(new_chat, [collection, browser], [chat, turns, chat_id, notice, thanks, saved], api_name=False,
                   js=clear_source)
        saved.input(open_chat, [saved, browser], [chat, turns, chat_id, collection, title], api_name=False, js=pick)
        rename_btn.click(rename, [chat_id, title, browser], [saved], api_name=False)
        delete_btn.click(delete, [chat_id, browser, collection], [saved, chat, turns, chat_id, title], api_name=False,
                         js=clear_source)
        demo.load(gaps_link, None, [gaps], api_name=False)
    return demo
