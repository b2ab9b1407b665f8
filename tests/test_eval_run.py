"""`rag eval` end to end on a tiny fixture corpus: files, HTML, gate exit codes, compare, Ctrl-C, --url."""
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest

from rag.cli import main as cli

FIX = Path(__file__).parent / "fixtures_eval"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("evaldata")
    assert cli(["--data-dir", str(d), "ingest", str(FIX / "corpus")]) == 0
    return d


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    lines = (FIX / "qa.jsonl").read_text().splitlines()
    lines.append(json.dumps({"id": "html<&>", "question": "Is <script>alert('x')</script> "
                             "<img src=http://evil.example/x.png> in the lighthouse?", "must_include": ["zzz"]}))
    f = tmp_path_factory.mktemp("ds") / "qa.jsonl"
    f.write_text("\n".join(lines) + "\n")
    return f


@pytest.fixture(scope="module")
def run_dir(data_dir, dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert cli(["--data-dir", str(data_dir), "eval", "--dataset", str(dataset), "--out", str(out)]) == 0
    return out


def test_run_writes_all_four_files(run_dir, dataset):
    for name in ("results.jsonl", "report.json", "report.md", "report.html"):
        assert (run_dir / name).is_file(), name
    rows = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    assert len(rows) == len(dataset.read_text().splitlines())
    first = rows[0]
    assert {"id", "question", "answer", "metrics"} <= set(first)
    assert {"answer", "refused", "citations", "backend", "timings_ms"} <= set(first["answer"])
    rep = json.loads((run_dir / "report.json").read_text())
    assert rep["questions"] == len(rows) and not rep["interrupted"]
    assert rep["metrics"]["refusal_accuracy"] == 1.0              # the Moon question is refused
    assert rep["metrics"]["hit_rate"] == 1.0 and rep["metrics"]["citation_precision"] == 1.0
    by_id = {r["id"]: r for r in rows}
    assert by_id["builder"]["metrics"]["must_include"] == 1.0      # a well answered question scores 1.0
    assert by_id["followup"]["metrics"]["hit"] is True             # history reaches retrieval


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.urls = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.urls += [v for k, v in attrs if k in ("src", "href", "action", "xlink:href", "data") and v]


def test_html_is_self_contained_and_escaped(run_dir):
    html = (run_dir / "report.html").read_text()
    parsed = Tags()
    parsed.feed(html)
    assert parsed.urls == [] and not {"script", "link", "img", "iframe"} & set(parsed.tags)
    assert "@import" not in html and "url(" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=http://evil.example/x.png&gt;" in html
    assert html.count("<svg") >= 10                                 # a chart per metric + the histogram
    assert "Failures" in html and "html&lt;&amp;&gt;" in html
    md = (run_dir / "report.md").read_text()
    assert "| citation precision |" in md


def test_gate_exit_codes(data_dir, dataset, tmp_path, capsys):
    gate = tmp_path / "gate.json"
    gate.write_text(json.dumps({"min": {"refusal_accuracy": 1.0, "hit_rate": 0.9}}))
    args = ["--data-dir", str(data_dir), "eval", "--dataset", str(dataset), "--out", str(tmp_path / "o"), "--limit", "2"]
    assert cli(args + ["--gate", str(gate)]) == 1                   # no unanswerable question in the first 2
    assert "refusal_accuracy = not measured, needs >= 1" in capsys.readouterr().err
    assert cli(args + ["--min", "must_include=1.01"]) == 1
    assert "GATE FAILED: must_include" in capsys.readouterr().err
    assert cli(args + ["--min", "hit_rate=0.5", "--max", "false_refusal_rate=0"]) == 0
    assert json.loads((tmp_path / "o" / "report.json").read_text())["gate"][0]["ok"]


def test_compare_lists_a_regression(run_dir, tmp_path, capsys):
    worse = tmp_path / "worse"
    shutil.copytree(run_dir, worse)
    rows = [json.loads(line) for line in (worse / "results.jsonl").read_text().splitlines()]
    rows[0]["metrics"].update(must_include=0.5, failures=["missing 1852"])
    (worse / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    rep = json.loads((worse / "report.json").read_text())
    rep["metrics"]["must_include"] -= 0.1
    (worse / "report.json").write_text(json.dumps(rep))
    assert cli(["eval", "--compare", str(run_dir), str(worse)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"must_include .* -0\.100\s+worse", out)
    assert "1 regressed question" in out and "[builder]" in out and "must_include 1.00 → 0.50" in out


class FakeRag:
    """ask() answers twice, then the user presses Ctrl-C."""

    def __init__(self):
        self.calls = 0
        self.embedder = SimpleNamespace(embed=None)

    def ask(self, question, history=None, collection=None):
        self.calls += 1
        if self.calls == 3:
            raise KeyboardInterrupt
        return SimpleNamespace(to_dict=lambda: {"question": question, "answer": "A lighthouse. [1]", "refused": False,
                                                "citations": [{"n": 1, "quote": "A lighthouse.", "source": "a.md"}],
                                                "backend": "fake", "timings_ms": {"total": 1.0}})

    def search(self, query, k=10, collection=None):
        return []


def test_ctrl_c_keeps_results_and_writes_the_report(tmp_path):
    from evals.runner import main

    args = SimpleNamespace(dataset=FIX / "qa.jsonl", out=tmp_path, collection=None, compare=None, url=None, k=10,
                           gate=None, min=None, max=None, limit=None)
    assert main(FakeRag(), args) == 130
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 2
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["interrupted"] and rep["questions"] == 2
    assert "partial run" in (tmp_path / "report.html").read_text()


def _app(rag):
    """The real app when the UI has it, else the real REST router on a bare FastAPI app."""
    try:
        from ui.app import create_app
        return create_app(rag)
    except ImportError:
        from fastapi import FastAPI

        from ui.api import router
        app = FastAPI()
        app.include_router(router(rag, None))
        return app


def test_url_mode_against_the_rest_api(data_dir, tmp_path):
    from conftest import serving
    from rag import Rag, load_settings

    rag = Rag(load_settings(data_dir=data_dir))
    with serving(_app(rag)) as url:
        out = tmp_path / "url"
        assert cli(["--data-dir", str(data_dir), "eval", "--dataset", str(FIX / "qa.jsonl"), "--out", str(out),
                    "--url", url, "--min", "refusal_accuracy=1"]) == 0
        rep = json.loads((out / "report.json").read_text())
        assert rep["questions"] == 5 and rep["errors"] == 0 and rep["url"].endswith(url.rsplit(":", 1)[1])
        assert rep["metrics"]["hit_rate"] is None                   # no retrieval through the API
        assert rep["metrics"]["citation_precision"] == 1.0 and "client" in rep["latency_ms"]


def test_unreachable_server_and_bad_dataset_are_clear_errors(tmp_path):
    from evals.runner import HttpClient, load_dataset
    from rag import RagError

    from conftest import free_port
    port = free_port()                              # nothing listens there
    with pytest.raises(RagError, match="cannot reach .* is `rag serve` running"):
        HttpClient(f"http://127.0.0.1:{port}", None, timeout=5).ask("q", [])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok"}\n{"question": \n')
    with pytest.raises(RagError, match=r"bad.jsonl:2: not JSON"):
        load_dataset(bad)
    bad.write_text('{"id": 1}\n')
    with pytest.raises(RagError, match='needs a non-empty "question"'):
        load_dataset(bad)
