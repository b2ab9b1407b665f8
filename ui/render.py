"""Answers as chat Markdown: every piece of document or user text escaped, citations as in-page links."""
from __future__ import annotations

import html
import re
from urllib.parse import quote

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~$])")                    # inline Markdown (and LaTeX) syntax
_LINE_START = re.compile(r"^([ \t]*\d*)([#+\-=.)>])", re.M)  # headings, lists, quotes at a line start
_MARKER = re.compile(r"\\\[(\d+)\\\]")
SNIPPET_CHARS = 160  # a cited passage under an answer: its first words, the source panel shows it whole


def md_text(text: str) -> str:
    """Plain text that Markdown renders verbatim: HTML escaped, Markdown punctuation backslashed."""
    text = _MD_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=False))
    return _LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), text)


def snippet(quote_: str, limit: int = SNIPPET_CHARS) -> str:
    text = " ".join(str(quote_).split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def cite_href(c: dict, collection: str | None) -> str:
    """`#cite?...` link the page script (ui/static/sources.js) turns into the source panel."""
    parts = {"d": c["doc_id"], "s": c["start"], "e": c["end"], "n": c["n"], "l": c["locator"], "c": collection or ""}
    return "#cite?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in parts.items())


def answer_markdown(answer: dict, collection: str | None = None) -> str:
    """The bot message for an answer object (the REST API's dict): the answer with clickable [n], then each
    source (or see-also passage) with a short quote of the cited passage."""
    hrefs = {c["n"]: cite_href(c, collection) for c in answer["citations"]}

    def link(m: re.Match) -> str:
        n = int(m.group(1))
        return f"[\\[{n}\\]]({hrefs[n]})" if n in hrefs else m.group(0)

    lines = [_MARKER.sub(link, md_text(answer["answer"]))]
    lines += [f"\n*{md_text(note)}*" for note in answer.get("notes") or []]
    if answer["citations"]:
        lines.append("")
        lines.append("**See also:**" if answer["refused"] else "**Sources:**")
        for c in answer["citations"]:
            date = f", {md_text(c['date'])}" if c.get("date") else ""
            lines.append(f"- [\\[{c['n']}\\]]({hrefs[c['n']]}) {md_text(c['title'])}{date} — {md_text(c['locator'])}")
            lines.append(f"  > “{md_text(snippet(c['quote']))}”")
    return "\n".join(lines)


def citation_dict(c) -> dict:
    """A citation as the REST API returns it: DESIGN.md's fields plus doc_id and date."""
    return {**c.to_dict(), "doc_id": c.doc_id, "date": c.date}


def answer_dict(a) -> dict:
    """An Answer as the REST API returns it (citations with doc_id and date)."""
    return {**a.to_dict(), "citations": [citation_dict(c) for c in a.citations]}
