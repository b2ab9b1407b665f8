"""CI gate: `rag eval` on the real question set over corpus/ must meet evals/gate.json."""
import json
from pathlib import Path

from rag.cli import main as cli

ROOT = Path(__file__).resolve().parents[1]


def test_corpus_qa_meets_the_gate(tmp_path, capsys):
    data = str(tmp_path / "data")
    assert cli(["--data-dir", data, "ingest", str(ROOT / "corpus")]) == 0
    out = tmp_path / "eval"
    code = cli(["--data-dir", data, "eval", "--dataset", str(ROOT / "evals/datasets/corpus_qa.jsonl"),
                "--out", str(out), "--gate", str(ROOT / "evals/gate.json")])
    captured = capsys.readouterr()
    assert code == 0, captured.err + "\n" + captured.out
    rep = json.loads((out / "report.json").read_text())
    assert rep["errors"] == 0 and rep["questions"] >= 30 and all(g["ok"] for g in rep["gate"])
