"""Plain text as a reader sees it: hard-wrapped paragraphs reflowed; items, headings, table rows and code
found by their layout. An item's bullet goes; in a document with lettered items (a licence citing "Section
2(a)(1)") every item keeps its letter or number."""
from __future__ import annotations

import re
from functools import lru_cache
from itertools import takewhile as _takewhile

from .markup import (ADMONITIONS, CODE_DIRECTIVES, CONTAINERS, TextBuilder, admonition_head, container_title,
                     role_text)

_ROMAN = r"(?:i{1,3}|iv|vi{0,3}|ix|x)[.)]"     # CC BY 4.0's "ii. a copyright notice;", the EPL's "iii) does not ..."
_ITEM = re.compile(rf"^\s*(?:[-*+•◦▪‣]|\d{{1,3}}[.)]|[a-z][.)]|{_ROMAN}|[A-Z]\)|\(\w{{1,3}}\))[ \t]+(?=\S)")
_LETTER_ITEM = re.compile(rf"^\s*(?:[a-z][.)]|{_ROMAN}|[A-Z]\)|\(\w{{1,3}}\))[ \t]")
_NUMBER_ITEM = re.compile(r"^\s*\d{1,3}[.)][ \t]")
_OPTION = re.compile(r"^\s*--?\w[\w-]*(?:[ =,]+[\w{}-]+)* {2,}(?=\S)")   # "--prefix PREFIX   Add an ..."
# indented or centred prose in capitals, no code: the GPL's "NO WARRANTY", the EPL-2.0's opening paragraph
_CAPS_LINE = re.compile(r"[A-Z0-9 ,.;'\"()&!?-]+")
_SECTION = re.compile(r"Section \d+ -- [A-Z].{0,80}")    # CC BY 4.0's "Section 2 -- Scope."
_NUMBERED_TITLE = re.compile(r"^(?:\d{1,2}(?:\.\d{1,2})*\.?|[A-Z]\.|[IVX]{1,4}\.)[ \t]+[A-Z]")
_UNDERLINE = re.compile(r"^\s*(?:={3,}|-{3,}|~{3,})\s*$")
_UNDERLINE_REST = re.compile(r"^\s*([+^*#\"'`:._<>])\1{2,}\s*$")   # reST's other underlines ("1.2.2 (2024-05-25)" over
                                                                  # "++++"), at least as long as their title
_RULE = re.compile(r"^(?=[\s|+:=~-]*$).*?[-=~]{3}")   # only rule characters, 3+ dashes in a row (linear)
_GAP = re.compile(r"(?<=[^\s.!?:;,]) {2,}(?=\S)")        # columns: 2+ spaces, not after a sentence's end
_SHELL = re.compile(r"^\s*(?:\$ |sudo |pip3? |python3? |git |cd |npm |npx |yarn |curl |wget |make\b|docker |"
                    r"kubectl |apt(?:-get)? |brew |conda |uv |\./)")
_END_PUNCT = re.compile(r"""[.!?:]["'”’)\]]*$""")


_RST = re.compile(r"^\s*\.\. [\w:-]+::|``\S|`_(?!\w)|^\s*\.\. _[^:]+:|^\s*\.\. \|[^|]+\|\s+[\w:-]+::", re.M)
_SUBSTITUTION = re.compile(r"^\s*\.\. \|([^|]+)\|\s+([\w:-]+)::\s*(.*)$")
_DIRECTIVE = re.compile(r"^(\s*)\.\. (?:([\w:-]+)::.*|_[^:]+:.*|\|[^|]+\|.*|\S.*)?$")
_RST_INLINE = [(re.compile(r"(?<=\S)::\s*$"), ":"),                             # "text::" announces code
               (re.compile(r"\s*::\s*$"), ""),                                  # "text ::", a lone "::"
               (re.compile(r":[\w:+.-]+:`([^`<]*?)\s*(?:<[^>]*>)?`"), lambda m: role_text(m[1])),   # :role:`text <target>`
               (re.compile(r"``(.+?)``"), r"\1"),                                 # ``literal``
               (re.compile(r"`([^`<]+?)\s*<[^>]+>`__?"), r"\1"),                  # `text <url>`_
               (re.compile(r"`([^`]+)`(?:__?)?"), r"\1")]                          # `text`_, `interpreted`


def rst_inline(text: str) -> str:
    """reStructuredText inline markup as a reader sees it: ``x``, `x`_, `x <url>`_ and :role:`x` become x; the
    "::" announcing a literal block becomes ":" after a word, else goes."""
    for pattern, repl in _RST_INLINE:
        text = pattern.sub(repl, text)
    return text


def rst_substitutions(lines: list[str]) -> list[str]:
    """reStructuredText substitutions as a reader sees them: "|literal itertoolz|_" is the text its
    ".. |literal itertoolz| replace:: ``itertoolz``" gives, an image's ("|Build Status|", a badge) goes;
    only defined names are replaced (a table's "| a | b |" stays)."""
    defined = {}
    for ln in lines:
        m = _SUBSTITUTION.match(ln)
        if m:
            kind, arg = m.group(2).lower(), m.group(3).strip()
            defined[m.group(1)] = arg if kind == "replace" else "" if kind == "image" else m.group(1)
    if not defined:
        return lines
    used = re.compile(r"\|(" + "|".join(map(re.escape, sorted(defined, key=len, reverse=True))) + r")\|(?:__?)?")
    return [ln if _SUBSTITUTION.match(ln) else used.sub(lambda m: defined[m.group(1)], ln) for ln in lines]


def rst_directives(lines: list[str]) -> list[str]:
    """Explicit markup of a reStructuredText file: an admonition's body is dedented and labelled
    ("Warning: ..."), a code directive keeps its body as code, a container's body (a topic, sidebar, tab, ...)
    stays text under its title, other directives (a toctree, an autoclass), targets and comments go."""
    out, i = [], 0
    while i < len(lines):
        m = _DIRECTIVE.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        indent, name = len(m.group(1)), (m.group(2) or "").lower()
        j = i + 1
        while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent):
            j += 1
        while j > i + 1 and not lines[j - 1].strip():
            j -= 1
        body = [ln for ln in lines[i + 1:j] if not re.match(r"^\s*:[\w-]+:", ln)]   # options go
        arg = lines[i].split("::", 1)[1].strip() if "::" in lines[i] else ""
        if name in ADMONITIONS:
            text = [" " * indent + ln.strip() for ln in body if ln.strip()]
            head = admonition_head(name, arg)
            out += [""] + ([" " * indent + f"{head} " + (text[0].strip() if text else "")] + text[1:]
                           if arg or text else []) + [""]
        elif name in CODE_DIRECTIVES:
            out += ["", " " * indent + "::"] + body     # "::" announces the literal block (and then goes)
        elif name in CONTAINERS:      # the title, then the body at the directive's indent
            arg = container_title(name, arg)
            cut = min((len(ln) - len(ln.lstrip()) for ln in body if ln.strip()), default=0)
            out += [""] + ([" " * indent + arg, ""] if arg else []) + \
                [" " * indent + ln[cut:] if ln.strip() else "" for ln in body] + [""]
        else:
            out.append("")
        i = j
    return out


def render_plain(source: str) -> dict:
    lines = [ln.rstrip() for ln in source.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
             .expandtabs(8).split("\n")]
    if is_deb822(lines):
        return render_fields(lines)
    lines = [MODE_LINE.sub("", ln).rstrip() if "-*-" in ln else ln for ln in lines]   # the check: 16x faster
    outline = any(_OUTLINE.match(ln) and ln.startswith("**") for ln in lines)   # GNU NEWS: "* Noteworthy ..."
    rst = (("`" in source or ".. " in source) and bool(_RST.search(source))    # (the check first: 10x faster)
           and not re.search(r"``[^`\n]{1,80}''", source))   # GNU ``quotes'' are not reST
    if rst:
        lines = rst_directives(rst_substitutions(lines))
    kinds = _classify(lines, rst)
    prose = sorted(len(ln.strip()) for ln, k in zip(lines, kinds) if k in ("text", "item"))
    width = prose[int(0.9 * (len(prose) - 1))] if prose else 0
    wrapped = sum(n > 100 for n in prose) <= 0.05 * len(prose)   # else not hard-wrapped: a line is a block
    for i in range(1, len(lines) if wrapped else 0):   # "... to only support Python" / "3. I dropped Python 2 ...":
        prev = lines[i - 1].strip()                     # a number wrapped to the start of a line is no item
        if (kinds[i] == "item" and kinds[i - 1] in ("text", "item") and _NUMBER_ITEM.match(lines[i])
                and not _NUMBER_ITEM.match(prev) and not prev.endswith((".", ":", ";", "!", "?"))
                and soft_break(prev, lines[i], width)):
            kinds[i] = "text"
    ind = [_indent(ln) for ln in lines]
    first = next((i for i, k in enumerate(kinds) if k != "blank"), 0)
    out, cur, cur_kind, item_ind = TextBuilder(rst_inline if rst else None), [], "text", 0
    number = ""    # the current item's number ("3."), when it is numbered
    # lettered items (the EPL's "a)", "b)"; CC BY's "a.", "1.", "i."): the text cites them ("Section 2(a)(1)"), so
    # each numbered or lettered item keeps its marker; a bullet never does
    cited = sum(k == "item" and bool(_LETTER_ITEM.match(ln)) for ln, k in zip(lines, kinds)) >= 2
    marker, letter_ind = "", None   # the current item's kept marker; the outermost lettered item's indent

    def flush() -> None:
        if cur:
            text = " ".join(cur)
            m = _RUN_IN.match(text) if cur_kind == "item" and number else None
            nested = letter_ind is not None and item_ind > letter_ind   # CC BY's "3. Term." under "a. License grant."
            if m and len(text[m.end():].split()) >= 5 and not nested:   # "3. Grant of Patent License. Subject to ..."
                out.add(f"{number} {m.group(1)}", "heading")
                out.add(text[m.end():], "text")
            else:
                out.add(f"{marker} {text}" if cur_kind == "item" and marker else text, cur_kind)
            cur.clear()

    i = 0
    while i < len(lines):
        ln, k = lines[i], kinds[i]
        if outline and _OUTLINE.match(ln):
            flush()
            out.add(_OUTLINE.sub("", ln), "heading")
            i += 1
            continue
        head = _marked_release(lines, i) if k in ("text", "item") else None
        if head:                              # "= 4.12.0 (20230320)", "+ Version 0.30 (2023.09.06)"
            flush()
            out.add(head, "heading")
            i += 1
            continue
        if k == "code":
            j = i
            while j < len(lines) and kinds[j] == "code":
                j += 1
            flush()
            out.add("\n".join(lines[i:j]), "code")
            i = j
            continue
        if k in ("blank", "rule"):
            flush()
        elif k == "underline":
            heading = cur.pop() if cur else None
            flush()
            if heading:
                out.add(heading, "heading")
        elif k == "row":
            flush()
            cells = ln.strip().strip("|").split("|") if "|" in ln else _GAP.split(ln.strip())
            out.add(" | ".join(c.strip() for c in cells), "row")
        elif k == "item" and not _is_heading(lines, kinds, i, width if wrapped else 0, i == first):
            flush()
            m = _ITEM.match(ln)
            cur_kind, item_ind = "item", ind[i]
            number = m.group().strip() if re.match(r"\d+\.$", m.group().strip()) else ""
            marker = m.group().strip() if cited and m.group().strip()[0] not in "-*+•◦▪‣" else ""
            if _LETTER_ITEM.match(ln):
                letter_ind = min(ind[i], letter_ind if letter_ind is not None else ind[i])
            cur.append(ln[m.end():])
        elif cur and (_rst_continues(ln, ind[i], cur_kind, item_ind) if rst
                      else soft_break(lines[i - 1].strip(), ln, width) and not _OPTION.match(ln) if wrapped
                      else cur_kind == "item" and ind[i] > item_ind):
            cur.append(ln.strip())
        else:
            flush()
            if _is_heading(lines, kinds, i, width if wrapped else 0, i == first):
                out.add(ln, "heading")
                letter_ind = None
            else:
                cur_kind, letter_ind = "text", None
                cur.append(ln.strip())
        i += 1
    flush()
    return out.result()


def is_deb822(lines: list[str]) -> bool:
    """Stanzas of "Field: value" lines with indented continuations (a Debian copyright file, a control file)."""
    top = [ln for ln in lines if ln.strip() and not ln[0].isspace()]
    return len(top) >= 3 and _FIELD.match(top[0]) is not None and sum(bool(_FIELD.match(ln)) for ln in top) == len(top)


_STANZA_HEAD = re.compile(r"^(?:Files|License):")   # "Files: debian/*" heads its stanza's Copyright and License


def render_fields(lines: list[str]) -> dict:
    """Each field a line of its own (its stanza's fields together, like items); a field's continuation lines
    reflowed, " ." lines breaking them into paragraphs. A stanza's "Files:" or "License:" field is its heading,
    so a "License: GPL-2+" answers under the files it covers, and a licence's text under its name."""
    out, cur = TextBuilder(), []

    def flush(kind: str) -> None:
        if cur:
            out.add(" ".join(cur), kind)
            cur.clear()

    kind, start = "item", True
    for ln in lines:
        if not ln.strip():
            flush(kind)
            start = True
        elif not ln[0].isspace():
            flush(kind)
            kind = "heading" if start and _STANZA_HEAD.match(ln) else "item"
            cur.append(ln.strip())
            start = False
        elif ln.strip() == "." or kind == "heading":
            flush(kind)
            kind = "text"
            if ln.strip() != ".":
                cur.append(ln.strip())
        else:
            cur.append(ln.strip())
    flush(kind)
    return out.result()


# a numbered clause's run-in title: a few capitalised words and a full stop, then the clause
_TITLE = r"[A-Z][\w'’-]*(?: (?:[A-Z][\w'’-]*|\d+|of|and|or|the|for|to|a|an|in|on|by|with|under|from)){0,9}\."
_RUN_IN = re.compile(rf"({_TITLE}) (?=[\"“(A-Z])")
_NUMBERED_CLAUSE = re.compile(rf"(?:\d{{1,2}}\.)+[ \t]+{_TITLE}")   # "0. Additional Definitions." on its own line
_RST_LINE_START = re.compile(r"^\s*(?:\| |:[\w -]+: )")    # a line block's line or a field starts anew


def _rst_continues(line: str, indent: int, kind: str, item_indent: int) -> bool:
    """reStructuredText: a paragraph runs to the next blank line (whatever its lines' lengths, so a link whose
    URL wraps onto a line of its own stays inside it); an item's lines are indented past its bullet."""
    return not _RST_LINE_START.match(line) and (kind != "item" or indent > item_indent)


def soft_break(prev: str, nxt: str, width: int) -> bool:
    """Is the break between two lines of a paragraph a wrap (so a space), not an intended line break?"""
    n = len(prev)
    if _END_PUNCT.search(prev) and n < 0.8 * width:
        return False
    return n + 1 + len(nxt.split()[0]) >= 0.6 * width


_VERSION_TITLE = re.compile(r"^(version |release |v)?\d+(\.\d+)+\b", re.I)
_OUTLINE = re.compile(r"^\*{1,4} (?=\S)")          # an Emacs outline heading: "* Noteworthy changes", "** Bug fixes"
MODE_LINE = re.compile(r"\s*-\*-.{1,60}-\*-\s*$")   # "-*- outline -*-": a mode line for Emacs
_DEBIAN_ENTRY = re.compile(r"^[a-z0-9][a-z0-9.+-]+ \([^()\s]+\) [\w-]+(?: [\w-]+)*; urgency=\w+")
_FIELD = re.compile(r"^[A-Z][\w-]*:(?:\s|$)")   # a deb822 field: "Files: debian/*", "License: GPL-2+"


_RELEASE = re.compile(r"(?:(?:[\w-]+ ){0,4}(?:version|release) |[A-Za-z][\w.-]* )?v?\d+(?:\.\d+)+[\w.+-]*"
                      r"(?: \"[^\"]{1,50}\")?"        # Beautiful Soup's '2.0.0 "Who cares for fish?" (20050410)'
                      r"(?:\s*(?:\(.{0,40}\)|[-–—:] .{0,40}|released .{0,40}))?(?: \[[\w -]{1,20}\])?", re.I)


def release_heading(line: str) -> bool:
    """Is the line all a changelog's release heading ("Version 2.2.0", "v8.0.2 (2026-11-18)", "2.33.1
    (2026-03-30)", "h11 0.16.0 (2025-04-23)", "Noteworthy changes in release 9.5 (2024-03-28) [stable]", a
    Debian entry)?"""
    return bool(_RELEASE.fullmatch(line.strip()) or _DEBIAN_ENTRY.match(line))


# a release marked like an item or a title: Beautiful Soup's "= 4.12.0 (20230320)" ("= 3.2.0 =", "= Between 1.2
# and 2.0 ="), pyelftools' and pycparser's "+ Version 0.30 (2023.09.06)"
_MARKED_RELEASE = re.compile(r"^\s*(?:([-*+•])|=) (.+?)( =)?$")


def _marked_release(lines: list[str], i: int) -> str | None:
    """The title a line standing alone gives between "=" and " =", or the release it names after "=" or a
    bullet (not a bare "- 3.9"), else None."""
    m = _MARKED_RELEASE.match(lines[i])
    alone = (i == 0 or not lines[i - 1].strip()) and (i + 1 == len(lines) or not lines[i + 1].strip())
    if not m or not alone:
        return None
    bullet, title, closed = m.groups()
    if bullet:
        return title if " " in title and release_heading(title) else None
    return title if closed or release_heading(title) else None


_KEY_VALUE = re.compile(r"^\w[\w ]{0,24}:\s+(?=\S)(?=.*[\d`'\"<>=/-]|[a-z])")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _is_term(lines: list[str], kinds: list[str], i: int) -> bool:
    """A definition-list term: a short line directly followed by its more indented definition
    ("channel_timeout" / "    Maximum seconds to ..."): the term titles what follows."""
    s = lines[i].strip()
    if kinds[i] != "text" or i + 1 >= len(lines) or kinds[i + 1] != "text" or len(s) > 40 or len(s.split()) > 4:
        return False
    return _indent(lines[i + 1]) >= _indent(lines[i]) + 2 and not s.endswith((".", ",", ";", "!", "?"))


def _caps(line: str) -> bool:
    letters = [c for c in line if c.isalpha()]
    return len(letters) >= 3 and all(c.isupper() for c in letters)


def _is_heading(lines: list[str], kinds: list[str], i: int, width: int, first: bool) -> bool:
    """Conservative: an ALL-CAPS line (not a wrapped line of a paragraph in capitals), the first line (a
    title), a numbered section title or a short line standing alone before a long paragraph; never a line
    ending in punctuation."""
    s = lines[i].strip()
    if _KEY_VALUE.match(s):                   # "Default: ``30``", "Command line: --bind": a value, not a title
        return False
    if _is_term(lines, kinds, i):
        return True
    alone = (i == 0 or kinds[i - 1] == "blank") and (i + 1 == len(lines) or kinds[i + 1] == "blank")
    before = next((kinds[j] for j in range(i - 1, -1, -1) if kinds[j] != "blank"), "")
    after = next((j for j in range(i + 1, len(lines)) if kinds[j] != "blank"), None)
    if _DEBIAN_ENTRY.match(s):                # "frob (2.4-1) unstable; urgency=medium": a Debian changelog's
        return True                           # release
    if _SECTION.fullmatch(s):
        return alone and after is not None
    if _NUMBERED_CLAUSE.fullmatch(s):         # a licence's clause title, even after the last clause's items
        return alone and after is not None and kinds[after] == "text"
    if len(s) > 100 or s.endswith((".", ",", ";", ":", "!", "?")) or not (s[0].isupper() or s[0].isdigit()):
        return False
    if _NUMBERED_TITLE.match(s):              # "3. Installation", not the last of a list of short items
        return alone and len(s) <= 70 and after is not None and before != "item" and (
            kinds[after] == "text" or bool(_LETTER_ITEM.match(lines[after])))   # the EPL's "2. GRANT OF RIGHTS"
                                                                                # over its "a)", "b)"
    if kinds[i] != "text":
        return False
    if len(s) <= 70 and _caps(s):             # "NO WARRANTY", unless a line of a paragraph in capitals
        return not any(0 <= j + 1 < len(lines) and kinds[j] == kinds[j + 1] == "text" and _caps(lines[j + 1])
                       and _caps(lines[j]) and soft_break(lines[j].strip(), lines[j + 1], width or 70)
                       for j in (i - 1, i))
    if first:                                 # a title line: alone, or clearly not wrapped into the next
        return after is not None and (alone or not width or len(s) < 0.7 * width)
    if alone and len(s) <= 70 and _VERSION_TITLE.match(s) and after is not None:   # a changelog's release
        return True
    if not alone or len(s) > 60 or re.search(r"\b(?:19|20)\d\d\b", s) or after is None:
        return False
    nxt = []                                  # the next paragraph's lines
    for j in range(after, len(lines)):
        if kinds[j] != "text":
            break
        nxt.append(lines[j])
    return len(nxt) >= 2 or sum(map(len, nxt)) >= 100


def _classify(lines: list[str], rst: bool = False) -> list[str]:
    """Each line's kind: blank, code, row, rule (dropped), underline (of a heading), item or text. In
    reStructuredText an indented block is code after a line ending in ":" ("::") or a doctest, else a quote."""
    n = len(lines)
    marker = [rst and ln.strip() == "::" for ln in lines]      # a lone "::" opens a literal block, then goes
    kinds = ["blank" if not ln.strip() or m else "" for ln, m in zip(lines, marker)]
    ind = [_indent(ln) for ln in lines]
    long_ind = [d for d, ln in zip(ind, lines) if len(ln.strip()) >= 30]
    ref = max(set(long_ind), key=long_ind.count) if long_ind else min((d for d, k in zip(ind, kinds) if not k),
                                                                      default=0)
    base, i = ref, 0
    while i < n:                              # code: indented 4+ past the text, or shell commands after ":"
        if kinds[i]:
            i += 1
            continue
        prev = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        after_blank = i > 0 and kinds[i - 1] == "blank"
        opens = prev.endswith(":") or (lines[i].lstrip().startswith(">>>") if rst else after_blank)
        if ind[i] >= ref + 4 and opens and not _ITEM.match(lines[i]) and (prev.endswith(":") or not all(
                _caps(ln) and " " in ln.strip() and _CAPS_LINE.fullmatch(ln.strip())   # 2+ words ("ACCEPT", a
                for ln in _takewhile(str.strip, lines[i:i + 50]))):                       # button, stays code)
            j = i
            while j < n and not marker[j] and (kinds[j] == "blank" or ind[j] >= ref + 4):
                j += 1
            while kinds[j - 1] == "blank":
                j -= 1
            kinds[i:j] = ["code"] * (j - i)
            i = j
            continue
        if prev.endswith(":") and _SHELL.match(lines[i]):
            while i < n and not kinds[i] and (_SHELL.match(lines[i]) or lines[i - 1].endswith("\\")):
                kinds[i] = "code"
                i += 1
            continue
        m = _ITEM.match(lines[i])
        ref = (m.end() if m else ind[i]) if ind[i] < ref + 4 else ref
        if not m and ind[i] <= base:
            ref = base
        i += 1
    for i in range(n):                        # table rows: 2+ neighbouring lines with aligned column gaps
        if kinds[i] or ("|" not in lines[i] and "  " not in lines[i]) or _RULE.match(lines[i]):
            continue                          # (no "|" and no gap: never a row; the common case, checked first)
        if _OPTION.match(lines[i]):           # a --help's "--insert   Insert the data ...": an option and its
            continue                          # description (csvkit's csvsql.txt), no table
        for j in (i - 1, i + 1, i - 2, i + 2):
            step = 1 if j > i else -1
            if 0 <= j < n and (abs(j - i) == 1 or _RULE.match(lines[i + step])) and _same_table(lines[i], lines[j]):
                kinds[i] = "row"
                break
    for i in range(n):
        if kinds[i]:
            continue
        ln, prev = lines[i], kinds[i - 1] if i else "blank"
        near_row = "row" in (prev, kinds[i + 1] if i + 1 < n else "")
        if _RULE.match(ln) and (near_row or prev == "blank" or not _UNDERLINE.match(ln)):
            kinds[i] = "rule"
        elif _UNDERLINE.match(ln):
            kinds[i] = "underline" if prev == "text" else "rule"
        elif prev == "text" and _UNDERLINE_REST.match(ln) and len(ln.strip()) >= len(lines[i - 1].strip()):
            kinds[i] = "underline"
        elif _ITEM.match(ln) and (not _LETTER_ITEM.match(ln) or prev in ("blank", "item")
                                  or lines[i - 1].rstrip().endswith(":")):
            kinds[i] = "item"
        else:
            kinds[i] = "text"
    return kinds


@lru_cache(maxsize=64)   # each line is compared with up to 4 neighbours: compute its gaps once
def _gaps(line: str) -> tuple[tuple[int, int], ...]:
    """Column gaps of a line; a list item's bullet and the spaces after it ("-  March 2006") are none."""
    m = _ITEM.match(line)
    return tuple(g.span() for g in _GAP.finditer(" " * m.end() + line[m.end():] if m else line))


def _same_table(a: str, b: str) -> bool:
    if not b.strip() or _RULE.match(b):
        return False
    if a.count("|") >= 1 and b.count("|") >= 1 and a.count("|") + b.count("|") >= 3:
        return True
    ga, gb = _gaps(a), _gaps(b)
    return any(s1 < e2 and s2 < e1 for s1, e1 in ga for s2, e2 in gb)
