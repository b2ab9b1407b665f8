"""Readers: the stored text is clean text (what a reader sees) and every block's span is exact."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from rag.documents import read_document
from rag.pdftext import drop_page_furniture, pdf_blocks
from rag.errors import DocumentError
from rag.types import BLOCK_KINDS

FORMATS = Path(__file__).parent / "fixtures" / "formats"


def read(path: Path):
    doc = read_document(path, path.name, path.stem)
    check_structure(doc)
    return doc


def check_structure(doc) -> None:
    """Blocks cover the text in order, exactly, separated by newlines; one line each except code."""
    text, pos = doc.text, 0
    assert doc.blocks and all(not ln.endswith((" ", "\t")) for ln in text.split("\n"))
    for start, end, kind in doc.blocks:
        assert kind in BLOCK_KINDS
        assert pos <= start < end and text[start:end] == text[start:end].strip()
        gap = text[pos:start]
        assert not gap.strip() and (pos == 0 or "\n" in gap), (gap, text[start:end])
        assert kind == "code" or "\n" not in text[start:end]
        pos = end
    assert not text[pos:].strip()
    assert doc.paragraphs == [s for s, _, _ in doc.blocks]
    assert doc.headings == [(s, text[s:e]) for s, e, k in doc.blocks if k == "heading"]


def blocks(doc, kind: str | None = None) -> list[str]:
    return [doc.text[s:e] for s, e, k in doc.blocks if kind in (None, k)]


def test_plain_text_is_reflowed_into_blocks():
    doc = read(FORMATS / "guide.txt")
    assert doc.title == "Field Guide to the Sensor Network" and doc.date == "2024-05-02"
    assert ("The sensor network measures air quality at forty sites across the city and reports every ten "
            "minutes. Each station runs") in doc.text
    assert blocks(doc, "heading") == ["Field Guide to the Sensor Network", "INSTALLATION", "3. Maintenance"]
    assert "=====" not in doc.text
    assert blocks(doc, "item") == [
        "mount the enclosure at least two metres above the ground, away from walls and trees;",
        "connect the solar panel and check that the battery charges;",
        "register the station with its serial number.",
        "Unpack the kit and check every part against the packing list.",
        "Flash the firmware from a laptop."]
    assert blocks(doc, "row") == ["Pollutant | Unit | Limit", "PM2.5 | ug/m3 | 25", "NO2 | ug/m3 | 40"]
    assert blocks(doc, "code") == ["sensorctl flash --port /dev/ttyUSB0\nsensorctl verify"]
    assert "Updated 2 May 2024" in blocks(doc, "text")


def test_plain_text_not_hard_wrapped_keeps_each_line_a_block(tmp_path):
    path = tmp_path / "memo.txt"
    long = "This line is a whole paragraph written without hard wrapping, " * 3
    path.write_text(f"Memo title\n12 March 2024\n{long}\n{long.upper()[:40].lower()} ends here.\n\f"
                    "Next page   starts here.\n", "utf-8")
    doc = read(path)
    assert blocks(doc) == ["Memo title", "12 March 2024", long.strip(), long.upper()[:40].lower() + " ends here.",
                           "Next page starts here."]
    assert [k for _, _, k in doc.blocks][:2] == ["heading", "text"]


def test_markdown_is_rendered_without_syntax():
    doc = read(FORMATS / "security.md")
    assert doc.title == "Security Policy"
    for syntax in ("](", "**", "`", "owner: platform", "[unused]", "<div", "|---", "```"):
        assert syntax not in doc.text
    assert not re.search(r"(?m)^#|^[-*] ", doc.text)
    assert ("We run a bug bounty through HackerOne and answer every report within two working days. Write to "
            "security@acme.example or see https://acme.example/security for the PGP key.") in doc.text
    assert "hackerone.com" not in doc.text and "badge" not in doc.text and "build" not in doc.text
    assert blocks(doc, "heading") == ["Security Policy", "Supported versions", "Reporting"]
    assert blocks(doc, "row") == ["Version | Supported | Until", "2.x | yes | 2026", "1.x | no | 2023"]
    assert blocks(doc, "item") == ["Describe the issue and how to reproduce it.", "Include the affected version:",
                                   "the release number, from acme --version;", "the operating system."]
    assert blocks(doc, "code") == ["acme --version\nacme report --encrypt"]
    assert "Please do not open public issues for security problems." in blocks(doc, "text")
    assert "Reports are confidential." in blocks(doc, "text")


def test_markdown_admonitions_are_text_not_code(tmp_path):
    """MkDocs' '!!! warning' over an indented body (Gunicorn's and Python-Markdown's docs): the label, then the
    body rendered like any Markdown, not an indented code block showing '***not***' raw."""
    path = tmp_path / "usage.md"
    path.write_text("# Usage\n\n!!! warning\n\n    The library does ***not*** sanitize its HTML output. If\n"
                    "    the input is untrusted, sanitize it yourself.\n\n    - use nh3\n\n"
                    "!!! info \"Added in 19.8\"\n\n## `timeout`\n\n!!! note \"Changed in 19.4\"\n"
                    "    Loading needs the ``python:`` prefix.\n", "utf-8")
    doc = read(path)
    assert "!!!" not in doc.text and "***" not in doc.text and "``" not in doc.text
    assert "The library does not sanitize its HTML output. If the input is untrusted, sanitize it yourself." \
        in blocks(doc, "text")
    assert blocks(doc, "item") == ["use nh3"]
    assert blocks(doc, "code") == []
    assert ["Warning:", "Added in 19.8", "Changed in 19.4:", "Loading needs the python: prefix."] == \
        [b for b in blocks(doc, "text") if not b.startswith("The library")]


def test_myst_directives_and_roles_are_rendered_not_shown_raw(tmp_path):
    """MyST Markdown (structlog's docs, realdocs4): ':::{tip}' showed raw, '```{note}' became a code block and
    '{doc}`text <target>`' kept its role; a code directive stays code and a toctree goes."""
    path = tmp_path / "why.md"
    path.write_text("# Why\n\n:::{tip}\nMore advice is in the chapter on {doc}`logging-best-practices`.\n:::\n\n"
                    "```{note}\n:class: dropdown\nBind pairs to {doc}`context variables <contextvars>` with {func}`~structlog.bind`.\n```\n\n"
                    "```{code-block} python\nlog.info(\"hello\")\n```\n\n::::{tab-set}\n:::{tab-item} Linux\n"
                    "Install it with pip.\n:::\n::::\n\n```{toctree}\napi\n```\n\nA f-string `{name}` stays.\n", "utf-8")
    doc = read(path)
    assert "Tip:" in blocks(doc, "text") and "Note:" in blocks(doc, "text")
    assert "More advice is in the chapter on logging-best-practices." in blocks(doc, "text")
    assert "Bind pairs to context variables with bind." in blocks(doc, "text")
    assert blocks(doc, "code") == ['log.info("hello")']
    assert "Install it with pip." in blocks(doc, "text") and "Linux" in blocks(doc, "text")
    assert "A f-string {name} stays." in blocks(doc, "text")
    assert ":::" not in doc.text and "{doc}" not in doc.text and "api" not in doc.text and "dropdown" not in doc.text


def test_html_declared_latin1_is_decoded_and_rendered():
    assert b"caf\xe9" in (FORMATS / "cafe.html").read_bytes()          # really ISO-8859-1 on disk
    doc = read(FORMATS / "cafe.html")
    assert doc.title == "Café des Arts – Tarifs"
    assert ("Le café ouvre à 8 h. Un menu, un café et un croissant coûtent £4. Voir les tarifs."
            in blocks(doc, "text"))
    assert blocks(doc, "heading") == ["Café des Arts", "Horaires"]
    assert blocks(doc, "item") == ["Lundi: fermé", "Mardi à dimanche: 8 h – 18 h", "Terrasse en été"]
    assert blocks(doc, "row") == ["Boisson | Prix", "Expresso | £2", "Thé | £3"]
    assert blocks(doc, "code") == ["ouvert  08:00\nfermé   18:00"]
    for chrome in ("Accueil", "propos", "©", "not text", "font-family"):
        assert chrome not in doc.text


def test_html_inline_spacing_and_utf8_default(tmp_path):
    path = tmp_path / "page.htm"
    path.write_text("<p>See <a href='x'>the rules</a>, then <b>sign</b>.<br>Next line</p><p>Naïve</p>", "utf-8")
    doc = read(path)
    assert blocks(doc) == ["See the rules, then sign.", "Next line", "Naïve"]
    mislabelled = tmp_path / "mislabelled.html"
    mislabelled.write_bytes('<meta charset="iso-8859-1"><p>Café £3</p>'.encode("utf-8"))
    assert read(mislabelled).text == "Café £3"


def test_docx_paragraphs_and_tables_in_order(tmp_path):
    import docx

    d = docx.Document()
    d.add_heading("Fees", level=1)
    d.add_paragraph("The fees below apply from April.")
    table = d.add_table(rows=3, cols=2)
    for r, (a, b) in enumerate([("Item", "Fee"), ("Late return", "£0.50 per day"), ("Lost card", "£2")]):
        table.cell(r, 0).text, table.cell(r, 1).text = a, b
    d.add_paragraph("Pay at the desk.", style="List Bullet")
    d.add_paragraph("Receipts are e-mailed.")
    d.save(str(tmp_path / "fees.docx"))
    doc = read(tmp_path / "fees.docx")
    assert [(k, doc.text[s:e]) for s, e, k in doc.blocks] == [
        ("heading", "Fees"), ("text", "The fees below apply from April."), ("row", "Item | Fee"),
        ("row", "Late return | £0.50 per day"), ("row", "Lost card | £2"), ("item", "Pay at the desk."),
        ("text", "Receipts are e-mailed.")]
    assert doc.title == "Fees"


def test_real_pdf_lines_joined_furniture_dropped():
    """policy.pdf: made by LibreOffice from make_policy_pdf.py (header, "Page N of 3" footer, hyphenation)."""
    doc = read(FORMATS / "policy.pdf")
    assert len(doc.pages) == 3 and doc.pages[0] == 0
    assert "Acme Ltd" not in doc.text and "Page 1 of 3" not in doc.text and not re.search(r"(?m)^\d+$", doc.text)
    assert ("Rule 1 covers booking. Staff a who travel for work must follow the international accommodation "
            "guidance, and the travel desk keeps the documentation of every reimbursement for seven years. "
            "The built-in checker") in doc.text
    assert "inter-" not in doc.text and "documen-" not in doc.text
    assert blocks(doc, "heading")[:3] == ["Travel Policy", "1. Rules for booking", "2. Rules for hotels"]
    assert blocks(doc, "item")[:2] == ["Keep the receipts for booking.", "Submit booking claims within 30 days."]
    assert "Questions about booking go to the travel desk." in blocks(doc, "text")
    from rag.chunking import locate

    assert locate(doc, doc.text.index("Rule 9 covers")).startswith("page 3")


def test_pdf_hyphens_paragraph_breaks_and_page_numbers():
    pages = [["Report 2024",
              "The new building opened in March and the library was moved to",
              "the ground floor, an example of the built-in flexibility of an exam-",
              "ple design; the well-known architect was pleased with the result.",
              "",
              "A second paragraph starts after a blank line and its last line is",
              "short.",
              "The third one has a well-", "known name and runs on to the next page, where",
              "- 1 -"],
             ["Page 2 of 3", "it ends with a sentence about the built-", "in self-", "Service desk of the library."],
             ["3"]]
    got = pdf_blocks(drop_page_furniture(pages))
    text = got["text"]
    assert text == ("Report 2024\n\nThe new building opened in March and the library was moved to the ground floor, "
                    "an example of the built-in flexibility of an example design; the well-known architect was "
                    "pleased with the result.\n\nA second paragraph starts after a blank line and its last line is "
                    "short.\n\nThe third one has a well-known name and runs on to the next page, where it ends with "
                    "a sentence about the built-in self-Service desk of the library.")
    assert got["pages"] == [0, text.index("it ends with"), len(text)]
    assert [k for _, _, k in got["blocks"]] == ["heading", "text", "text", "text"]


def test_running_headers_need_three_pages_and_half_of_them():
    pages = [["Annual Report", f"Chapter {n}", f"Body text {word}.", "Confidential", str(n)]
             for n, word in enumerate(["one", "two", "three", "four"], start=1)]
    pages[3] = ["Body text four."]
    cleaned = drop_page_furniture([list(p) for p in pages])
    assert cleaned == [["Body text one."], ["Body text two."], ["Body text three."], ["Body text four."]]
    two = drop_page_furniture([list(p) for p in pages[:2]])     # 2 pages: only the bare page numbers go
    assert two == [p[:-1] for p in pages[:2]]


def test_encodings_and_bad_files(tmp_path):
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Le café coûte 3 £ et le thé 2 £. Naïve question: où est la gare?".encode("cp1252"))
    assert "Le café coûte 3 £" in read(latin).text
    bom = tmp_path / "bom.md"
    bom.write_bytes("\ufeff# Titre\n\nDéjà vu.\n".encode("utf-8"))
    assert read(bom).text == "Titre\n\nDéjà vu."
    garbage = tmp_path / "garbage.txt"
    garbage.write_bytes(bytes(range(128, 256)) * 4)
    with pytest.raises(DocumentError, match="UTF-8"):
        read_document(garbage, "garbage.txt", "g")
    binary = tmp_path / "binary.md"
    binary.write_bytes(b"\x00\x01\x02PK\x03\x04" * 50)
    with pytest.raises(DocumentError, match="binary"):
        read_document(binary, "binary.md", "b")


def test_fixture_corpus_reads_clean(tmp_path):
    from conftest import build_corpus

    folder = build_corpus(tmp_path / "docs")
    for path in sorted(folder.iterdir()):
        doc = read(path)
        assert doc.title and "\n\n\n" not in doc.text
    memo = read(folder / "memo.txt")
    assert memo.title.startswith("Memorandum") and memo.date == "2024-03-12"
    handbook = read(folder / "handbook.md")
    assert ("Core hours are 10:00 to 16:00, Monday to Friday. Staff may start as early as 07:30"
            in blocks(handbook, "text")[0])
    shutil.rmtree(folder)


def test_definition_terms_and_release_lines_are_headings_key_values_are_not(tmp_path):
    path = tmp_path / "arguments.txt"
    path.write_text("Arguments\n---------\n\nchannel_timeout\n    Maximum seconds to leave an inactive connection\n"
                    "    open (integer).\n\n    Default: ``120``\n\nVersion 1.2.0 released 2024-03-01\n\n"
                    "* Fixed the parser when the input is empty.\n", "utf-8")
    doc = read(path)
    assert blocks(doc, "heading") == ["Arguments", "channel_timeout", "Version 1.2.0 released 2024-03-01"]
    assert "Default: 120" in blocks(doc, "text")    # a value is never a heading (reST: an indented quote, no code)
    assert "Maximum seconds to leave an inactive connection open (integer)." in blocks(doc, "text")


def test_restructuredtext_in_a_txt_file_is_rendered(tmp_path):
    path = tmp_path / "usage.txt"
    path.write_text("Usage\n=====\n\n.. _usage:\n\nSet ``timeout`` (see `the guide <https://example.org/g>`_ and\n"
                    ":func:`~acme.serve`) before starting.\n\n.. warning::\n    Never expose the ``admin`` port.\n\n"
                    ".. versionadded:: 2.1\n\n.. code-block:: python\n\n    serve(app, timeout=30)\n\n"
                    ".. toctree::\n   :maxdepth: 2\n\n   intro\n", "utf-8")
    doc = read(path)
    assert blocks(doc, "text") == ["Set timeout (see the guide and serve) before starting.",
                                   "Warning: Never expose the admin port.", "New in version 2.1."]
    assert blocks(doc, "code") == ["serve(app, timeout=30)"]
    assert "intro" not in doc.text and "maxdepth" not in doc.text and ".." not in doc.text


def test_restructuredtext_substitutions_are_replaced_and_badges_go(tmp_path):
    """toolz's README (realdocs3) answered "What are the three parts of toolz?" with "|literal itertoolz|_,
    for operations on iterables." and opened with "|Build Status| |Coverage Status|"; a table's pipes stay."""
    path = tmp_path / "README.txt"
    path.write_text("Toolz\n=====\n\n|Build Status| |Coverage|\n\n``toolz`` has three parts:\n\n"
                    "|literal itertoolz|_, for iterables, and |literal functoolz|_, for functions.\n\n"
                    "A row | a | b | stays as it is.\n\n"
                    ".. |literal itertoolz| replace:: ``itertoolz``\n.. |literal functoolz| replace:: ``functoolz``\n"
                    ".. _literal itertoolz: https://example.org/itertoolz.py\n"
                    ".. |Build Status| image:: https://example.org/badge.svg\n   :target: https://example.org/ci\n"
                    ".. |Coverage| image:: https://example.org/cov.svg\n", "utf-8")
    doc = read(path)
    assert blocks(doc, "text") == ["toolz has three parts:", "itertoolz, for iterables, and functoolz, for functions.",
                                   "A row | a | b | stays as it is."]
    assert "|" not in doc.text.replace("| a | b |", "") and "Build Status" not in doc.text


def test_restructuredtext_doctest_code_and_containers_keep_their_content(tmp_path):
    """tenacity's guide (realdocs4) lost every example: Sphinx's ".. testcode::" was an unknown directive, and
    unknown directives went with their bodies; a topic's or tab's text is what a reader sees too. A
    ".. testsetup::" (hidden in the built docs) and a toctree still go."""
    path = tmp_path / "guide.txt"
    path.write_text("Guide\n=====\n\n.. testsetup::\n\n    import secret_setup\n\n"
                    "Stop after seven attempts:\n\n.. testcode::\n\n    @retry(stop=stop_after_attempt(7))\n"
                    "    def never_gives_up():\n        pass\n\n.. topic:: Waiting\n\n"
                    "    Use ``wait_fixed`` to wait a fixed time between attempts.\n\n.. tab:: Linux\n\n"
                    "   Install it with the package manager.\n\n.. toctree::\n\n   api\n", "utf-8")
    doc = read(path)
    assert "stop=stop_after_attempt(7)" in " ".join(blocks(doc, "code"))
    assert "Use wait_fixed to wait a fixed time between attempts." in blocks(doc, "text")
    assert "Install it with the package manager." in blocks(doc, "text")
    assert "Waiting" in doc.text and "secret_setup" not in doc.text and "api" not in doc.text


def test_restructuredtext_paragraph_with_a_wrapped_link_is_reflowed(tmp_path):
    """In reST a paragraph runs to the next blank line: a link whose URL wraps onto its own (over-long) line
    and a short line ending mid-sentence are wraps, so the link is rendered as its text (pytest-history.txt,
    tornado-index.txt in realdocs2)."""
    url = "https://github.com/pytest-dev/pytest/commit/5992a8ef21424d7571305a8d7e2a3431ee7e1e23"
    path = tmp_path / "history.txt"
    path.write_text("History\n=======\n\npytest has a long and interesting history. The `first commit\n"
                    f"<{url}>`__\nin this repository is from January 2007, and even that commit alone already\n"
                    "tells a lot about where the project came from and how it grew from there.\n\n"
                    "Tornado is available under\nthe `Apache License, Version 2.0\n"
                    "<http://www.apache.org/licenses/LICENSE-2.0.html>`_.\n\n"
                    "-  In August 2009, py 1.0.0 was released, `introducing a lot of\n   fundamental\n"
                    f"   features <{url}>`__:\n\n   -  funcargs/fixtures\n", "utf-8")
    doc = read(path)
    assert blocks(doc, "text") == [
        "pytest has a long and interesting history. The first commit in this repository is from January 2007, "
        "and even that commit alone already tells a lot about where the project came from and how it grew "
        "from there.",
        "Tornado is available under the Apache License, Version 2.0."]
    assert blocks(doc, "item") == ["In August 2009, py 1.0.0 was released, introducing a lot of fundamental "
                                   "features:", "funcargs/fixtures"]


def test_nested_list_items_are_items_not_table_rows(tmp_path):
    """A bullet followed by two spaces ("-  March 2006") is no table column gap (pytest-history.txt)."""
    path = tmp_path / "releases.txt"
    path.write_text("Releases\n========\n\n-  It seemed to get rather quiet for a while, but there were a couple\n"
                    "   of ``py`` releases every couple of months:\n\n   -  March 2006: py 0.8.0-alpha2\n"
                    "   -  May 2007: py 0.9.0\n   -  March 2008: py 0.9.1 (first release to be found `in the\n"
                    "      changelog <https://example.org/changelog.rst#091>`__!)\n   -  August 2008: py 0.9.2\n",
                    "utf-8")
    doc = read(path)
    assert not blocks(doc, "row")
    assert blocks(doc, "item") == [
        "It seemed to get rather quiet for a while, but there were a couple of py releases every couple of "
        "months:", "March 2006: py 0.8.0-alpha2", "May 2007: py 0.9.0",
        "March 2008: py 0.9.1 (first release to be found in the changelog!)", "August 2008: py 0.9.2"]


REALDOCS2 = Path(__file__).parent.parent / "evals" / "datasets" / "realdocs2"


def test_pdf_line_holding_only_a_url_ends_its_block():
    """A bare URL fills the line, so it looked wrapped and swallowed the heading after it."""
    pages = [["Security Headers",
              "Browsers recognize various response headers in order to control security. We recommend reviewing",
              "each of the headers below for use in your application and the extension that manages them.",
              "HTTP Strict Transport Security (HSTS)",
              "Tells the browser to convert all HTTP requests to HTTPS, preventing man-in-the-middle attacks.",
              "• https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/Strict-Transport-Security",
              "Content Security Policy (CSP)",
              "Tell the browser where it can load various types of resource from. This header should be used",
              "whenever possible, but requires some work to define the correct policy for your site.",
              "• https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/Set-Cookie",
              "Set-Cookie options",
              "These options can be added to a Set-Cookie header to improve their security, see the docs at",
              "https://developer.mozilla.org/en-US/docs/Web/HTTP/Cookies",
              "for the details of each option and how browsers treat it when it is missing."]]
    got = pdf_blocks(pages)
    kinds = [(k, got["text"][s:e]) for s, e, k in got["blocks"]]
    assert kinds[4:8] == [("item", "https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/Strict-Transport-Security"),
                          ("heading", "Content Security Policy (CSP)"),
                          ("text", "Tell the browser where it can load various types of resource from. This header "
                                   "should be used whenever possible, but requires some work to define the correct "
                                   "policy for your site."),
                          ("item", "https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/Set-Cookie")]
    assert kinds[8][1] == "Set-Cookie options"
    assert kinds[9][1].endswith("see the docs at https://developer.mozilla.org/en-US/docs/Web/HTTP/Cookies for the "
                                "details of each option and how browsers treat it when it is missing.")
    doc = read(REALDOCS2 / "flask-web-security.pdf")
    assert {"Content Security Policy (CSP)", "X-Content-Type-Options", "Host Header Validation"} <= set(
        blocks(doc, "heading"))


def test_pdf_url_wrapped_at_its_query_is_joined_without_a_space():
    pages = [["The static_url() function will translate that relative path to a URI that looks like /static/images/logo.png?",
              "v=aae54. The v argument is a hash of the content in logo.png, and its presence makes the server send",
              "cache headers to the user's browser."]]
    assert "/static/images/logo.png?v=aae54. The v argument" in pdf_blocks(pages)["text"]
    assert "/static/images/logo.png?v=aae54." in read(REALDOCS2 / "tornado-running.pdf").text


def test_pdf_lines_set_in_a_fixed_pitch_font_are_code():
    """pyparsing-whats-new-3.0.pdf (Chromium): code was glued onto the sentence before it ("parsers.: import")."""
    doc = read(REALDOCS2 / "pyparsing-whats-new-3.0.pdf")
    text = blocks(doc, "text")
    assert "An excellent new enhancement is the new railroad diagram generator for documenting pyparsing parsers.:" in text
    code = blocks(doc, "code")
    assert ('import pyparsing as pp\n# define a simple grammar for parsing street addresses such\n# as "123 Main Street"\n'
            '#     number word...\nnumber = pp.Word(pp.nums).set_name("number")') in code[2]
    assert "pip install pyparsing[diagrams]" in code
    assert not any("import pyparsing" in t for t in text)
    assert "def return_as_list(tokens):\n    return ParseResults.List(tokens.asList())" in doc.text   # indentation kept


def test_restructuredtext_literal_block_marker_is_rendered(tmp_path):
    """reST: "text::" reads "text:", "text ::" reads "text", a lone "::" paragraph goes (the literal block stays)."""
    path = tmp_path / "hello.txt"
    path.write_text("Hello\n=====\n\nHere is a simple ``Hello, world`` example web app::\n\n    app.run()\n\n"
                    "Or from a shell ::\n\n    $ hello\n\n::\n\n    hello --loud\n", "utf-8")
    doc = read(path)
    assert blocks(doc, "text") == ["Here is a simple Hello, world example web app:", "Or from a shell"]
    assert blocks(doc, "code") == ["app.run()", "$ hello", "hello --loud"]


def test_numbered_clause_with_a_run_in_title_is_a_section(tmp_path):
    """A licence's "3. Grant of Patent License. Subject to ..." starts a section named by its title, which is
    a heading (a locator, never an answer); a numbered step that merely starts with a short sentence is not."""
    path = tmp_path / "LICENSE"
    path.write_text(
        "   2. Grant of Copyright License. Subject to the terms and conditions of\n"
        "      this License, each Contributor hereby grants to You a perpetual license.\n\n"
        "   3. Grant of Patent License. Subject to the terms and conditions of\n"
        "      this License, each Contributor grants a patent license.\n\n"
        "   4. Run it. Then check the output twice before you go on.\n\n"
        "   a) a last item of the clause.\n\n"
        "  5. Exception to Section 3 of the GNU GPL.\n\n"
        "  You may convey a covered work under sections 3 and 4 of this License.\n", "utf-8")
    doc = read(path)
    assert blocks(doc, "heading") == ["2. Grant of Copyright License.", "3. Grant of Patent License.",
                                      "5. Exception to Section 3 of the GNU GPL."]
    assert blocks(doc, "text")[1] == ("Subject to the terms and conditions of this License, each Contributor "
                                      "grants a patent license.")
    assert blocks(doc, "item") == ["Run it. Then check the output twice before you go on.", "a last item of the clause."]


def test_debian_changelog_releases_are_headings_and_copyright_fields_are_lines():
    changelog = read(FORMATS / "changelog.Debian")
    assert blocks(changelog, "heading") == ["frobnicator (2.4.1-2) unstable; urgency=medium",
                                            "frobnicator (2.4.1-1) unstable; urgency=low"]
    assert "Fix the systemd unit so the daemon starts after the network is up. (Closes: #1023456)" in \
        blocks(changelog, "item")
    copyright_ = read(FORMATS / "copyright")
    items = blocks(copyright_, "item")
    assert items[:3] == ["Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/",
                         "Upstream-Name: frobnicator", "Upstream-Contact: Frob Developers <dev@frob.example>"]
    assert "Copyright: 2019 Jane Roe <jane@example.org>" in items
    # a stanza's Files (or a stand-alone licence's License) field heads it: its Copyright and License answer
    # under it, and the licence's text under the licence's name
    assert blocks(copyright_, "heading") == ["Files: *", "Files: debian/*", "License: GPL-2+"]
    assert blocks(copyright_, "text") == ['This program is free software; you can redistribute it and/or modify it '
                                          'under the terms of the GNU General Public License as published by the '
                                          'Free Software Foundation; either version 2 of the License, or (at your '
                                          'option) any later version.', 'On Debian systems, the complete text of the GNU General Public License '
                                          'version 2 can be found in "/usr/share/common-licenses/GPL-2".']


def test_gnu_news_outline_headings():
    news = read(FORMATS / "NEWS")
    assert news.title == "GNU frob NEWS" and news.date == "2024-03-28"
    assert blocks(news, "heading") == ["GNU frob NEWS", "Noteworthy changes in release 9.5 (2024-03-28) [stable]",
                                       "Bug fixes", "New features",
                                       "Noteworthy changes in release 9.4 (2023-08-29) [stable]", "Changes in behavior"]
    assert "The default block size is now 4096 bytes instead of 1024." in blocks(news, "text")
    # a release's sections are named with it
    from rag.chunking import locate
    assert locate(news, news.text.index("The default block size")) == \
        "section “Noteworthy changes in release 9.4 (2023-08-29) [stable] › Changes in behavior”"


def test_restructuredtext_headings_underlined_with_any_punctuation(tmp_path):
    """schedule's HISTORY (realdocs4) underlines its releases with "+": they were text, so "1.2.2 (2024-05-25)
    ++++" ran into the items and no item sat under its release. An ellipsis under a line is no underline."""
    path = tmp_path / "HISTORY.txt"
    path.write_text("History\n-------\n\n1.2.2 (2024-05-25)\n++++++++++++++++++\n\n- Add support for python 3.12\n\n"
                    "Usage\n*****\n\nHe paused\n...\n", "utf-8")
    doc = read(path)
    assert blocks(doc, "heading") == ["History", "1.2.2 (2024-05-25)", "Usage"]
    assert blocks(doc, "item") == ["Add support for python 3.12"]
    assert "+++" not in doc.text and "***" not in doc.text and "He paused ..." in blocks(doc, "text")


def test_a_changelogs_newest_release_is_a_heading_not_the_title(tmp_path):
    """The first line of a changelog ("Version 2.2.0") titles only its own section: as the document's title it
    would put that version beside every sentence of every release. An RST label is no title either."""
    (tmp_path / "CHANGES.txt").write_text("Version 2.2.0\n-------------\n\nReleased 2024-04-16\n\n"
                                          "Version 2.1.2\n-------------\n\nReleased 2022-03-24\n", "utf-8")
    (tmp_path / "arguments.txt").write_text(".. _arguments:\n\nArguments to serve\n\nHere they are.\n", "utf-8")
    assert read(tmp_path / "CHANGES.txt").title == "CHANGES"
    assert read(tmp_path / "arguments.txt").title == "Arguments to serve"
    pages = [["Release History", "", "2.33.1 (2026-03-30)", "", "Fixed test cleanup for the CVE.", "",
              "2.33.0 (2026-03-25)", "", "3.11 and later are supported by this release."]]
    got = pdf_blocks(pages)
    headings = [got["text"][s:e] for s, e, kind in got["blocks"] if kind == "heading"]
    assert headings == ["Release History", "2.33.1 (2026-03-30)", "2.33.0 (2026-03-25)"]


def test_a_paragraph_in_capitals_is_text_not_a_heading_per_line(tmp_path):
    """The EPL-2.0's "5. NO WARRANTY" (realdocs5): each hard-wrapped line of its disclaimer in capitals was a
    heading of its own. A run of capital lines that wraps is a paragraph; a short one standing alone a heading."""
    path = tmp_path / "LICENSE"
    path.write_text(
        "Some Public License\n\nThe terms of this licence are set out in the sections below, one by one.\n\n"
        "NO WARRANTY\n\n"
        "EXCEPT AS EXPRESSLY SET FORTH IN THIS AGREEMENT, AND TO THE EXTENT\n"
        "PERMITTED BY APPLICABLE LAW, THE PROGRAM IS PROVIDED ON AN \"AS IS\"\n"
        "BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, EITHER EXPRESS OR\n"
        "IMPLIED. Each Recipient is solely responsible for determining the\n"
        "appropriateness of using and distributing the Program.\n", "utf-8")
    doc = read(path)
    assert blocks(doc, "heading") == ["Some Public License", "NO WARRANTY"]
    assert blocks(doc, "text")[-1].startswith("EXCEPT AS EXPRESSLY SET FORTH IN THIS AGREEMENT, AND TO THE EXTENT "
                                              "PERMITTED BY APPLICABLE LAW, THE PROGRAM IS PROVIDED ON AN")


def test_a_licences_section_numbers_and_item_letters_stay_in_the_text(tmp_path):
    """The EPL-2.0 and CC BY 4.0 (realdocs5) cite their parts ("Section 2(a)(1)"): "2. GRANT OF RIGHTS" over
    its "a)" items was an item without its "2.", every "a)", "a.", "1." and "i." went, and CC BY's "3. Term." under
    "a. License grant." became a heading as if it were section 3. A document with lettered items keeps every
    item's letter or number (a bullet still goes); "Section 2 -- Scope." is a heading."""
    from rag.text import segment_block
    path = tmp_path / "LICENSE"
    path.write_text(
        "Some Public License\n\n1. DEFINITIONS\n\n\"Program\" means the Contributions Distributed in accordance\n"
        "with this Agreement.\n\n2. GRANT OF RIGHTS\n\n"
        "  a) Subject to the terms of this Agreement, each Contributor grants\n  Recipient a license.\n\n"
        "  b) Each Contributor represents that it has rights:\n     i) changes to the Program, and\n"
        "     ii) additions to the Program;\n\n"
        "Section 3 -- Scope.\n\n  a. License grant.\n\n"
        "       1. Subject to the terms and conditions of this Public License, you may share it.\n\n"
        "       2. Term. The term of this Public License is specified in Section 6(a) below.\n\n"
        "  b. Sections 1, 5, 6, 7, and 8 survive termination of this Public License.\n\n"
        "  - a bullet\n", "utf-8")
    doc = read(path)
    assert blocks(doc, "heading") == ["Some Public License", "1. DEFINITIONS", "2. GRANT OF RIGHTS",
                                      "Section 3 -- Scope."]
    items = blocks(doc, "item")
    assert items == ["a) Subject to the terms of this Agreement, each Contributor grants Recipient a license.",
                     "b) Each Contributor represents that it has rights:", "i) changes to the Program, and",
                     "ii) additions to the Program;", "a. License grant.",
                     "1. Subject to the terms and conditions of this Public License, you may share it.",
                     "2. Term. The term of this Public License is specified in Section 6(a) below.",
                     "b. Sections 1, 5, 6, 7, and 8 survive termination of this Public License.", "a bullet"]
    assert [items[-2][s:e] for s, e in segment_block(items[-2], "item")] == [items[-2]]   # "b." is no sentence


def test_a_number_wrapped_to_the_start_of_a_line_is_no_list_item(tmp_path):
    """Beautiful Soup's CHANGELOG (realdocs5): "... to only support Python" / "3. I dropped Python 2 support"
    lost its "3." to an item and split the sentence. A "3." after prose that ends no sentence or clause is
    wrapped text; after a sentence's end or a colon, or after an item "1.", it is an item."""
    path = tmp_path / "CHANGELOG"
    path.write_text(
        "Changes\n\n* This is the first release of Beautiful Soup to only support Python\n"
        "  3. I dropped Python 2 support to maintain support for newer versions\n  of setuptools.\n\n"
        "This is the final release of Beautiful Soup to support Python\n"
        "2. Beautiful Soup's official support for Python 2 ended on 01 January,\n"
        "2021. In the Launchpad Git repository, the final revision is tagged.\n\n"
        "* Modified some of the lxml tests to accommodate behavioral changes of:\n\n"
        "  1. XML declarations and processing instructions in HTML documents\n"
        "  are rewritten as comments and then they are kept as they were.\n"
        "  2. Out-of-range numeric entities are replaced with a character.\n", "utf-8")
    doc = read(path)
    assert blocks(doc, "item")[0] == ("This is the first release of Beautiful Soup to only support Python 3. I "
                                      "dropped Python 2 support to maintain support for newer versions of "
                                      "setuptools.")
    assert ("This is the final release of Beautiful Soup to support Python 2. Beautiful Soup's official support "
            "for Python 2 ended on 01 January, 2021. In the Launchpad Git repository, the final revision is "
            "tagged.") in blocks(doc, "text")
    assert blocks(doc, "item")[-2:] == ["XML declarations and processing instructions in HTML documents are "
                                        "rewritten as comments and then they are kept as they were.",
                                        "Out-of-range numeric entities are replaced with a character."]


def test_changelog_releases_marked_with_equals_or_a_bullet_are_headings(tmp_path):
    """Beautiful Soup's "= 4.12.0 (20230320)" and pyelftools' "+ Version 0.30 (2023.09.06)" (realdocs5) were text
    and an item, so no entry sat under its release and "Which version added LoongArch support?" had no answer."""
    from rag.chunking import locate
    (tmp_path / "CHANGELOG").write_text(
        "= 4.12.0 (20230320)\n\n* Introduced the .css property, which centralizes all access to\n"
        "  the Soup Sieve API.\n\n= 3.2.0 =\n\nThe 3.1 series was an attempt to port to Python 3.\n\n"
        "= 2.0.0 \"Who cares for fish?\" (20050410)\n\nBeautiful Soup version 2 is released.\n", "utf-8")
    (tmp_path / "CHANGES").write_text(
        "Changelog\n=========\n\n+ Version 0.30 (2023.09.06)\n\n  - LoongArch support (#470, #483)\n\n"
        "+ Version 0.10 - Initial public release (2012.01.06)\n\n  - Supported versions:\n\n  - 3.9\n", "utf-8")
    soup, elf = read(tmp_path / "CHANGELOG"), read(tmp_path / "CHANGES")
    assert blocks(soup, "heading") == ["4.12.0 (20230320)", "3.2.0", '2.0.0 "Who cares for fish?" (20050410)']
    assert soup.title == "CHANGELOG" and "=" not in soup.text
    assert blocks(elf, "heading") == ["Changelog", "Version 0.30 (2023.09.06)",
                                      "Version 0.10 - Initial public release (2012.01.06)"]
    assert blocks(elf, "item")[-1] == "3.9"
    assert locate(elf, elf.text.index("LoongArch")) == "section “Version 0.30 (2023.09.06)”"
    from rag.plaintext import release_heading
    assert all(release_heading(h) for h in blocks(soup, "heading") + blocks(elf, "heading")[1:])


def test_options_of_a_help_text_are_paragraphs_not_table_rows(tmp_path):
    """csvkit's csvsql.txt (realdocs5, a man page): "--insert   Insert the data ..." over "--prefix PREFIX   Add
    an expression ..., like" were table rows, and "OR IGNORE or OR REPLACE." was cut from its option. Each option
    with its description is a paragraph of its own."""
    path = tmp_path / "csvsql.txt"
    path.write_text(
        "NAME\n       csvsql - csvsql Documentation\n\nDESCRIPTION\n"
        "       Generate SQL statements for a CSV file or execute those statements\n"
        "       directly on a database. In the latter case supports both creating\n       tables.\n\n"
        "          optional arguments:\n"
        "            --insert              Insert the data into the table. Requires --db.\n"
        "            --prefix PREFIX       Add an expression following the INSERT keyword, like\n"
        "                                  OR IGNORE or OR REPLACE.\n", "utf-8")
    doc = read(path)
    assert not blocks(doc, "row")
    assert blocks(doc, "text")[-2:] == ["--insert Insert the data into the table. Requires --db.",
                                        "--prefix PREFIX Add an expression following the INSERT keyword, like OR "
                                        "IGNORE or OR REPLACE."]


def test_indented_prose_in_capitals_is_no_code(tmp_path):
    """A licence centres its titles ("NO WARRANTY" in the GPL) and the EPL-2.0 (realdocs5) indents its opening
    paragraph in capitals: indented 4+ after a blank line, both were code. Prose in capitals is a heading or
    text; a one-word line ("ACCEPT", Python's LICENSE) or anything after a colon stays code."""
    path = tmp_path / "COPYING"
    path.write_text(
        "Eclipse Public License - v 2.0\n\n"
        "    THE ACCOMPANYING PROGRAM IS PROVIDED UNDER THE TERMS OF THIS ECLIPSE\n"
        "    PUBLIC LICENSE (\"AGREEMENT\"). ANY USE, REPRODUCTION OR DISTRIBUTION\n"
        "    OF THE PROGRAM CONSTITUTES RECIPIENT'S ACCEPTANCE OF THIS AGREEMENT.\n\n"
        "These requirements apply to the modified work as a whole, not to the separate sections of it.\n\n"
        "\t\t\t    NO WARRANTY\n\n"
        "  11. BECAUSE THE PROGRAM IS LICENSED FREE OF CHARGE, THERE IS NO WARRANTY\n"
        "FOR THE PROGRAM, TO THE EXTENT PERMITTED BY APPLICABLE LAW.\n\n"
        "                        ACCEPT\n\nRun this:\n\n        SELECT NAME FROM USERS\n", "utf-8")
    doc = read(path)
    assert blocks(doc, "heading") == ["Eclipse Public License - v 2.0", "NO WARRANTY"]
    assert blocks(doc, "text")[0] == ("THE ACCOMPANYING PROGRAM IS PROVIDED UNDER THE TERMS OF THIS ECLIPSE PUBLIC "
                                      "LICENSE (\"AGREEMENT\"). ANY USE, REPRODUCTION OR DISTRIBUTION OF THE PROGRAM "
                                      "CONSTITUTES RECIPIENT'S ACCEPTANCE OF THIS AGREEMENT.")
    assert blocks(doc, "code") == ["ACCEPT", "SELECT NAME FROM USERS"]
