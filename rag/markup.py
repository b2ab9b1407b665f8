"""Clean text built block by block (exact spans by construction), and Markdown / HTML rendered into it."""
from __future__ import annotations

import re
import textwrap

from .types import BLOCK_KINDS

_SPACE = re.compile(r"\s+")


class TextBuilder:
    """Appends blocks to the clean text and records each block's span, kind and heading as it goes.

    Blocks are separated by a blank line, or by one newline between consecutive items or rows. Inside a
    block whitespace is collapsed to single spaces, except in code, which keeps its lines."""

    def __init__(self, inline=None) -> None:
        self.inline = inline                  # markup to render inside non-code blocks (reStructuredText's)
        self.parts: list[str] = []
        self.size = 0
        self.blocks: list[tuple[int, int, str]] = []
        self.headings: list[tuple[int, str]] = []
        self.pages: list[int] = []            # filled by the PDF reader

    def add(self, text: str, kind: str = "text") -> int | None:
        """Append one block; returns its start offset, or None if it was empty."""
        assert kind in BLOCK_KINDS, kind
        if kind == "code":
            text = textwrap.dedent("\n".join(ln.rstrip() for ln in text.expandtabs(4).split("\n"))).strip("\n")
            text = text.rstrip()
        else:
            text = " ".join((self.inline(text) if self.inline else text).split())   # = _SPACE.sub().strip(), 3x faster
        if not text.strip():
            return None
        if self.parts:
            last = self.blocks[-1][2]
            sep = "\n" if kind == last and kind in ("item", "row") else "\n\n"
            self.parts.append(sep)
            self.size += len(sep)
        lead = len(text) - len(text.lstrip())   # an indented first code line: the span starts at its text
        start = self.size
        self.parts.append(text)
        self.size += len(text)
        self.blocks.append((start + lead, self.size, kind))
        if kind == "heading":
            self.headings.append((start, text))
        return start

    def result(self, **extra) -> dict:
        return {"text": "".join(self.parts), "blocks": self.blocks, "headings": self.headings,
                "paragraphs": [s for s, _, _ in self.blocks], **extra}


# --- Sphinx directives, in reStructuredText (plaintext.rst_directives) and MyST Markdown (_myst) ----------

ADMONITIONS = {"note", "warning", "tip", "important", "caution", "attention", "hint", "danger", "seealso",
               "deprecated", "versionadded", "versionchanged"}
CODE_DIRECTIVES = {"code-block", "code", "sourcecode", "literalinclude", "doctest", "parsed-literal", "testcode",
                   "testoutput", "ipython", "code-cell", "jupyter-execute"}   # Sphinx's doctest, IPython, MyST-NB
CONTAINERS = {"topic", "sidebar", "container", "only", "admonition", "rubric", "epigraph", "pull-quote", "highlights",
              "compound", "centered", "tab", "tab-set", "tab-item", "card", "dropdown", "grid", "grid-item",
              "grid-item-card"}   # text a reader sees, under its title (docutils', Sphinx's, sphinx-design's)


def admonition_head(name: str, arg: str) -> str:
    """What an admonition's body follows: "Warning:", "See also: x", "New in version 2.1."."""
    label = {"seealso": "See also", "versionadded": "New in version",
             "versionchanged": "Changed in version"}.get(name, name.capitalize())
    return f"{label} {arg}." if name.startswith("version") else f"{label}: {arg}".rstrip()


def container_title(name: str, arg: str) -> str:
    """The title a container directive's text sits under: its argument, except "only"'s (a condition)."""
    return "" if name == "only" else arg


def role_text(text: str) -> str:
    """What a Sphinx role shows: its text without a <target>; "~click.prompt" shows "prompt", "!x" shows "x"."""
    text = text.strip()
    return (text[1:].rsplit(".", 1)[-1] if text.startswith("~") else text).lstrip("!")


_MYST_FENCE = re.compile(r"^(?P<f>:{3,}|`{3,})[ \t]*\{(?P<name>[\w:-]+)\}[ \t]*(?P<arg>[^\n]*)\n(?P<body>.*?)^(?P=f)[ \t]*$",
                         re.M | re.S)
_MYST_ROLE = re.compile(r"(?<![\w$])\{[\w:.-]+\}`([^`]*?)\s*(?:<[^>`]*>)?`")    # {doc}`text <target>`


def _myst(source: str) -> str:
    """MyST Markdown (Sphinx's directives and roles in Markdown): a directive fence (":::{tip}" or "```{note}",
    closed by the same fence) is its label and body as ordinary Markdown, a code directive's a code block, any
    other's (a toctree) goes; a role ({doc}`text <target>`) is its text."""
    if "{" not in source:
        return source

    def fence(m: re.Match) -> str:
        name, arg = m["name"].lower(), m["arg"].strip()
        body = re.sub(r"\A(?:[ \t]*:[\w-]+:.*\n)+", "", m["body"])            # its options go
        if name in CODE_DIRECTIVES:
            return f"```\n{body}```"
        if name in ADMONITIONS:
            return f"{admonition_head(name, arg)}\n\n{body}"
        if name in CONTAINERS:
            title = container_title(name, arg)
            return (f"{title}\n\n" if title else "") + body
        return ""
    for _ in range(4):        # a fence inside another (longer) one: the outer first, then what it held
        source, n = _MYST_FENCE.subn(fence, source)
        if not n:
            break
    return _MYST_ROLE.sub(lambda m: role_text(m[1]), source)


# --- Markdown: walk markdown-it's token stream --------------------------------------------------------

_FRONT_MATTER = re.compile(r"\A(?:---|\+\+\+)[ \t]*\n.*?\n(?:---|\+\+\+|\.\.\.)[ \t]*(?:\n|\Z)", re.S)


_ADMONITION = re.compile(r'^([ \t]*)(?:!!!|\?\?\?\+?)[ \t]*([\w-]+)(?:[ \t]+"([^"\n]*)")?[ \t]*\n'
                         r'((?:[ \t]*\n)*(?:\1(?: {4}|\t).*\n?(?:[ \t]*\n)*)+)?', re.M)


def _admonitions(source: str) -> str:
    """MkDocs / Python-Markdown admonitions ('!!! warning' over an indented body): their label ("Warning:",
    or their quoted title) and their body as ordinary Markdown, not an indented code block that shows
    '***not***' raw."""
    def flat(m: re.Match) -> str:
        indent, kind, title, body = m.groups()
        label = kind.replace("-", " ").capitalize() if title is None else title
        if body is None:                                    # '!!! info "Added in 19.8"' alone
            return f"{indent}{label}\n\n" if label else "\n"
        body = textwrap.dedent(body.replace("\t", "    "))
        body = textwrap.indent(body, indent)
        return f"{indent}{label}:\n\n{body}\n" if label else f"{body}\n"
    return _ADMONITION.sub(flat, source)


def render_markdown(source: str) -> dict:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    out = TextBuilder()
    kinds, cells, heading, in_cell = ["text"], [], False, False   # kinds[-1]: "item" inside a list item
    for tok in md.parse(_admonitions(_myst(_FRONT_MATTER.sub("", source)))):
        t = tok.type
        if t == "list_item_open":
            kinds.append("item")
        elif t == "list_item_close":
            kinds.pop()
        elif t in ("heading_open", "heading_close"):
            heading = t == "heading_open"
        elif t == "tr_open":
            cells = []
        elif t in ("th_open", "td_open", "th_close", "td_close"):
            in_cell = t.endswith("open")
        elif t == "tr_close":
            out.add(" | ".join(cells), "row")
        elif t in ("fence", "code_block"):
            out.add(tok.content, "code")
        elif t == "html_block":
            _render_soup(_drop(_soup(tok.content)), out, kinds[-1])
        elif t == "inline":
            text = _inline_md(tok.children or [])
            if in_cell:
                cells.append(_SPACE.sub(" ", text).strip())
            else:
                out.add(text, "heading" if heading else kinds[-1])
    return out.result()


def _inline_md(children) -> str:
    parts, has_text = [], False
    for c in children:
        if c.type in ("text", "code_inline"):
            parts.append(c.content)
            has_text = has_text or bool(c.content.strip())
        elif c.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif c.type == "image":
            parts.append(("\0" + c.content + "\0") if c.content else "")
        elif c.type == "html_inline" and re.match(r"<br\b", c.content, re.I):
            parts.append(" ")
    text = "".join(parts)
    # alt text of images that stand among words; a line of badges alone says nothing to a reader
    return text.replace("\0", "") if has_text else ""


# --- HTML: walk BeautifulSoup's tree ----------------------------------------------------------------

_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_BLOCK = {"address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details", "dialog",
          "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "header", "hgroup", "hr",
          "html", "legend", "li", "main", "menu", "nav", "ol", "p", "pre", "section", "summary", "table",
          "tbody", "td", "tfoot", "th", "thead", "tr", "ul", *_HEADINGS}
_DROP = ["head", "script", "style", "noscript", "template", "svg", "canvas", "iframe", "object", "button",
         "select", "textarea"]
_CHROME_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search"}


def _soup(html: str):
    from bs4 import BeautifulSoup

    return BeautifulSoup(html, "html.parser")


def _drop(soup):
    for tag in soup(_DROP):
        tag.decompose()
    return soup


def render_html(html: str) -> dict:
    """Headings, paragraphs, list items, table rows and code of a page; page chrome (nav, the page's own
    header/footer/aside) dropped, and only <main> (or a lone <article>) when the page has one."""
    soup = _soup(html)
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    _drop(soup)
    for tag in [t for t in soup.find_all(True) if _is_chrome(t)]:
        if not tag.decomposed:
            tag.decompose()
    articles = soup.find_all("article")
    root = soup.find("main") or (articles[0] if len(articles) == 1 else None) or soup.body or soup
    out = TextBuilder()
    _render_soup(root, out)
    if not out.blocks and root is not soup:
        _render_soup(soup, out)
    result = out.result()
    result["title"] = title or (result["headings"][0][1] if result["headings"] else None)
    return result


def _is_chrome(tag) -> bool:
    if tag.has_attr("hidden") or tag.get("aria-hidden") == "true" or \
            re.search(r"display\s*:\s*none", tag.get("style") or ""):
        return True
    if tag.name == "nav" or (tag.get("role") or "") == "navigation":
        return True
    chrome = tag.name in ("header", "footer", "aside") or (tag.get("role") or "") in _CHROME_ROLES
    return chrome and tag.find_parent(["article", "main"]) is None


def _render_soup(root, out: TextBuilder, kind: str = "text") -> None:
    from bs4 import NavigableString
    from bs4.element import PreformattedString

    buf: list[str] = []

    def flush(k: str) -> None:
        if buf:
            out.add("".join(buf), k)
            buf.clear()

    def walk(el, k: str) -> None:
        for child in el.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, PreformattedString):      # comments, doctype, CDATA
                    buf.append(str(child))
                continue
            name = child.name
            if name in _HEADINGS:
                flush(k)
                out.add(_inline_html(child), "heading")
            elif name == "pre":
                flush(k)
                out.add(child.get_text(), "code")
            elif name == "tr" and not child.find(["p", "div", "table", "ul", "ol", "pre", *_HEADINGS]):
                flush(k)
                cells = [_inline_html(c) for c in child.find_all(["td", "th"], recursive=False)]
                if any(cells):
                    out.add(" | ".join(cells), "row")
            elif name == "br":
                flush(k)
            elif name == "li":
                flush(k)
                walk(child, "item")
                flush("item")
            elif name in _BLOCK:                 # layout tables too: their cells are read as blocks
                flush(k)
                walk(child, k)
                flush(k)
            else:                                # inline: its strings join the current block as written
                walk(child, k)

    walk(root, kind)
    flush(kind)


def _inline_html(el) -> str:
    from bs4 import NavigableString
    from bs4.element import PreformattedString

    parts = []
    for d in el.descendants:
        if isinstance(d, NavigableString):
            if not isinstance(d, PreformattedString):
                parts.append(str(d))
        elif d.name in _BLOCK or d.name == "br":
            parts.append(" ")
    return _SPACE.sub(" ", "".join(parts)).strip()
