"""CI gate: `rag eval` on the real question sets must meet their gate files: corpus_qa over corpus/, and
three real-documents dev sets over evals/datasets/realdocs/, realdocs2/ and realdocs5/ (txt, md, html, pdf,
docx, suffix-less and gzipped files nobody here wrote)."""
import json
from pathlib import Path

import pytest

from rag.cli import main as cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("docs,dataset,gate,at_least", [
    ("corpus", "corpus_qa.jsonl", "gate.json", 30),
    ("evals/datasets/realdocs", "realdocs_dev.jsonl", "gate_realdocs.json", 130),
    ("evals/datasets/realdocs2", "realdocs2_dev.jsonl", "gate_realdocs2.json", 300),
    ("evals/datasets/realdocs5", "realdocs5_dev.jsonl", "gate_realdocs5.json", 250),
])
def test_question_set_meets_its_gate(tmp_path, capsys, docs, dataset, gate, at_least):
    data = str(tmp_path / "data")
    assert cli(["--data-dir", data, "ingest", str(ROOT / docs)]) == 0
    out = tmp_path / "eval"
    code = cli(["--data-dir", data, "eval", "--dataset", str(ROOT / "evals/datasets" / dataset),
                "--out", str(out), "--gate", str(ROOT / "evals" / gate)])
    captured = capsys.readouterr()
    assert code == 0, captured.err + "\n" + captured.out
    rep = json.loads((out / "report.json").read_text())
    assert rep["errors"] == 0 and rep["questions"] >= at_least and all(g["ok"] for g in rep["gate"])
