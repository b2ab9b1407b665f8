"""Evidence: the sentences of the retrieved chunks, each scored by how likely it states the answer.

Scores read question and sentence together, through two small linear models over the features of `features()`
(rag/scorer.json, trained by `python -m evals.train_scorer` on our own dev sets, never on a test split). The
ranker (a softmax over a question's candidates) orders the sentences; the answerability model reads the best
candidate (and the best values among the top three) and says whether the sources answer the question at all.
The features: the cosine of question and sentence, and of question and the sentence it brings along, else the
one before it (vectors computed at ingest: an option's description with its "Default: 100"), how much of the
question's rare terms the sentence and its context (neighbours, section heading, title) cover, whether the
question's names/numbers are there (names also in the sentence itself), whether the sentence holds the kind of
thing asked for (a date for "when", a number for "how many", a name for "who", a command, option or quoted
name for "which flag", a named thing for any other "which ...?", a reason for "why") that is not already in
the question, whether the question is a yes/no one and the sentence says yes or no ("cannot", "not
supported"), whether its chunk lacks a document the question names ("pyflakes" of pyflakes-NEWS.txt), whether
it names the thing a what/which question asks for ("office address"), whether it defines what a "What is X?"
question names ("X, the body established to ..."), and where its chunk ranked. Words about the asking
("mentioned in the article") are no terms to cover, and a sentence that spells out one of the question's
acronyms ("Memorandum of Understanding" for "MoU") holds it. Refusal compares the answerability with a
threshold calibrated on the same dev sets (rag/answer.py).
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from .chunking import is_candidate
from .plaintext import release_heading
from .text import MONTHS, bm25_tokens, clean_sentence, source_words
from .types import Evidence, Hit, Passage

SCORER_PATH = Path(__file__).with_name("scorer.json")
QUESTION_WORDS = {"who", "what", "when", "where", "which", "why", "how", "whom", "whose", "doe", "did", "is",
                  "can", "do", "should", "would", "could", "will", "are", "was", "were"}
ASKING = {"about", "mention", "articl", "say", "said", "tell", "describ", "explain", "accord"}  # stems of words
    # about the asking, not the thing asked ("... mentioned in the article?", "What is it about?"): never a term a
    # sentence must cover
CONTINUES = re.compile(r"^(?i:it|its|they|their|them|he|she|his|her|(this|that|these|those|such) (is|was|are|were|has|"
                       r"have|had|will|would|can|could|may|means|allows|includes|makes|lets|defaults))\b|^[a-z]")
DEFAULT_LINE = re.compile(r"^(?i:defaults?\b|the default\b|by default\b)")   # "Default: 100" under its option's
                                                                           # description, in a block of its own
FIELD = re.compile(r"^\w[\w /-]{0,30}: *\S")      # "Command line: -t INT", "Default: 30"
DESCRIPTION = 3   # sentences of an option's description a "Default: 30" below it brings along, at most
SHORT = 4    # a sentence shorter than this, or one opening with a reference back ("It", "These"), brings the
             # previous sentence of its block along

_MONTH = rf"(?-i:{MONTHS}|(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.?(?= \d))"   # capitalised: "this may
                                                                                    # contain ..." holds no date
_DATE = re.compile(rf"\b((\d{{1,2}} )?{_MONTH}( \d{{1,2}})?,? )?(1[89]\d\d|20\d\d)\b|\b({_MONTH}|Monday|Tuesday|"
                   r"Wednesday|Thursday|Friday|Saturday|Sunday)\b|\b\d{4}-\d\d-\d\d\b|"
                   r"\b(19|20)\d\d(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\b", re.I)   # and Beautiful Soup's "(20230320)"
_NUMBER = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|hundred|"
                     r"thousand|million|billion|dozen|half|double|twice)\b", re.I)
_CODE = re.compile(r"`[^`]+`|(?<!\w)(?:--?[a-zA-Z][\w-]*|[A-Za-z_][\w]*(?:[._/:=][\w*]+)+\(?\)?|[A-Z][A-Z0-9]*_[A-Z0-9_]+|"
                   r"[a-z]+[A-Z]\w*|\w+\(\))")
_DURATION = re.compile(r"\b(?:perpetual|permanent(?:ly)?|forever|indefinite(?:ly)?|until|as long as|lifetime)\b", re.I)
_CONDITION = re.compile(r"\b(?:when|whenever|if|after|before|once|as soon as|until|as of|upon|during)\b", re.I)
_QUOTED = re.compile(r"\"([^\"]{1,40})\"|“([^”]{1,40})”|'([^'\s]{1,40})'")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w&'’-]*[A-Za-z]")
_WORD = r"[A-Z][a-z\u00df-\u024f'’]+(?:-[a-z\u00df-\u024f]+)*\b(?!-)"   # capitalised, no capital inside: not
                                                                            # "WheelFile", "Content-Length"
_EMAIL = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
_PERSON = re.compile(rf"\b{_WORD}(?:\s+(?:[A-Z]\.\s*)*(?:(?:van|von|de|der|da|di|le) )?{_WORD})+|"
                     rf"\b(?:by|from|thanks to|to|with|and|of)\s+{_WORD}|@[A-Za-z][\w-]+|{_EMAIL}|"
                     rf"\({_WORD}\)")   # who a "who" question asks for: "Tomasz Kłoczko", "by Armin", "@hynek",
                                         # an e-mail address; not "Missing RECORD"
_NOTICE = re.compile(r"(?i)(?:copyright|©|\(c\)):?(?:\s*(?:\(c\)|©))?\s*(?:[\d\s,–-]*\d{4})[,.]?\s+\w[^\n]{2,}")
_ITEM_VERB = re.compile(r"(?i)(add|fix|remov|reject|improv|updat|support|deprecat|drop|use|make|allow|chang|return|"
                        r"rais|mov|renam|replac|bump|document|avoid|ensur|handl|prevent|restor|revert|switch|correct|"
                        r"implement|introduc|enabl|disabl|accept|requir|creat|convert|extend|includ|new|initial)"
                        r"(e|es|s|d|ed|ing)?\b")   # a changelog item's first word ("Add Python 3.12 support")
_REFERENCE = re.compile(r"(?:#|\b(?:gh|GH|bpo|PR|pr|issue|pull)[- ]?#?)\d+|\(\d+\)|(?<=[a-z]\.\s)\d+\s*$")   # "#178",
                                                    # "GH-123", a changelog item's trailing issue "... striptags. 521"
_ENTITY = re.compile(r"\d[\w.,%:-]*|\"[^\"]+\"|“[^”]+”|" + _CODE.pattern + r"|(?<!^)\b[A-Z][\w'’-]*[A-Za-z0-9]")
ANSWER_TYPES = [   # (question pattern, what a sentence must hold)
    ("reason", re.compile(r"^\s*(why|how come)\b|\bwhat (is|was|'s) the (reason|point|rationale|motivation)\b|"
                          r"\bfor what reason\b", re.I)),
    ("date", re.compile(r"^\s*(when\b|since when|(in |on |by )?(what|which) (year|date|day|month|time)\b|how long ago)", re.I)),
    ("email", re.compile(r"^\s*(what|which)\b[^?]*\be-?mail\b", re.I)),   # "What is Devi Mandiri's email address?"
    ("version", re.compile(r"^\s*((in|since|from|as of|starting with|until) )?(which|what)\b[^?]*\b(versions?|releases?)\b"
                           r"(?! control)", re.I)),
    ("number", re.compile(r"\bhow (much|many|long|big|large|old|often|fast|far|high|low|small)\b|\bwhat (percentage|"
                          r"proportion|share|amount|number|size|port|version|limit)\b|\b(default|maximum|minimum|max|"
                          r"min) (value|size|number|length|timeout|limit)\b", re.I)),
    ("code", re.compile(r"\b(which|what) (command|option|flag|function|method|class|module|file|variable|setting|"
                        r"argument|parameter|environment variable|env var|key|keyword|package|extension|format|signal|handler|"
                        r"header|field|attribute|decorator|exception|error)s?\b", re.I)),
    ("name", re.compile(r"^\s*(who|whom|whose)\b|\b(who|which (company|organi[sz]ation|person|people|body|"
                        r"group|team|country|city|agency))\b", re.I)),
    ("place", re.compile(r"^\s*where\b|\b(which|what) (country|city|region|place|location|directory|folder|path|url)\b", re.I)),
    ("entity", re.compile(r"^\s*((in|on|for|from|with|at|to|by|of|under|since|until) )?which\b", re.I)),  # "Which proxy
]                                                                       # server ...?": a named thing ("Nginx")
_REASON = re.compile(r"\b(because|since|so that|in order to|due to|thus|therefore|hence|as a result|otherwise|"
                     r"which means|that way|causes?|intentional(ly)?|by design|designed|purpose|liability)\b", re.I)
YESNO = re.compile(r"\s*(is|are|was|were|does|do|did|can|could|should|will|would|has|have|had|may|must)\b", re.I)
POLAR = re.compile(r"\b(?:not|no|never|cannot|neither|nor|none|yes|only|always)\b|n't\b|\bnon-(?=\w)", re.I)   # what
                                                                       # a yes/no answer says ("non-binding")
_DATED = re.compile(r"\b(announc|publish|releas|sign|dat|writ|post|issu|launch|agree|form|unveil)\w*", re.I)
FEATURES = ["cos", "cos_rel", "cover", "cover_ctx", "miss_idf", "miss_count", "name_miss", "num_miss", "extreme_miss",
            "typed", "type_ok", "type_head", "novelty", "words", "rank", "item", "code", "dateline", "cover_x_type",
            "cos_x_cover", "code_for_value", "cos_prev", "prev_x_type", "yesno", "doc_miss", "polar", "focus_miss",
            "defines", "name_miss_own"]
EXTREMES = {   # what a "maximum/minimum/first/latest/default ..." question asks for, and the words that state it
    "max": (r"maximum|max|largest|longest|highest|biggest|upper|most",
            r"maximum|max|largest|longest|highest|biggest|upper|most|up to|at most|no more than|limit|cap|exceed\w*|"
            r"range"),
    "min": (r"minimum|min|smallest|shortest|lowest|least|oldest supported",
            r"minimum|minimal|min|smallest|shortest|lowest|least|or later|or newer|or better|or higher|or above|requires?|"
            r"required|\+|>=|range"),
    "first": (r"first|earliest|initial|introduced",                    # a changelog's item says "Add ..."
              r"first|earliest|initial|introduced|add|adds|added|new in|since|began|started"),
    "last": (r"latest|newest|most recent|last", r"latest|newest|most recent|last|current"),
    "default": (r"defaults?|out of the box|if (?:i|you) don'?t (?:set|configure|change|pass|specify) \w+|when none is "
                r"given", r"defaults?|defaults to|by default|unless|otherwise|initial(?:ly)?|if not (?:set|given|"
                r"specified)|if omitted|falls? back"),
}
_EXTREME_Q = {k: re.compile(rf"\b({q})\b", re.I) for k, (q, _) in EXTREMES.items()}
_EXTREME_S = {k: re.compile(rf"(\b|(?<=\d))({a})(\b|(?=\s|$))", re.I) for k, (_, a) in EXTREMES.items()}


def answer_type(question: str) -> str | None:
    return next((name for name, pattern in ANSWER_TYPES if pattern.search(question)), None)


def holds_type(kind: str, sentence: str, question: str) -> bool:
    """Does the sentence hold a thing of the asked-for kind that the question does not already contain?"""
    q = question.lower()
    if kind == "reason":       # "why ...?": a sentence that gives a reason ("because", "so that", "by design")
        found = [m.group() for m in _REASON.finditer(sentence)]
    elif kind == "email":
        found = re.findall(_EMAIL, sentence)
    elif kind == "version":
        found = re.findall(r"\bv?\d+(?:\.\d+)+\w*|\bv\d+\b", sentence)      # "3.9", "v1"
    elif kind == "date":
        found = [m.group() for m in _DATE.finditer(sentence)]
        if re.match(r"\s*when (is|are|does|do|can|should|will|must)\b", q):   # "when is the hook called?":
            found += _CONDITION.findall(sentence)                               # "after the request ends"
    elif kind == "number":
        bare = _DATE.sub(" ", _REFERENCE.sub(" ", sentence))     # an issue's number is no quantity
        found = [m.group() for m in re.finditer(r"\S*\d\S*", bare)] or [m.group() for m in _NUMBER.finditer(bare)]
        if "how long" in q:       # a duration in words: "a perpetual licence", "until the file is closed"
            found += _DURATION.findall(sentence)
    elif kind in ("code", "entity"):   # code-like tokens, quoted or dotted names (".rst"), signals, constants (TTIN),
        found = [m.group() for m in _CODE.finditer(sentence)] + [m.group() for m in _QUOTED.finditer(sentence)] + \
                re.findall(r"(?<![\w.])\.\w+|\b[A-Z][A-Z0-9]{2,}\b", sentence) + \
                [m.group() for m in _NAME.finditer(sentence)]     # and names: "the Pygments package"
    elif re.match(r"\s*(who|whom|whose)\b", q):
        if "copyright" in q:   # a notice: "Copyright 2020 The Open Sans Project Authors", not the licence's
            found = _NOTICE.findall(sentence)                        # '"Copyright Holder" means ...'
        else:                  # a person or body: two capitalised words, "by Armin", "@hynek"
            found = [m.group().split()[-1] if m.group()[0].islower() else m.group()
                     for m in _PERSON.finditer(sentence) if m.start() > 0 or not _ITEM_VERB.match(m.group())]
    else:   # name, place: a capitalised word past the first, or a path/URL for places
        found = [m.group() for m in _NAME.finditer(sentence)]
        if kind == "place":
            found += re.findall(r"(?:~|\.{0,2})/[\w./-]+|https?://\S+", sentence)
    return any(f.lower().strip(".,;:\"'“”") not in q for f in found)


_FOCUS = re.compile(r"^\s*(?:what|which|how (?:many|much))\s+(?:(?:is|are|was|were)\s+)?(?:(?:the|a|an)\s+)?", re.I)
_FOCUS_STOP = {"of", "for", "in", "on", "at", "by", "with", "from", "to", "does", "do", "did", "is", "are", "was",
               "were", "can", "could", "will", "would", "should", "has", "have", "had", "that", "which", "when", "if",
               "must", "may", "a", "an", "the", "get", "gets", "use", "uses", "used", "i", "you", "we", "it"}
_GENERIC_HEAD = {"number", "value", "name", "kind", "type", "amount", "default", "maximum", "minimum", "max", "min",
                 "largest", "smallest", "biggest", "longest", "shortest", "highest", "lowest", "first", "latest",
                 "last", "oldest", "newest", "current", "exact", "main", "best", "one", "ones"}


def focus(question: str) -> list[str]:
    """The thing a what/which/how-many question asks for, as search tokens: "office address" of "What is the
    office address of the PSF?", "threads" of "What is the maximum number of threads ...?"."""
    m = _FOCUS.match(question)
    if not m:
        return []
    words, out = re.findall(r"[\w'’.-]+", question[m.end():]), []
    for w in words[:8]:
        if w.lower() in _FOCUS_STOP:
            if w.lower() == "of" and not out:      # "the maximum number of threads": what follows "of"
                continue
            break
        if out and w[0].isupper():            # "threads Waitress can ...": the head ends before a name
            break
        if w.lower() not in _GENERIC_HEAD:
            out.append(w)
        if len(out) == 2:
            break
    return bm25_tokens([" ".join(out)])[0] if out else []


_DEFINE_Q = re.compile(r"^\s*(?:what|who)\s+(?:is|are|was|were)\s+(?:an?\s+|the\s+)?(?P<x>[^?]{1,40}?)\s*\?\s*$|"
                       r"^\s*what\s+(?:does|do|did)\s+(?:an?\s+|the\s+)?(?P<y>[^?]{1,40}?)\s+"
                       r"(?:do|mean|stand for)\s*\?\s*$", re.I)
_DEFINES = (r"[\"'”’)]*(?:\s*,[\"'”’]*\s*(?:an?|the|which|who|one)\b|"
            r"\s+(?:is|are|was|were)\s+(?:an?|the|one|any)\b|\s*\(|\s+[-–—:]\s|\s+(?:stands? for|means|refers to)\b)")


def defined(question: str) -> re.Pattern | None:
    """For "What is X?", "What does X do?": a pattern of a sentence that defines X ("X, the body established
    to ...", "X is a ...", "X (..."), with X cut before a preposition ("a cancel point in Trio": "cancel point")."""
    m = _DEFINE_Q.match(question)
    if not m or answer_type(question) not in (None, "name"):
        return None
    words = re.split(r"\s+", (m.group("x") or m.group("y")).strip())
    cut = next((i for i, w in enumerate(words) if i and w.lower() in _FOCUS_STOP), len(words))
    words = words[:cut]
    if not words or len(words) > 4 or any(w.lower() in _GENERIC_HEAD for w in words):
        return None
    return re.compile(r"\b" + r"\s+".join(map(re.escape, words)) + r"\b" + _DEFINES, re.I)


def entities(question: str) -> list[str]:
    """Names, numbers, quoted strings and code-like tokens of the question: an answer must mention them."""
    out = []
    for m in _ENTITY.finditer(question.strip()):
        word = m.group().strip("\"“”`.,?")
        if word and word.lower() not in QUESTION_WORDS and word.lower() not in ("i", "a"):
            out.append(word.lower())
    return out


_ACRONYM = re.compile(r"\b(?=\w{3,6}\b)[A-Z][a-z]?[A-Z][A-Za-z]*\b")      # MoU, TLS, AISI; not AI, GPLv3


def acronyms(question: str) -> dict[str, re.Pattern]:
    """The question's acronyms, each (as a search token) with a pattern of what it stands for: "MoU" is said by
    "Memorandum of Understanding", "TLS" by "Transport Layer Security" (consecutive words starting with its
    letters, a capital letter by a capitalised word)."""
    out = {}
    for m in _ACRONYM.finditer(question):
        token = bm25_tokens([m.group()])[0]
        if len(token) == 1 and len(m.group()) <= 6:
            words = r"[\s\"'“”-]+".join(rf"{c}\w*" if c.isupper() else rf"[{c}{c.upper()}]\w*" for c in m.group())
            out[token[0]] = re.compile(rf"\b{words}\b")
    return out


def _missing(items: list[str], text: str) -> float:
    return sum(i not in text for i in items) / len(items) if items else 0.0


def heading_of(chunk, index: int) -> str:
    """The section heading a sentence sits under: the nearest heading before it in its chunk, else the
    section its chunk starts in; a changelog's "Bugfixes" named with its release ("2.33.1 › Bugfixes", as the
    locator names it)."""
    m = re.search(r"section “([^”]*)”", chunk.locator)
    section, near = m.group(1) if m else "", None
    for s, e, kind in reversed(chunk.sentences[:index]):
        if kind == "heading":
            h = clean_sentence(chunk.text[s - chunk.start:e - chunk.start])
            if release_heading(h):
                return h if near is None else f"{h[:60].strip()} › {near}"
            near = near or h
    if near is None:
        return section
    release = section.split(" › ")[0]
    return f"{release} › {near}" if release_heading(release) else near


def candidates(question: str, hits: list[Hit]) -> list[Evidence]:
    """Every answer candidate of the hits, each document span once; never a question or a sentence that
    introduces the next block ("Run:"). A candidate that cannot stand alone brings its neighbours along
    (_bring_along); an option's description that its "Default: 30" brings along is no candidate of its own,
    so the value is always quoted with it, and the option's other sentences have the value beside their
    heading ("timeout › Default: 30"). A dateline is a candidate only when the question asks when something
    was published, announced, released or signed: it is the date of the document itself."""
    out, seen = [], set()
    dates = answer_type(question) == "date" and bool(_DATED.search(question))
    for hit in hits:
        c = hit.chunk
        shown = [clean_sentence(c.text[s - c.start:e - c.start]) for s, e, _ in c.sentences]
        values = _section_values(c, shown)
        for k, (s, e, kind) in enumerate(c.sentences):
            text = shown[k]
            if ((c.doc_id, s) in seen or not is_candidate(text, kind) or (kind == "dateline" and not dates)
                    or text.endswith(("?", ":"))):
                continue
            seen.add((c.doc_id, s))
            ev = Evidence(hit=hit, index=k, start=s, end=e, kind=kind, text=text, heading=heading_of(c, k))
            if k:
                _bring_along(ev, shown)
            if values[k] and values[k] not in ev.full_text:
                ev.heading = f"{ev.heading} › {values[k]}" if ev.heading else values[k]
            out.append(ev)
    # sentences by document offset: an index is only a place in its own chunk (another chunk's sentence 8 is
    # not this one's)
    within = {(ev.hit.chunk.doc_id, ev.hit.chunk.sentences[i][0]) for ev in out if ev.brought is not None
              for i in range(min(ev.brought, ev.index), max(ev.brought, ev.index) + 1) if i != ev.index}
    return [ev for ev in out if ev.brought is not None
            or (ev.hit.chunk.doc_id, ev.hit.chunk.sentences[ev.index][0]) not in within]


def _section_values(chunk, shown: list[str]) -> list[str]:
    """Per sentence of the chunk, the "Default: 30" field of the section (inside the chunk) it sits in, other
    than itself, or "": one pass over the chunk's runs of sentences between headings."""
    sents, out, k = chunk.sentences, [""] * len(shown), 0
    while k < len(sents):
        if sents[k][2] == "heading":
            k += 1
            continue
        end = next((j for j in range(k, len(sents)) if sents[j][2] == "heading"), len(sents))
        fields = [j for j in range(max(k, 1), end) if DEFAULT_LINE.match(shown[j]) and FIELD.match(shown[j])
                  and len(shown[j].split()) <= 6 and _new_block(chunk, j)]
        for i in range(k, end):
            out[i] = next((shown[j] for j in fields if j != i), "")
        k = end
    return out


def _new_block(chunk, k: int) -> bool:
    """Does sentence k start a block of its own (a line break since the sentence before)?"""
    return "\n" in chunk.text[chunk.sentences[k - 1][1] - chunk.start:chunk.sentences[k][0] - chunk.start]


def _bring_along(ev: Evidence, shown: list[str]) -> None:
    """Extend a candidate that cannot stand alone: "It defaults to 30." or a short sentence brings the previous
    sentence of its block; the first sentence after "Install it with:" brings that; a field line "Default: 30"
    in a block of its own brings its option's description: the block before it (Waitress style), or, after a
    heading or another field ("Command line: -t INT"), the sentence after it (Gunicorn style)."""
    c, k, text = ev.hit.chunk, ev.index, ev.text
    prev, pkind = shown[k - 1], c.sentences[k - 1][2]
    new_block = _new_block(c, k)
    if not new_block and pkind == ev.kind and (len(text.split()) < SHORT or CONTINUES.search(text)
                                              or DEFAULT_LINE.search(text)) \
            or new_block and prev.endswith(":") and pkind not in ("heading", "title"):
        ev.start, ev.lead = c.sentences[k - 1][0], prev
        return
    if not (new_block and DEFAULT_LINE.search(text)) or prev.endswith("?") or pkind == "code":
        return
    if pkind in ("heading", "title") or FIELD.match(prev):
        n = k + 1
        if n < len(c.sentences) and c.sentences[n][2] == "text" and _new_block(c, n) and not FIELD.match(shown[n]):
            ev.end, ev.tail, ev.brought = c.sentences[n][1], shown[n], n
        return
    j = k - 1
    while j > 0 and k - j < DESCRIPTION and not _new_block(c, j) and c.sentences[j - 1][2] == pkind:
        j -= 1
    ev.start, ev.lead, ev.brought = c.sentences[j][0], " ".join(shown[j:k]), j


def context_text(ev: Evidence) -> str:
    """The sentence's surroundings that may carry the question's terms: its file name, title, section
    heading, and the sentences before and after it (a dateline: its whole chunk)."""
    c = ev.hit.chunk
    parts = [source_words(c.source), c.title or "", ev.heading]
    if ev.kind == "dateline":          # a dateline dates the whole document: what its opening (the chunk) is
        return " ".join(parts + [c.text])   # about ("When was the MoU signed?": "... MoU signed by ...")
    for k in (ev.index - 1, ev.index + 1):
        if 0 <= k < len(c.sentences):
            s, e, _ = c.sentences[k]
            parts.append(c.text[s - c.start:e - c.start])
    return " ".join(parts)


def release_of(ev: Evidence) -> str:
    """The release a changelog item is listed under (its heading's first part, "2.33.1 (2026-03-30)"), or ""."""
    release = ev.heading.split(" › ")[0]
    return release if release_heading(release) else ""


def labelled(question: str, ev: Evidence) -> bool:
    """Is the sentence shown after its section heading? When it is too short to stand alone ("Default: 30"),
    when only the heading holds what the question asks for, or when a "which version / when" question is
    answered by a changelog item (its release heading, even when the item names other versions: "Drop
    Python 2.7")."""
    if not ev.heading or ev.heading == ev.hit.chunk.title:
        return False
    kind = answer_type(question)
    release = release_of(ev)
    if kind in ("version", "date") and release and release not in ev.full_text:
        return True       # a changelog item answers "which release / when" by the release it is listed under
    return len(ev.full_text.split()) < SHORT or bool(kind not in (None, "reason") and not holds_type(
        kind, ev.full_text, question) and holds_type(kind, ev.heading, question))


def features(question: str, query: str, qvec: np.ndarray, evidence: list[Evidence], vecs: np.ndarray,
             prev_vecs: np.ndarray, idf) -> np.ndarray:
    """One row of FEATURES per candidate; vecs are the candidates' sentence vectors, prev_vecs those of each
    one's neighbour (Evidence.neighbour; zeros for none: an option's description beside its "Default: 100"
    makes the value the answer); idf(tokens) -> {token: idf} over the collection."""
    if not evidence:
        return np.zeros((0, len(FEATURES)))
    terms = sorted({t for t in bm25_tokens([query])[0] if t not in QUESTION_WORDS and t not in ASKING})
    weights = idf(terms) if terms else {}
    total, top = sum(weights.values()) or 1.0, max(weights.values(), default=1.0) or 1.0
    contexts = [context_text(ev) for ev in evidence]
    own = bm25_tokens([ev.full_text for ev in evidence])
    ctx = bm25_tokens(contexts)
    ents, kind = entities(question), answer_type(question)
    nums = [e for e in ents if re.search(r"\d|[._/=-]", e)]          # numbers, versions, code: exact
    names = [e for e in ents if e not in nums]
    extremes = [k for k, pattern in _EXTREME_Q.items() if pattern.search(question)]
    qtoks = set(bm25_tokens([question])[0])
    cos, cos_prev = vecs @ qvec, prev_vecs @ qvec
    yesno = float(bool(YESNO.match(question)))
    type_ok = [float(kind is not None and holds_type(kind, ev.full_text, question)) for ev in evidence]
    doc_miss = _document_misses(terms, evidence)
    asked = set(focus(question))
    headings = bm25_tokens([ev.heading for ev in evidence]) if asked else []
    short, definition = acronyms(question), defined(question)
    released = [bool(release_of(ev)) for ev in evidence]   # a changelog item: its release
        # is when it came ("When was pycparser first put on PyPI?": "pycparser is now on PyPI" under "Version 2.03")
    rows = []
    for i, ev in enumerate(evidence):
        o, cx = set(own[i]), set(own[i]) | set(ctx[i])
        nearby, headed = ev.full_text + " " + contexts[i], ev.full_text + " " + ev.heading
        low = nearby.lower()
        for token, spelled in short.items():   # "Memorandum of Understanding" says "MoU"
            if token not in cx and spelled.search(nearby):
                cx.add(token)
                low += f" {token}"
                if spelled.search(ev.full_text):
                    o.add(token)
        cover_ctx = sum(weights[t] for t in terms if t in cx) / total
        rows.append([
            cos[i], cos[i] - cos.max(),
            sum(weights[t] for t in terms if t in o) / total,
            cover_ctx,
            max((weights[t] / top for t in terms if t not in cx), default=0.0),
            min(sum(t not in cx for t in terms), 5) / 5,
            _missing(names, low), _missing(nums, low),
            float(any(not (_EXTREME_S[k].search(headed) or k == "first" and released[i]) for k in extremes)),
            float(kind not in (None, "reason", "entity")), type_ok[i],
            float(kind is not None and not type_ok[i] and (holds_type(kind, ev.heading, question)
                                                          or kind == "date" and released[i])),
            len(o - qtoks) / len(o) if o else 0.0,
            min(len(ev.full_text.split()) / 40, 1.0),
            1.0 / ev.hit.rank if ev.hit.rank else 0.0,
            float(ev.kind in ("item", "row")), float(ev.kind == "code"), float(ev.kind == "dateline"),
            cover_ctx * (type_ok[i] if kind else 1.0), cos[i] * cover_ctx,
            float(ev.kind == "code" and kind in ("date", "number", "version", "name", "place")),
            cos_prev[i], cos_prev[i] * type_ok[i], yesno, doc_miss[i], yesno * bool(POLAR.search(ev.full_text)),
            _missing(sorted(asked), set(own[i]) | set(headings[i])) if asked else 0.0,
            float(bool(definition and definition.search(ev.full_text))),
            _missing(names, headed.lower() + "".join(f" {t}" for t in short if t in o)),
        ])
    return np.asarray(rows, dtype=np.float64)


def _document_misses(terms: list[str], evidence: list[Evidence]) -> list[float]:
    """Per candidate, the share of the question's document terms its chunk (with its file name and title)
    lacks. A document term is one that names a candidate's document ("pyflakes" of pyflakes-NEWS.txt): in a
    folder of many products' files, "When was pyflakes 3.0.0 released?" is not answered by pytest's
    history, however well its sentence matches the rest."""
    docs = {ev.hit.chunk.doc_id: ev.hit.chunk for ev in evidence}
    names = dict(zip(docs, map(set, bm25_tokens([f"{source_words(c.source)} {c.title or ''}"
                                                 for c in docs.values()]))))
    asked = [t for t in terms if any(t in n for n in names.values())]
    if not asked:
        return [0.0] * len(evidence)
    chunks = {ev.hit.chunk.id: ev.hit.chunk for ev in evidence}
    tokens = bm25_tokens([c.text for c in chunks.values()])
    words = {i: names[c.doc_id] | set(t) for (i, c), t in zip(chunks.items(), tokens)}
    return [sum(t not in words[ev.hit.chunk.id] for t in asked) / len(asked) for ev in evidence]


@lru_cache(maxsize=4)
def load_scorer(path: Path = SCORER_PATH) -> dict:
    model = json.loads(Path(path).read_text("utf-8"))
    if model["features"] != FEATURES:
        raise ValueError(f"{path} was trained on other features; retrain it: python -m evals.train_scorer")
    return model


def linear(x: np.ndarray, part: dict) -> np.ndarray:
    return ((x - np.asarray(part["mean"])) / np.asarray(part["std"])) @ np.asarray(part["weights"]) + part.get("bias", 0.0)


DIMS_SCALE = 20.0   # the products of interactions() are ~1/384 each: scaled so that their weights, regularised
                    # apart from the features' (train_scorer.DIMS_L2), start on the scale of the standardised ones


def interactions(qvec: np.ndarray, vecs: np.ndarray) -> np.ndarray:
    """Per candidate, the products of its sentence vector's and the question vector's dimensions (they sum to the
    cosine). The ranker weighs each dimension (scorer.json rank.dims): a cosine learned for "states the answer",
    where the embedder's own one measures "is on the topic" (out of fold, the ranker's best candidate holds the
    fact for 0.697 of questions with it against 0.687 without)."""
    return vecs * qvec * DIMS_SCALE


def rank_logits(x: np.ndarray, z: np.ndarray | None, part: dict) -> np.ndarray:
    """The ranker's logit per candidate: its linear model over the features, plus its weights on the
    interactions when given (None: the collection's embedder is not the one the scorer was trained with)."""
    logits = linear(x, part)
    if z is not None and part.get("dims") is not None:
        logits = logits + z @ np.asarray(part["dims"])
    return logits


TOP = 3      # the answer shows up to three sentences: the answerability model also reads the best of the top three
SUMMARY = ["type_ok", "cover_ctx", "cover_x_type", "name_miss", "num_miss", "extreme_miss", "doc_miss", "focus_miss",
           "name_miss_own"]
_SUMMARY_COLS = [FEATURES.index(f) for f in SUMMARY]


def question_row(x: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """What the answerability model reads: the best candidate's features, its logit and its share, and the
    best value of a few features (SUMMARY; the least for the misses) among the top candidates."""
    order = np.argsort(-logits)
    i, top = int(order[0]), x[order[:TOP]]
    p = np.exp(logits - logits.max())
    best = [top[:, c].min() if f.endswith("_miss") else top[:, c].max() for f, c in zip(SUMMARY, _SUMMARY_COLS)]
    return np.concatenate([x[i], [logits[i], p[i] / p.sum()], best])


def judge(evidence: list[Evidence], x: np.ndarray, model: dict, z: np.ndarray | None = None
          ) -> tuple[list[Evidence], float]:
    """(candidates best first, each scored with its share of the question's softmax over candidates;
    the probability that the sources answer the question at all); z: the candidates' interactions()."""
    if not evidence:
        return [], 0.0
    logits = rank_logits(x, z, model["rank"])
    p = np.exp(logits - logits.max())
    for ev, share in zip(evidence, p / p.sum()):
        ev.score = float(share)
    answerable = 1.0 / (1.0 + np.exp(-linear(question_row(x, logits)[None], model["answerable"])[0]))
    return sorted(evidence, key=lambda ev: -ev.score), float(answerable)


def passages(evidence: list[Evidence], limit: int, window: int = 1) -> list[Passage]:
    """What an answer may cite: the best candidates, each with `window` sentences either side inside its
    chunk, overlapping or touching windows of a chunk merged; at most `limit` passages, best first. Every
    candidate inside a passage is listed in it (best first)."""
    out: list[Passage] = []
    for ev in evidence:
        c = ev.hit.chunk
        lo, hi = max(ev.index - window, 0), min(ev.index + window, len(c.sentences) - 1)
        start, end = min(c.sentences[lo][0], ev.start), c.sentences[hi][1]
        near = next((p for p in out if p.hit.chunk.id == c.id and start <= p.end + 1 and p.start <= end + 1), None)
        if near is not None:
            near.start, near.end = min(near.start, start), max(near.end, end)
            near.evidence.append(ev)
        elif len(out) < limit:
            out.append(Passage(hit=ev.hit, start=start, end=end, evidence=[ev], score=ev.score))
    return out
