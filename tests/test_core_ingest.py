"""Ingestion: readers, exact offsets, locators, incremental updates, bad files; on both store backends."""
from __future__ import annotations

import shutil

import pytest

from rag.chunking import chunk_document, count_tokens
from rag.text import sentence_spans
from rag.documents import read_document
from rag.cli import main as cli_main

from conftest import build_corpus, make_pdf


def indexed(rag) -> dict[str, str]:
    return {m["source"]: m["sha256"] for m in rag.documents().values()}


def test_offsets_round_trip_for_every_chunk(fixture_rag, corpus_dir):
    docs = fixture_rag.documents()
    assert {m["source"].rsplit("/", 1)[-1] for m in docs.values()} == {p.name for p in corpus_dir.iterdir()}
    chunks = fixture_rag.store.all_chunks(fixture_rag.settings.collection)
    assert len(chunks) >= len(docs)
    for chunk in chunks:
        doc = fixture_rag.document(chunk.doc_id)
        assert doc.text[chunk.start:chunk.end] == chunk.text
        assert chunk.locator
    memo = next(fixture_rag.document(i) for i, m in docs.items() if m["source"].endswith("memo.txt"))
    assert "£0.50" in memo.text and "O’Brien" in memo.text and "“a practical step" in memo.text
    assert memo.date == "2024-03-12" and memo.title.startswith("Memorandum of Understanding")


def test_locators_name_page_heading_and_paragraph(fixture_rag):
    by_name = {m["source"].rsplit("/", 1)[-1]: i for i, m in fixture_rag.documents().items()}
    pdf_hits = fixture_rag.search("board approved data centre Leeds", k=1)
    assert pdf_hits[0].chunk.source.endswith("report.pdf")
    answer = fixture_rag.ask("Where did the board approve a new data centre?")
    assert answer.citations[0].locator.startswith("page 2")
    handbook = fixture_rag.document(by_name["handbook.md"])
    from rag.chunking import locate
    assert "Expenses" in locate(handbook, handbook.text.index("meal allowance"))


def test_chunks_respect_token_budget_and_sentences(corpus_dir):
    long_text = " ".join(f"Sentence number {i} talks about topic {i % 7} in some detail." for i in range(200))
    path = corpus_dir.parent / "long.txt"
    path.write_text(long_text + " Word " + "word " * 599, encoding="utf-8")   # also one 600-word "sentence"
    doc = read_document(path, "long.txt", "long")
    chunks = chunk_document(doc, max_tokens=64, overlap=16)
    ends = {e for _, e in sentence_spans(doc.text)}
    normal = [c for c in chunks if c.text.startswith("Sentence")]
    for a, b in zip(normal, normal[1:]):
        assert b.start < a.end, "neighbouring chunks share whole sentences"
    assert any(c.text.startswith("word") for c in chunks), "the over-long sentence was split"
    for c in chunks:
        assert count_tokens(c.text) <= 64 + 8
        assert doc.text[c.start:c.end] == c.text
    assert sum(c.end in ends for c in chunks[:-1]) >= len(chunks) // 2


def test_sentence_spans_keep_abbreviations_and_reference_markers():
    text = "Dr. Smith met Mr. Jones in the U.K. on Monday.[4][5] They signed it. Done!"
    got = [text[s:e] for s, e in sentence_spans(text)]
    assert got == ["Dr. Smith met Mr. Jones in the U.K. on Monday.[4][5]", "They signed it.", "Done!"]


def test_incremental_ingest_matches_folder(make_rag, tmp_path):
    folder = build_corpus(tmp_path / "src")
    rag = make_rag()
    first = rag.ingest([folder])
    assert len(first.added) == 5 and not first.errors
    again = rag.ingest([folder])
    assert len(again.skipped) == 5 and not (again.added or again.updated or again.removed)

    (folder / "memo.txt").write_text((folder / "memo.txt").read_text("utf-8").replace("12 books", "20 books"), "utf-8")
    (folder / "notice.html").unlink()
    (folder / "extra.md").write_text("# Extra\n\nThe canteen opens at 8:00 every weekday.\n", "utf-8")
    third = rag.ingest([folder])
    assert [s.rsplit("/", 1)[-1] for s in third.updated] == ["memo.txt"]
    assert [s.rsplit("/", 1)[-1] for s in third.removed] == ["notice.html"]
    assert [s.rsplit("/", 1)[-1] for s in third.added] == ["extra.md"]

    names = {s.rsplit("/", 1)[-1] for s in indexed(rag)}
    assert names == {p.name for p in folder.iterdir()}
    chunks = rag.store.all_chunks(rag.settings.collection)
    assert len({c.id for c in chunks}) == len(chunks)
    assert {c.source.rsplit("/", 1)[-1] for c in chunks} == names
    # BM25 follows the store: the removed page is gone, the edit is visible
    assert all(not h.chunk.source.endswith("notice.html") for h in rag.search("east entrance repairs", mode="bm25"))
    assert "20 books" in rag.search("how many books can members borrow", k=1)[0].chunk.text


def test_bm25_finds_a_file_by_its_name_and_folder(make_rag, tmp_path):
    """TweetNaCl's LICENSE (the Unlicense) never names TweetNaCl: "tweetnacl licence" found only the changelog."""
    folder = tmp_path / "docs"
    (folder / "tweetnacl").mkdir(parents=True)
    (folder / "tweetnacl" / "LICENSE").write_text("This is free and unencumbered software released into the public "
                                                "domain.\n", "utf-8")
    (folder / "pyelftools-CHANGES").write_text("Version 0.30: the licence is now the Unlicense.\n", "utf-8")
    (folder / "other.txt").write_text("Software released into the public domain has no licence fee.\n", "utf-8")
    rag = make_rag()
    rag.ingest([folder])
    hits = rag.search("tweetnacl licence released into the public domain", k=1, mode="bm25")
    assert hits[0].chunk.source.endswith("tweetnacl/LICENSE")
    assert rag.search("pyelftools changes", k=1, mode="bm25")[0].chunk.source.endswith("pyelftools-CHANGES")


def test_bad_files_are_reported_and_skipped(make_rag, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(build_corpus(tmp_path / "good") / "memo.txt", folder / "memo.txt")
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02PK\x03\x04" * 50)
    (folder / "empty.md").write_text("   \n", "utf-8")
    (folder / "latin1.txt").write_bytes("Caf\xe9 prices rose by 5%.".encode("latin-1"))   # decoded by detection
    (folder / "garbled.txt").write_bytes(bytes(range(128, 256)) * 4)                     # no encoding fits
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog garbage")
    (folder / "slides.pptx").write_bytes(b"not supported")
    make_pdf(folder / "plain.pdf", ["Secret plans for the new office."])
    from pypdf import PdfReader, PdfWriter
    writer = PdfWriter(clone_from=PdfReader(folder / "plain.pdf"))
    writer.encrypt("hunter2", algorithm="RC4-128")
    with open(folder / "encrypted.pdf", "wb") as f:
        writer.write(f)
    (folder / "plain.pdf").unlink()

    report = make_rag().ingest([folder])
    errors = {e["source"].rsplit("/", 1)[-1]: e["error"] for e in report.errors}
    assert sorted(s.rsplit("/", 1)[-1] for s in report.added) == ["latin1.txt", "memo.txt"]
    assert set(errors) == {"binary.txt", "empty.md", "garbled.txt", "broken.pdf", "slides.pptx", "encrypted.pdf"}
    assert "binary" in errors["binary.txt"]
    assert "empty" in errors["empty.md"]
    assert "UTF-8" in errors["garbled.txt"]
    assert "broken PDF" in errors["broken.pdf"]
    assert "unsupported" in errors["slides.pptx"]
    assert "encrypted" in errors["encrypted.pdf"]


def test_documentation_as_distributions_ship_it_is_read_as_plain_text(make_rag, tmp_path):
    """README.Debian, copyright, Apache-2.0, notes.rst and changelog.Debian.gz are documentation; a binary
    with no suffix, an unknown suffix, a broken .gz and a .gz that unpacks past the limit are skipped."""
    import gzip
    from rag import documents

    folder = tmp_path / "doc"
    folder.mkdir()
    (folder / "README.Debian").write_text("Notes for Debian\n\nThe daemon is disabled by default.\n"
                                          "Enable it in /etc/default/frobd.\n", "utf-8")
    (folder / "copyright").write_text("Files: *\nCopyright: 2019 Jane Roe\nLicense: MIT\n", "utf-8")
    (folder / "Apache-2.0").write_text("Apache License\nVersion 2.0, January 2004\n\nTerms apply.\n", "utf-8")
    (folder / "notes.rst").write_text("Notes\n=====\n\nThe cache lives in ``~/.frob``.\n", "utf-8")
    (folder / "changelog.Debian.gz").write_bytes(gzip.compress(
        "frob (2.4-1) unstable; urgency=medium\n\n  * New upstream release fixing the spool leak.\n"
        "\n -- Jane Roe <jane@example.org>  Mon, 03 Feb 2025 10:00:00 +0000\n".encode()))
    (folder / "frobd").write_bytes(b"\x7fELF\x02\x01\x00\x00" * 64)
    (folder / "data.xyz").write_text("not a document type", "utf-8")
    (folder / "broken.txt.gz").write_bytes(b"\x1f\x8b\x08\x00 not gzip at all")
    (folder / "bomb.txt.gz").write_bytes(gzip.compress(b"a" * 3000))
    original = documents.MAX_BYTES
    documents.MAX_BYTES = 2000      # the bomb unpacks past it; every other file stays below
    try:
        rag = make_rag()
        report = rag.ingest([folder])
    finally:
        documents.MAX_BYTES = original
    added = sorted(s.rsplit("/", 1)[-1] for s in report.added)
    assert added == ["Apache-2.0", "README.Debian", "changelog.Debian.gz", "copyright", "notes.rst"]
    errors = {e["source"].rsplit("/", 1)[-1]: e["error"] for e in report.errors}
    assert set(errors) == {"frobd", "data.xyz", "broken.txt.gz", "bomb.txt.gz"}
    assert "binary" in errors["frobd"] and "unsupported" in errors["data.xyz"]
    assert "broken .gz" in errors["broken.txt.gz"] and "unpacks to more than" in errors["bomb.txt.gz"]
    titles = {m["source"].rsplit("/", 1)[-1]: m["title"] for m in rag.documents().values()}
    assert titles["Apache-2.0"] == "Apache License"
    answer = rag.ask("Which upstream bug did frob 2.4-1 fix?")
    cited = answer.citations[0]
    assert cited.source.endswith("changelog.Debian.gz") and "spool leak" in cited.quote
    assert rag.document(cited.doc_id).text[cited.start:cited.end] == cited.quote
    again = rag.ingest([folder])                     # the packed file's hash is kept: nothing re-read
    assert [s.rsplit("/", 1)[-1] for s in again.added + again.updated] == ["bomb.txt.gz"]   # now under the limit
    assert "changelog.Debian.gz" in " ".join(again.skipped)


def test_cli_ingest_exit_status_and_json(tmp_path, capsys):
    import json
    folder = build_corpus(tmp_path / "docs")
    data = str(tmp_path / "data")
    assert cli_main(["--data-dir", data, "ingest", str(folder), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["added"]) == 5 and out["errors"] == []
    (folder / "bad.txt").write_bytes(b"\xff\xfe\x00\x00")
    assert cli_main(["--data-dir", data, "ingest", str(folder)]) == 1
    printed = capsys.readouterr().out
    assert "ERROR" in printed and "bad.txt" in printed and "5 unchanged" in printed


def test_sidecar_metadata_gives_title_date_origin(tmp_path, make_rag):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "note.txt").write_text("short note\nThe fire drill is on Friday at noon.\n", "utf-8")
    (folder / "note.txt.meta.json").write_text('{"title": "Fire drill", "date": "2025-01-31", "origin": "Facilities"}')
    rag = make_rag()
    rag.ingest([folder])
    (doc_id, meta), = rag.documents().items()
    doc = rag.document(doc_id)
    assert (doc.title, doc.date, doc.origin) == ("Fire drill", "2025-01-31", "Facilities")


@pytest.mark.parametrize("name", ["default", "team-a_2"])
def test_collection_names(tmp_path, embedder, name):
    from rag import Rag, load_settings
    rag = Rag(load_settings(data_dir=tmp_path), embedder=embedder)
    folder = build_corpus(tmp_path / "docs")
    rag.ingest([folder / "memo.txt"], collection=name)
    assert name in rag.status()["collections"]


def test_bm25_side_file_round_trip(tmp_path):
    """The cache file gives back the same side, only under the key it was saved with; a chunk of stop words
    alone (bm25s gives it the token "" without a column) breaks neither scoring nor idf."""
    from rag.retrieval import BM25Side
    from rag.types import Chunk

    texts = ["The meal allowance is £25 per day.", "and of the", "Trainees get a smaller meal allowance."]
    side = BM25Side.build([Chunk(id=f"c{i}", doc_id="d", source="s.txt", title="", date=None, start=0, end=len(t),
                                 text=t, locator="") for i, t in enumerate(texts)], 7)
    side.save(tmp_path / "x.npz", [3, "uid", 7])
    again = BM25Side.load(tmp_path / "x.npz", [3, "uid", 7])
    assert BM25Side.load(tmp_path / "x.npz", [3, "uid", 8]) is None
    assert again.version == 7 and again.ids == side.ids and again.vocab == side.vocab
    assert again.search("meal allowance", 5) == side.search("meal allowance", 5) and len(side.search("meal", 5)) == 2
    assert side.idf(["", "meal"])[""] > side.idf(["meal"])["meal"] and not side.scores([""]).any()


def test_bm25_side_is_cached_on_disk_and_follows_the_store(make_rag, tmp_path, monkeypatch):
    folder = build_corpus(tmp_path / "src")
    rag = make_rag()
    rag.ingest([folder])
    name = rag.settings.collection
    first = rag.search("meal allowance", k=3, mode="bm25")
    assert (rag.settings.data_dir / "bm25" / f"{name}.npz").is_file()

    fresh = make_rag(collection=name)            # a new process: loads the cache, does not page Chroma
    monkeypatch.setattr(type(fresh.store), "all_chunks", lambda *a: pytest.fail("rebuilt despite a valid cache"))
    assert [h.chunk.id for h in fresh.search("meal allowance", k=3, mode="bm25")] == [h.chunk.id for h in first]
    monkeypatch.undo()

    (folder / "extra.md").write_text("The meal allowance for trainees is £15 per day.\n", "utf-8")
    rag.ingest([folder])                         # the collection changed: the cache no longer matches
    again = make_rag(collection=name)
    assert any(h.chunk.source.endswith("extra.md") for h in again.search("meal allowance trainees", k=3, mode="bm25"))


def test_questions_do_not_wait_for_a_bm25_rebuild(make_rag, tmp_path, monkeypatch):
    """As `rag serve` (a bounded wait, here none): while a changed collection's BM25 side is built in the
    background, a question is answered with the previous side, or dense-only (noted) when there is none."""
    import threading

    from rag.retrieval import DENSE_ONLY, Retriever

    folder = build_corpus(tmp_path / "src")
    job = make_rag()
    job.ingest([folder])
    rag = make_rag(collection=job.settings.collection, bm25_cache=tmp_path / "empty")   # no cache: builds
    rag.index_wait = 0
    name, release, original = rag.settings.collection, threading.Event(), Retriever._load_or_build

    def held(self, collection, version):       # the build takes until the test releases it
        assert release.wait(120)
        return original(self, collection, version)
    monkeypatch.setattr(Retriever, "_load_or_build", held)

    first = rag.ask("How much is the meal allowance?")
    assert not first.refused and DENSE_ONLY in first.notes             # no BM25 side yet: dense only, said so
    assert rag.search("meal allowance", k=3, mode="bm25") == []
    building = rag.retriever._jobs[name][1]
    release.set()
    assert building.result(120).version == rag.store.version(name)
    assert DENSE_ONLY not in rag.ask("How much is the meal allowance?").notes
    assert rag.search("meal allowance", k=3, mode="bm25")

    release.clear()
    (folder / "extra.md").write_text("The bicycle shed behind the Leeds office opens with door code 4711.\n", "utf-8")
    job.ingest([folder])                                                # a new version: rebuilt in the background
    answer = rag.ask("What is the door code of the bicycle shed?")
    assert "4711" in answer.answer and DENSE_ONLY not in answer.notes   # the new chunk came through the dense side
    assert not rag.search("door code bicycle shed", k=3, mode="bm25")   # ... while BM25 is the previous version's
    building = rag.retriever._jobs[name][1]
    release.set()
    assert building.result(120).version == rag.store.version(name)
    assert any(h.chunk.source.endswith("extra.md") for h in rag.search("door code bicycle shed", k=3, mode="bm25"))


def test_dense_only_note_is_that_of_the_retrieval_even_if_bm25_becomes_ready_before_the_answer(make_rag, tmp_path,
                                                                                               monkeypatch):
    """The note says how the hits were found: a BM25 side that becomes ready between retrieval and the
    answer must not remove it."""
    import threading

    from rag.retrieval import DENSE_ONLY, Retriever

    job = make_rag()
    job.ingest([build_corpus(tmp_path / "src")])
    rag = make_rag(collection=job.settings.collection, bm25_cache=tmp_path / "empty")   # no cache: builds
    rag.index_wait = 0
    release, load_or_build, search = threading.Event(), Retriever._load_or_build, Retriever.search

    def held(self, collection, version):       # the build takes until the retrieval is done
        assert release.wait(120)
        return load_or_build(self, collection, version)

    def search_then_ready(self, *args, **kwargs):
        hits = search(self, *args, **kwargs)
        building = self._jobs[rag.settings.collection][1]
        release.set()
        assert building.result(120).version == rag.store.version(rag.settings.collection)
        return hits
    monkeypatch.setattr(Retriever, "_load_or_build", held)
    monkeypatch.setattr(Retriever, "search", search_then_ready)

    assert DENSE_ONLY in rag.ask("How much is the meal allowance?").notes


def test_sentence_vectors_follow_the_chunks_and_score_the_dense_side(make_rag, tmp_path):
    """RAG_SENTENCE_VECTORS: one vector per sentence of every chunk, replaced and deleted with its document;
    a chunk's dense score is its cosine plus its best sentence's."""
    from rag.ingest import sentence_rows

    folder = build_corpus(tmp_path / "src")
    rag = make_rag(sentence_vectors=True)
    rag.ingest([folder])
    name = rag.settings.collection
    sents = rag.store._col(name, "sentences").get(include=["metadatas"])
    chunks = rag.store.all_chunks(name)
    assert sents["ids"] and sorted(sents["ids"]) == sorted(i for i, _, _ in sentence_rows(chunks))
    assert {m["doc_id"] for m in sents["metadatas"]} == {c.doc_id for c in chunks}

    q = "How many books can members borrow at a time?"
    vec = rag.embedder.embed([q])[0]
    by_chunk = dict(rag.store.dense_ids(name, vec, len(chunks)))
    best = dict(rag.store.dense_sentence_ids(name, vec, len(chunks)))   # as many sentences as chunks, like the retriever
    dense = rag.search(q, k=len(chunks), mode="dense")
    assert {h.chunk.id for h in dense} == set(by_chunk)
    floor = min(best.values())   # a chunk with no sentence among those gets the lowest sentence score
    for h in dense:
        assert h.score == pytest.approx(by_chunk[h.chunk.id] + best.get(h.chunk.id, floor), abs=1e-5)
    assert "12 books" in dense[0].chunk.text

    (folder / "memo.txt").write_text((folder / "memo.txt").read_text("utf-8").replace("12 books", "20 books"), "utf-8")
    (folder / "notice.html").unlink()
    rag.ingest([folder])
    chunks = rag.store.all_chunks(name)
    after = rag.store._col(name, "sentences").get()["ids"]
    assert sorted(after) == sorted(i for i, _, _ in sentence_rows(chunks))   # no stale or duplicate rows
    assert "20 books" in rag.search(q, k=1)[0].chunk.text


def test_add_sentences_fills_a_missing_side_with_its_floor():
    from rag.retrieval import add_sentences

    fused = dict(add_sentences([("a", 0.9), ("b", 0.5)], [("b", 0.8), ("c", 0.7)]))
    assert fused == pytest.approx({"a": 0.9 + 0.7, "b": 0.5 + 0.8, "c": 0.5 + 0.7})
    assert add_sentences([("a", 0.9)], []) == [("a", 0.9)]
    assert dict(add_sentences([("a", 0.9), ("b", 0.5)], [("b", 0.8)], weight=0.5)) == pytest.approx({"a": 1.3, "b": 0.9})


def test_a_chunk_stored_before_sentence_spans_still_answers(make_rag, tmp_path):
    """An index written by an older version has no sentence spans in its chunk records: they are found
    again from the chunk text, and their vectors are embedded at question time, not taken from old rows."""
    rag = make_rag()
    rag.ingest([build_corpus(tmp_path / "src")])
    col = rag.store._col(rag.settings.collection, "chunks")
    got = col.get(include=["metadatas"])
    col.update(ids=got["ids"], metadatas=[{**m, "sentences": None} for m in got["metadatas"]])  # None drops it
    rag.store._bump(rag.settings.collection)
    chunk = rag.store.all_chunks(rag.settings.collection)[0]
    assert chunk.sentences and {kind for _, _, kind in chunk.sentences} == {"legacy"}
    answer = rag.ask("How much is the meal allowance when travelling?")
    assert not answer.refused and "£25" in answer.answer
