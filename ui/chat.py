"""The Gradio chat page: cited answers, source panel, examples, new conversation, feedback."""
from __future__ import annotations

import logging
from contextlib import closing

import gradio as gr

from rag import RagError
from rag.errors import AccessDenied

from .api import BAD_CHARS, audit_names, caller
from .guard import principal_of
from .render import answer_markdown, citation_dict, md_text

log = logging.getLogger(__name__)

EXAMPLES = ["Who signed the memorandum of understanding?", "Is the agreement legally binding?",
            "Will OpenAI expand its office in London?"]
SIGN_OUT = '<form method="post" action="/signout"><button type="submit" class="rag-signout">Sign out</button></form>'
MAX_TURNS = 20  # turns of a session's history kept for follow-up questions
PANEL = ('<section id="rag-source-panel" class="rag-source-panel" aria-label="Source" aria-live="polite">'
         '<p class="rag-hint">Click a citation such as [1] to see the passage in its source.</p></section>')


def bad_input(question, history) -> str | None:
    """Why a question or history sent to the chat (the page, or its API) is refused, or None."""
    if not isinstance(question, str) or len(question) > 100_000 or BAD_CHARS.search(question):
        return "The question must be plain text (no control characters)."
    ok = isinstance(history, list) and len(history) <= 2 * MAX_TURNS and all(
        isinstance(t, dict) and t.get("role") in ("user", "assistant") and isinstance(t.get("content"), str)
        and len(t["content"]) <= 20_000 and not BAD_CHARS.search(t["content"]) for t in history)
    return None if ok else "The conversation history is not valid; start a new conversation."


def build_chat(rag, feedback, audit, examples: list[str] | None = None) -> gr.Blocks:
    examples = EXAMPLES if examples is None else examples

    def respond(question, chat, history, request: gr.Request):
        """Append the question and its cited answer; `history` is this browser session's plain-text turns."""
        chat, history = list(chat or []), list(history or [])
        problem = bad_input(question, history)
        if problem:
            yield question if isinstance(question, str) else "", chat, [], None, f"⚠️ {problem}"
            return
        if question.strip():  # show the question at once, then the answer
            pending = [{"role": "user", "content": md_text(question.strip())},
                       {"role": "assistant", "content": "_Searching the sources…_"}]
            yield "", chat + pending, history, None, ""
        a, streamed, live = None, "", rag.settings.backend != "extractive"
        try:   # a generative backend's words stream in; the checked answer then replaces them
            events = rag.ask_stream(question, history=history, user=caller(rag, request))
            with closing(events):    # Gradio closes this generator when the page goes: so is the LLM request
                for event in events:
                    if event[0] == "token" and live:
                        streamed += event[1]
                        yield "", chat + [pending[0], {"role": "assistant", "content": md_text(streamed) + " ▍"}], \
                            history, None, ""
                    elif event[0] == "answer":
                        a = event[1]
        except RagError as e:
            if isinstance(e, AccessDenied):
                audit.denied(*audit_names(request), rag.settings.collection, str(e), question)
            yield question, chat, history, None, f"⚠️ {md_text(str(e))}"
            return
        audit.asked(*audit_names(request), rag.settings.collection, a)
        chat += [{"role": "user", "content": md_text(a.question)},
                 {"role": "assistant", "content": answer_markdown(a)}]
        history = (history + [{"role": "user", "content": a.question},
                              {"role": "assistant", "content": a.answer}])[-MAX_TURNS:]
        last = {"question": a.question, "answer": a.answer, "citations": [citation_dict(c) for c in a.citations]}
        yield "", chat, history, last, ""

    def example(chat, history, evt: gr.SelectData, request: gr.Request):
        yield from respond(evt.value["text"] if isinstance(evt.value, dict) else str(evt.value), chat, history,
                           request)

    def give(verdict, last, comment, request: gr.Request):
        if not last:
            return comment, "Ask a question first, then rate the answer."
        if not isinstance(comment, str) or len(comment) > 5_000 or BAD_CHARS.search(comment):
            return comment, "⚠️ The comment must be plain text of at most 5000 characters."
        user = principal_of(request)
        feedback.add(last["question"], last["answer"], verdict, citations=last["citations"], comment=comment,
                     user=user.name if user else None)
        return "", "Thanks — your feedback was recorded."

    def up(last, comment, request: gr.Request):
        return give("up", last, comment, request)

    def down(last, comment, request: gr.Request):
        return give("down", last, comment, request)

    with gr.Blocks(title="Ask the sources", analytics_enabled=False) as demo:
        history, last = gr.State([]), gr.State(None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=280):
                gr.Markdown("## Ask the sources\nAnswers quote your organisation's documents; "
                            "every claim carries a citation.")
                if rag.settings.auth == "password":
                    gr.HTML(SIGN_OUT, elem_id="rag-signout")
                chat = gr.Chatbot(label="Conversation", elem_id="rag-chat", height=460, feedback_options=None,
                                  examples=[{"text": q} for q in examples] or None, buttons=["copy"],
                                  placeholder="Ask a question, or pick an example below.")
                with gr.Row():
                    box = gr.Textbox(label="Your question", elem_id="rag-question", scale=5, min_width=200,
                                     placeholder="Type a question and press Enter", max_lines=4, autofocus=True)
                    ask = gr.Button("Ask", variant="primary", elem_id="rag-ask", scale=1, min_width=80)
                notice = gr.Markdown(elem_id="rag-notice")
                with gr.Row():
                    new = gr.Button("New conversation", elem_id="rag-new", size="sm")
                with gr.Accordion("Was the last answer helpful?", open=True, elem_id="rag-feedback"):
                    comment = gr.Textbox(label="Comment (optional)", elem_id="rag-comment", max_lines=3)
                    with gr.Row():
                        thumbs_up = gr.Button("👍 Helpful", elem_id="rag-up", size="sm")
                        thumbs_down = gr.Button("👎 Not helpful", elem_id="rag-down", size="sm")
                    thanks = gr.Markdown(elem_id="rag-thanks")
            with gr.Column(scale=2, min_width=260):
                gr.HTML(PANEL, elem_id="rag-source", js_on_load=None)

        outputs = [box, chat, history, last, notice]
        gr.on([box.submit, ask.click], respond, [box, chat, history], outputs, api_name="ask",
              concurrency_limit="default")
        chat.example_select(example, [chat, history], outputs, api_name="example", concurrency_limit="default")
        new.click(lambda: ("", [], [], None, "", ""), None, outputs + [thanks], api_name="new_conversation",
                  js="(...a) => { window.ragClearSource && window.ragClearSource(); return a; }")
        chat.clear(lambda: ([], None, ""), None, [history, last, notice], api_name="clear_chat")
        thumbs_up.click(up, [last, comment], [comment, thanks], api_name="feedback_up")
        thumbs_down.click(down, [last, comment], [comment, thanks], api_name="feedback_down")
    return demo
