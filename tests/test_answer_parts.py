"""The parts of the answer step that need no model: follow-ups, answer candidates, question types,
selection. Fast; the end-to-end behaviour is in test_core_answer.py and the eval gate."""
from __future__ import annotations

import pytest

from rag.answer import REFUSAL, compose
from rag.generator import Extractive, select
from rag.verify import Checker
from rag.chunking import chunk_document, units
from rag.conversation import is_follow_up, resolve
from rag.evidence import answer_type, candidates, entities, holds_type
from rag.settings import Settings
from rag.types import Document, Evidence, Hit

ARTICLE = ("Harbour Library Opens Annex\n"
           "July 22, 2025\n\n"
           "The Harbour Library opened its new annex on Monday. It has room for 40,000 books.\n"
           "The annex was designed by Mira Okafor.")


def doc(text=ARTICLE, title="Harbour Library Opens Annex", blocks=None):
    return Document(id="d1", source="docs/news.txt", title=title, text=text, sha256="x", blocks=blocks or [])


@pytest.mark.parametrize("question,follow_up", [
    ("Who signed it?", True), ("Why?", True), ("And the UK?", True), ("What about Wales?", True),
    ("What does this mean?", True), ("How much does it cost?", True),
    ("What will OpenAI do in the UK?", False), ("Is there a limit on uploads?", False),
    ("Which option controls the timeout that the server uses?", False), ("Is the MoU enforceable?", False),
])
def test_follow_ups_are_decided_on_what_the_question_lacks(question, follow_up):
    assert is_follow_up(question) is follow_up


def test_a_self_contained_question_is_never_glued_to_the_previous_one():
    history = [{"role": "user", "content": "When was the memorandum signed?"}]
    assert resolve("What will OpenAI do in the UK?", history) == "What will OpenAI do in the UK?"
    assert resolve("Who signed it?", history) == "When was the memorandum signed? Who signed it?"


def test_a_long_code_block_is_cut_into_units_of_whole_lines():
    """A 149-word `--help` output was one answer unit (answers past 60 words); now units of lines, each
    option with its wrapped description, a blank line always a boundary; a short block stays one unit."""
    from rag.text import CODE_UNIT_WORDS, segment_block

    options = "".join(f"  -{c}, --option-{c}=VALUE\n                        Set the {c} value used by every run"
                      f" of the tool.\n" for c in "abcdefgh")
    block = f"Usage: tool [options] FILE\n\nOptions:\n{options}"
    units = [block[a:b] for a, b in segment_block(block, "code")]
    assert units[0] == "Usage: tool [options] FILE"
    assert all(len(u.split()) <= CODE_UNIT_WORDS + 12 for u in units) and len(units) > 3
    assert all(u.split("\n")[0].lstrip().startswith(("-", "Options:")) for u in units[1:])   # never a
    assert "".join(units).replace("\n", "").replace(" ", "") == block.replace("\n", "").replace(" ", "")  # wrap
    assert segment_block("  pip install tool\n", "code") == [(2, 18)]


def test_title_and_dateline_are_marked_and_sentences_stay_in_their_block():
    chunk = chunk_document(doc())[0]
    kinds = {chunk.text[s - chunk.start:e - chunk.start]: k for s, e, k in chunk.sentences}
    assert kinds["Harbour Library Opens Annex"] == "title"
    assert kinds["July 22, 2025"] == "dateline"
    assert kinds["It has room for 40,000 books."] == "text"
    assert all("\n" not in chunk.text[s - chunk.start:e - chunk.start] for s, e, _ in chunk.sentences)


@pytest.mark.parametrize("block, dateline", [
    ("Updated 3 March 2025", True), ("Published: July 22, 2025", True), ("By Jane Doe", True),
    ("Updated documentation and typings.", False), ("by default it is off.", False),
])
def test_a_dateline_is_a_date_or_a_byline(block, dateline):
    text = f"Notes\n\n{block}\n\nThe annex has room for 40,000 books and opens daily.\n"
    kinds = {text[s:e]: k for s, e, k in units(doc(text, title="Notes"))}
    assert (kinds[block] == "dateline") is dateline


def hits_of(document):
    return [Hit(chunk=c, score=1.0, rank=i) for i, c in enumerate(chunk_document(document), start=1)]


def blocked(text, kind_of, source="docs/settings.md", title="Gunicorn"):
    """A document of blank-line-separated blocks, each of kind_of(block) ("heading", "text", "item"), its
    headings the heading blocks."""
    blocks, pos = [], 0
    for part in text.split("\n\n"):
        blocks.append((pos, pos + len(part), kind_of(part)))
        pos += len(part) + 2
    headings = [(s, text[s:e]) for s, e, k in blocks if k == "heading"]
    return Document(id="d1", source=source, title=title, text=text, sha256="x", blocks=blocks, headings=headings)


def test_candidates_skip_titles_keep_datelines_only_for_the_documents_date_and_bring_the_neighbour():
    hits = hits_of(doc())
    texts = [ev.full_text for ev in candidates("How big is the annex?", hits)]
    assert "Harbour Library Opens Annex" not in texts and "July 22, 2025" not in texts
    # "It has room ..." continues the previous sentence of its block: the quote starts there
    assert "The Harbour Library opened its new annex on Monday. It has room for 40,000 books." in texts
    # a dateline is the document's own date: a candidate when asked when it was announced/published/signed
    assert "July 22, 2025" in [ev.text for ev in candidates("When was the annex announced?", hits)]
    assert "July 22, 2025" not in [ev.text for ev in candidates("When does the annex close?", hits)]
    for ev in candidates("When was the annex announced?", hits):
        assert ev.quote == doc().text[ev.start:ev.end]


@pytest.mark.parametrize("question,kind", [
    ("When was the memorandum signed?", "date"), ("How many books fit in the annex?", "number"),
    ("What is the default timeout value?", "number"), ("Which option disables the cache?", "code"),
    ("Who designed the annex?", "name"), ("Where is the config file stored?", "place"),
    ("Is the agreement binding?", None), ("How do I install it?", None),
    ("Why isn't Click built on argparse?", "reason"), ("What is the purpose of the salt?", None),
    ("What was the reason for the rename?", "reason"), ("Since which version is the flag accepted?", "version"),
    ("Which proxy server does the guide recommend?", "entity"), ("Under which licence is it released?", "entity"),
    ("Which Python versions does it support?", "version"), ("Which releases were yanked?", "version"),
    ("In what year was the Eclipse Public License version 2.0 published?", "date"),
    ("What is Devi Mandiri's email address?", "email"),
])
def test_answer_types(question, kind):
    assert answer_type(question) == kind


def test_a_sentence_holds_the_asked_for_thing_only_if_the_question_lacks_it():
    assert holds_type("number", "It has room for 40,000 books.", "How many books fit?")
    assert not holds_type("number", "The annex opened in July 2025.", "How many books fit?")
    assert not holds_type("number", "Use 4 workers.", "Why use 4 workers?")
    assert holds_type("name", "The annex was designed by Mira Okafor.", "Who designed the annex?")
    assert not holds_type("name", "The annex was designed by an architect.", "Who designed the annex?")
    assert holds_type("code", "Pass --no-cache to skip it.", "Which option disables the cache?")
    assert holds_type("date", "It opened on 3 March 2024.", "When did it open?")
    # "Which Python versions ...?" wants version numbers, not the project's description
    assert holds_type("version", "It supports Python 3.9+ and PyPy.", "Which Python versions does it support?")
    assert holds_type("version", "It accepts PROXY protocol v1 and v2.", "Which PROXY protocol versions work?")
    assert not holds_type("version", "Bottle is a fast WSGI framework for Python.", "Which Python versions does it support?")
    # "may" is a verb, not May: the urllib3 changelog's "This may contain minor breaking changes" dates nothing
    released = "On what date was urllib3 2.0 released?"
    assert not holds_type("date", "Added support for urllib3 2.0. This may contain minor breaking changes.", released)
    assert holds_type("date", "urllib3 2.0 was released on May 4, 2023.", released)
    assert holds_type("date", "2.0.0 (Jan 5 2023)", released)
    assert holds_type("date", "4.12.0 (20230320)", "When was 4.12.0 released?")
    # an issue's number is no quantity ("Improve performance of striptags. 521" in MarkupSafe's changes)
    faster = "How much faster is striptags?"
    assert not holds_type("number", "Improve performance of striptags. 521", faster)
    assert not holds_type("number", "Improve performance of striptags (#521).", faster)
    assert holds_type("number", "striptags is 3 times faster (#521).", faster)
    # "who" wants a person or a body, not any capitalised word: a changelog item names code and its verb
    who = "Who reported the Missing RECORD file bug?"
    assert not holds_type("name", "Fixed WheelFile raising Missing RECORD file (e.g. Django-3.2.5.whl)", who)
    assert not holds_type("name", "Add Python 3.12 support.", who)
    assert not holds_type("name", "Reject Content-Lengths >= 1 zettabyte (#178)", who)
    for by in ("Reported by Tomasz Kłoczko.", "Guido van Rossum reported it.", "Thanks to @hynek.", "Patch by Armin.",
               "The Python Software Foundation reported it.", "Reported by jane@example.org."):
        assert holds_type("name", by, who), by
    # who holds a copyright: a notice, not the licence's definition of "Copyright Holder"
    holder = "Who holds the copyright of the Open Sans fonts?"
    assert holds_type("name", "Copyright 2020 The Open Sans Project Authors (https://github.com/x)", holder)
    assert holds_type("name", "Copyright: 2001-2010 Jane Doe <jane@example.org>", holder)
    assert holds_type("name", "Copyright (C) 1989, 1991 Free Software Foundation, Inc.", holder)
    assert not holds_type("name", '"Font Software" refers to the files released by the Copyright Holder(s).', holder)
    # an e-mail address, not the person's handle
    assert holds_type("email", "Contact Jane Doe <jane.doe@example.org>.", "What is Jane Doe's email address?")
    assert not holds_type("email", "Devi Mandiri (@devi)", "What is Devi Mandiri's email address?")
    # quoted and dotted names, signal-like constants and product names answer "which ..." questions
    assert holds_type("code", 'The usual extensions are ".rst" and ".txt".', "Which file extensions are used?")
    assert holds_type("code", "Send TTIN to the master process.", "Which signal adds a worker?")
    assert holds_type("code", "The Pygments package highlights code.", "Which package highlights code?")
    assert not holds_type("code", "The package highlights code.", "Which package highlights code?")
    # any other "which ...?" asks for a named thing: "Nginx", not a sentence restating the question
    proxy = "Which proxy server does the Gunicorn guide recommend?"
    assert holds_type("entity", "Although many HTTP proxies exist, we recommend Nginx.", proxy)
    assert not holds_type("entity", "We strongly recommend running Gunicorn behind a proxy server.", proxy)
    # a why-question wants a sentence that gives a reason, not one that restates the question
    why = "Why isn't Click built on argparse?"
    assert holds_type("reason", "Click is not based on argparse because nesting is hard.", why)
    assert not holds_type("reason", "Click is not based on argparse.", why)
    # naming "the reason" announces one; it gives none
    assert not holds_type("reason", "There is another reason why Click is not based on argparse.", why)


@pytest.mark.parametrize("text,expected", [
    # Waitress style: the description's block (up to three sentences), then the value
    ("Settings\n\nthreads\n\nThe number of threads used to process requests. Raise it for slow apps.\n\n"
     "Default: 4\n\nMore text here follows.",
     "The number of threads used to process requests. Raise it for slow apps. Default: 4"),
    # Gunicorn style: the value after other fields, the description after it
    ("Settings\n\nthreads\n\nCommand line: --threads INT\n\nDefault: 4\n\n"
     "The number of threads used to process requests.\n\nMore text here follows.",
     "Default: 4 The number of threads used to process requests."),
])
def test_a_default_line_brings_its_options_description_along(text, expected):
    hits = hits_of(doc(text, title="Settings"))
    found = candidates("How many threads are used by default?", hits)
    shown = [ev.full_text for ev in found]
    assert expected in shown
    # the description is quoted with its value, never without it
    assert not any(t.startswith("The number of threads") and "Default" not in t for t in shown)
    for ev in found:
        assert ev.quote == text[ev.start:ev.end]


def test_an_options_other_sentences_are_headed_by_its_default():
    """Gunicorn style: the value heads the sentences its line does not bring along, so an answer from the
    second sentence of the description still says the value."""
    text = ("Settings\n\nCommand line: --timeout INT\n\nDefault: 30\n\nTimeout for workers in seconds.\n\n"
            "Workers silent for more than this many seconds are killed and restarted.")
    document = blocked(text, lambda part: "heading" if part == "Settings" else "text")
    question = "How long can a worker stay silent by default?"
    silent = next(ev for ev in candidates(question, hits_of(document)) if ev.text.startswith("Workers silent"))
    assert silent.heading == "Settings › Default: 30"
    assert holds_type("number", silent.heading, question)


def test_entities_are_names_numbers_and_code_but_not_question_words():
    assert entities("How many data centres will OpenAI build in Wales?") == ["openai", "wales"]
    assert entities("What does --retries 3 do in setup.py?") == ["--retries", "3", "setup.py"]


def scored(texts_scores):
    hits = hits_of(doc(". ".join(t for t, _ in texts_scores) + ".", title="T"))
    evs = candidates("Who?", hits)
    for ev, (_, s) in zip(evs, texts_scores):
        ev.score = s
    return sorted(evs, key=lambda e: -e.score)


def test_selection_leads_with_the_best_and_keeps_only_close_seconds():
    evs = scored([("Alpha beta gamma delta", 0.6), ("Epsilon zeta eta theta", 0.35), ("Iota kappa lambda mu", 0.02)])
    picks = select(evs, max_sentences=3, max_words=60)
    assert [p.text for p in picks] == ["Alpha beta gamma delta.", "Epsilon zeta eta theta."]
    assert [p.score for p in select(evs, max_sentences=1, max_words=60)] == [0.6]
    assert len(select(evs, max_sentences=3, max_words=5)) == 1          # the word budget


def test_a_chosen_sentence_is_replaced_by_a_lower_candidate_that_brings_its_neighbour_along():
    """"The salt can be saved in code." chosen first; "... It only has to be unique." (the same sentence with the
    one it brings along) is no repeat to skip but the fuller quote, shown in its place if the budget allows."""
    text = ("The salt can be saved in code. It only has to be unique per context. "
            "Keys are rotated once a year by the admin.")
    evs = candidates("Must the salt be secret?", hits_of(doc(text, title="T")))
    whole = next(ev for ev in evs if ev.full_text.startswith("The salt") and "unique" in ev.full_text)
    alone = next(ev for ev in evs if ev.full_text == "The salt can be saved in code.")
    other = next(ev for ev in evs if ev.full_text.startswith("Keys"))
    alone.score, whole.score, other.score = 0.6, 0.3, 0.1
    ranked = [alone, whole, other]
    assert [ev.full_text for ev in select(ranked, 3, 60)] == [whole.full_text, other.full_text]
    assert [ev.full_text for ev in select(ranked, 3, 8)] == [alone.full_text]       # over the budget: kept as is


def extractive(question, evs, answerable, threshold):
    def never(*_):
        raise AssertionError("an extractive sentence is a quote: verified without vectors")
    events = list(compose(question, evs, answerable, threshold, Extractive(Settings()), Checker(never, never),
                          Settings(), lambda doc_id: None))
    assert events[-1][0] == "answer"
    return events[-1][1]


def test_refusal_below_the_threshold_cites_the_closest_passages():
    evs = scored([("Alpha beta gamma delta", 0.9), ("Epsilon zeta eta theta", 0.03), ("Iota kappa lambda mu", 0.03)])
    a = extractive("Who?", evs, 0.4, 0.5)
    assert a.refused and a.answer == REFUSAL and len(a.citations) == 2
    a = extractive("Who?", evs, 0.6, 0.5)
    assert not a.refused and a.answer == "Alpha beta gamma delta. [1]"
    assert a.citations[0].quote == "Alpha beta gamma delta." and a.sentences[0].verified


def test_evidence_quote_is_the_document_span():
    d = doc()
    for ev in candidates("Who designed the annex?", hits_of(d)):
        assert isinstance(ev, Evidence) and ev.quote == d.text[ev.start:ev.end]


def test_a_changelog_section_is_named_with_its_release():
    """"Bugfixes" alone names a section of every release: the locator and the answer name the release too."""
    from rag.generator import shown

    text = ("Release History\n\n2.33.1 (2026-03-30)\n\nBugfixes\n\nFixed the zip extraction flaw CVE-2026-25645 "
            "in extract_zipped_paths.\n\n2.33.0 (2026-03-25)\n\nImprovements\n\nFaster header parsing for big "
            "responses.")
    document = blocked(text, lambda part: "text" if " " in part and not part[0].isdigit()
                       and part != "Release History" else "heading", "docs/HISTORY.txt", "HISTORY")
    question = "Which release fixed CVE-2026-25645?"
    ev = next(ev for ev in candidates(question, hits_of(document)) if "CVE" in ev.text)
    assert ev.heading == "2.33.1 (2026-03-30) › Bugfixes"
    assert shown(question, ev, 1).startswith("2.33.1 (2026-03-30) › Bugfixes: Fixed the zip extraction flaw")
    ev.score = 1.0                     # the label is checked like the quote: each part is a heading of the chunk
    answer = extractive(question, [ev], answerable=0.9, threshold=0.5)
    assert not answer.refused and answer.answer.startswith("2.33.1 (2026-03-30) › Bugfixes: Fixed the zip")
    from rag.chunking import locate
    assert locate(document, text.index("Faster")) == "section “2.33.0 (2026-03-25) › Improvements”"


def _feature(name, question, texts, query=None):
    """The feature `name` of each sentence of texts (one document each) for the question."""
    import numpy as np
    from rag.evidence import FEATURES, features

    evs = [ev for text in texts for ev in candidates(question, hits_of(doc(text, title="Notes")))]
    zeros = np.zeros((len(evs), 4))
    x = features(question, query or question, np.zeros(4), evs, zeros, zeros, lambda terms: dict.fromkeys(terms, 1.0))
    return dict(zip((ev.text for ev in evs), x[:, FEATURES.index(name)]))


@pytest.mark.parametrize("question,stated,unstated", [
    # a changelog's items are imperative: "Add support ..." states what was first supported
    ("Which release first supported Python 3.14?", "Add support for Python 3.14 in the checker.",
     "Fix a crash with Python 3.14 in the checker."),
    # a "default" question wants a sentence (or heading) that states a default
    ("How many threads does the server use by default?", "The server uses 4 threads by default.",
     "The server can use 4 threads."),
])
def test_a_maximum_first_or_default_question_wants_words_that_state_it(question, stated, unstated):
    assert _feature("extreme_miss", question, [stated, unstated]) == {stated: 0.0, unstated: 1.0}


def test_a_changelog_item_states_when_it_came_by_its_release():
    """pycparser's OLDER_CHANGES: "pycparser is now on PyPI" under "Version 2.03 (2011.03.06)" answers "When was
    pycparser first put on PyPI?" (the release is the first), and "Minimal Python 2.x version raised to 2.7"
    states a minimum."""
    import numpy as np
    from rag.evidence import FEATURES, features

    text = ("CHANGES\n\nVersion 2.03 (2011.03.06)\n\npycparser is now on PyPI (Python Package Index)\n\n"
            "Version 0.23 (2014.11.08)\n\nMinimal Python 2.x version raised to 2.7")
    document = blocked(text, lambda part: "heading" if part.startswith(("Version", "CHANGES")) else "item",
                       "docs/pycparser-CHANGES", "CHANGES")

    def feature(name, question, start):
        evs = candidates(question, hits_of(document))
        zeros = np.zeros((len(evs), 4))
        x = features(question, question, np.zeros(4), evs, zeros, zeros, lambda terms: dict.fromkeys(terms, 1.0))
        return next(v for ev, v in zip(evs, x[:, FEATURES.index(name)]) if ev.text.startswith(start))

    first = "When was pycparser first put on PyPI?"
    assert feature("extreme_miss", first, "pycparser is now") == 0.0
    assert feature("type_head", first, "pycparser is now") == 1.0
    assert feature("extreme_miss", "What was the minimum Python 2 version for 0.23?", "Minimal") == 0.0


def test_versions_are_one_search_term():
    """bm25s's own pattern keeps no part of "3.0.0", so every release matched a version's question."""
    from rag.text import bm25_tokens

    tokens = bm25_tokens(["When did simplejson 3.0.0 come out? Python 3.11 is supported since 2.33.1."])[0]
    assert {"3.0.0", "3.11", "2.33.1", "simplejson"} <= set(tokens)


def test_a_changelog_item_answers_which_release_with_its_release():
    """"Drop support for Python 2.7" names versions, but not the release that dropped it: the answer says it."""
    from rag.generator import shown

    text = "NEWS\n\n2.5.0 (2022-07-30)\n\nDrop support for EOL python 2.7 / 3.4\n\n2.4.0 (2021-10-06)\n\nFix a crash."
    document = blocked(text, lambda part: "heading" if part[0].isdigit() or part == "NEWS" else "item",
                       "docs/NEWS.txt", "NEWS")
    for question in ("Which release dropped Python 2.7?", "When was Python 2.7 dropped?"):
        ev = next(ev for ev in candidates(question, hits_of(document)) if ev.text.startswith("Drop"))
        assert shown(question, ev, 1) == "2.5.0 (2022-07-30): Drop support for EOL python 2.7 / 3.4 [1]"
    question = "Is Python 2.7 still supported?"
    ev = next(ev for ev in candidates(question, hits_of(document)) if ev.text.startswith("Drop"))
    assert shown(question, ev, 1) == "Drop support for EOL python 2.7 / 3.4 [1]"


def test_a_candidate_from_another_products_file_misses_the_document_the_question_names():
    import numpy as np
    from rag.evidence import FEATURES, features

    def named(source, text, n):
        d = Document(id=f"d{n}", source=source, title=None, text=text, sha256="x", blocks=[])
        return [Hit(chunk=c, score=1.0, rank=n) for c in chunk_document(d)]

    hits = named("docs/pytest-history.txt", "In August 2016, pytest 3.0.0 was released.", 1) + \
        named("docs/pyflakes-NEWS.txt", "3.0.0 (2022-11-23)\n\nDetect undefined names.", 2)
    question = "When was pyflakes 3.0.0 released?"
    evs = candidates(question, hits)
    zeros = np.zeros((len(evs), 4))
    x = features(question, question, np.zeros(4), evs, zeros, zeros, lambda terms: dict.fromkeys(terms, 1.0))
    miss = {ev.hit.chunk.source: v for ev, v in zip(evs, x[:, FEATURES.index("doc_miss")])}
    assert miss == {"docs/pytest-history.txt": 1.0, "docs/pyflakes-NEWS.txt": 0.0}
    # a question that names no document's file or title: nothing is missed
    x = features("When was 3.0.0 released?", "When was 3.0.0 released?", np.zeros(4), evs, zeros, zeros,
                 lambda terms: dict.fromkeys(terms, 1.0))
    assert not x[:, FEATURES.index("doc_miss")].any()


def test_a_yes_no_question_marks_the_sentences_that_say_yes_or_no():
    """Documentation states its limits: "Can X do Y?" is answered by "X cannot ...", "... is not supported"."""
    stated, other = "Waitress does not natively support TLS.", "Waitress serves WSGI applications over HTTP."
    for question, expected in (("Can Waitress terminate TLS?", {stated: 1.0, other: 0.0}),
                               ("Which protocols does Waitress serve?", {stated: 0.0, other: 0.0})):
        assert _feature("polar", question, [stated, other]) == expected
    # a "non-" word says no too: "Is the agreement legally binding?" (the chat's example) by "non-binding"
    stated = "The non-binding nature of the agreement provides flexibility."
    assert _feature("polar", "Is the agreement legally binding?", [stated, other]) == {stated: 1.0, other: 0.0}


@pytest.mark.parametrize("question,asked", [
    ("What is the office address of the Python Software Foundation?", ["offic", "address"]),
    ("What is the maximum number of threads Waitress can be configured to use?", ["thread"]),
    ("Which TCP port does Waitress listen on unless told otherwise?", ["tcp", "port"]),
    ("How many channels can be active?", ["channel"]),
    ("Who designed the annex?", []), ("Is the agreement binding?", []),
])
def test_the_focus_is_the_thing_a_what_question_asks_for(question, asked):
    from rag.evidence import focus

    assert focus(question) == asked


def test_a_sentence_without_the_asked_for_thing_misses_the_focus():
    """"What is the default font size?" is not answered by "The window defaults to 40 lines": a number and a
    default, but no font size."""
    question = "What is the default font size in the editor?"
    stated, other = "The editor's font size defaults to 10 points.", "The editor window defaults to 40 lines."
    assert _feature("focus_miss", question, [stated, other]) == {stated: 0.0, other: 1.0}


def test_words_about_the_asking_are_no_terms_a_sentence_must_cover():
    """"... mentioned in the article?" and a follow-up's "What is it about?" ask for nothing a sentence says:
    a sentence naming the secretary covers the whole question (it missed "mention" and "articl")."""
    stated = "The agreement was signed by Technology Secretary Peter Kyle."
    assert _feature("cover", "Who is the technology secretary mentioned in the article?", [stated]) == {stated: 1.0}
    assert _feature("cover", "Who signed it?", [stated],
                    query="What is the agreement about? Who signed it?") == {stated: 1.0}


def test_a_sentence_that_spells_out_an_acronym_covers_it():
    """"Is the MoU enforceable?" is answered by "a non-binding Memorandum of Understanding"; "many of us" does
    not spell it (its capital letters need capitalised words)."""
    spelled, other = "It is a non-binding Memorandum of \"Understanding with OpenAI.", "It is binding on many of us."
    found = _feature("name_miss", "Is the MoU binding?", [spelled, other])
    assert found == {spelled: 0.0, other: 1.0}


def test_names_missing_from_the_sentence_itself_are_told_apart_from_those_missing_nearby():
    """"Who is the CEO of the AI Safety Institute?" is not answered by "... OpenAI CEO Sam Altman" because the
    sentence before it names the institute: name_miss reads the neighbours too, name_miss_own only the sentence
    (and its heading)."""
    text = "OpenAI will share data with the AI Safety Institute. The deal was signed by OpenAI CEO Sam Altman."
    question, signed = "Who is the CEO of the AI Safety Institute?", "The deal was signed by OpenAI CEO Sam Altman."
    assert _feature("name_miss", question, [text])[signed] == 0.0
    assert _feature("name_miss_own", question, [text])[signed] == 0.5       # "safety" and "institute" of 4 names


@pytest.mark.parametrize("question,sentence,defines", [
    ("What does the AI Safety Institute do?",
     "OpenAI will share data with the UK's AI Safety Institute, the body established to evaluate risks.", 1.0),
    ("What is Humphrey?", 'It builds on uses such as "Humphrey," a Whitehall AI assistant.', 1.0),
    ("What is a cancel point in Trio?", "A cancel point is any operation that checks for cancellation.", 1.0),
    ("What is Humphrey?", "Humphrey helps civil servants every day.", 0.0),
    ("What is the default port?", "The default port is 8080.", 0.0),     # a value, not a definition
])
def test_a_sentence_that_defines_what_the_question_names(question, sentence, defines):
    assert _feature("defines", question, [sentence]) == {sentence: defines}


def test_what_one_chunks_default_brings_along_hides_nothing_in_another_chunk():
    """An option's "Default: 100" hides the description it brings along (its chunk's sentence 1); sentence 1 of
    another chunk of the same file is another sentence and stays a candidate (it was dropped: "Setting it to 0
    will allow unlimited header field sizes." was never an answer)."""
    text = ("Settings\n\nThe first option sets the first limit of the server.\n\nDefault: 100\n\n"
            "Values are positive.\n\nSetting it to 0 will allow unlimited sizes.")
    document = blocked(text, lambda part: "heading" if part == "Settings" else "text")
    early, late = chunk_document(document, max_tokens=16, overlap=0)
    assert [text[s:e] for s, e, _ in late.sentences] == ["Values are positive.",
                                                        "Setting it to 0 will allow unlimited sizes."]
    hits = [Hit(chunk=early, score=1.0, rank=1), Hit(chunk=late, score=1.0, rank=2)]
    found = [ev.full_text for ev in candidates("How do I allow unlimited sizes?", hits)]
    assert "The first option sets the first limit of the server. Default: 100" in found
    assert "Setting it to 0 will allow unlimited sizes." in found


def test_search_tokens_are_bm25s_tokens():
    """rag.text.bm25_tokens is bm25s.tokenize's output without its per-call cost: the BM25 index (built by
    bm25s from these tokens) and term coverage must keep seeing the same tokens."""
    import bm25s
    from rag.text import TOKEN, bm25_tokens, stemmer

    texts = [ARTICLE, "When did simplejson 3.0.0 come out? It isn't CAN'T Ünïcödé naïve __init__ x_y", "", "The"]
    assert bm25_tokens(texts) == bm25s.tokenize(texts, token_pattern=TOKEN, stopwords="en", stemmer=stemmer(),
                                                return_ids=False, show_progress=False)
