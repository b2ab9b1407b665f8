"""The README stays true: its example output is what the CLI prints, and every setting is listed."""
from __future__ import annotations

import re
import shutil
import shlex
from pathlib import Path

from rag.cli import main as cli_main
from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text("utf-8")


def shown(value) -> str:
    """A default as the README's settings table writes it."""
    return "unset" if value is None else f"`{str(value).lower() if isinstance(value, bool) else value}`"


def test_every_setting_is_documented_with_its_default():
    rows = dict(re.findall(r"^\| `(RAG_[A-Z0-9_]+)` \| (.+?) \|", README, re.M))
    assert set(rows) == {f"RAG_{name.upper()}" for name in Settings.model_fields}, "settings table out of date"
    for name, field in Settings.model_fields.items():
        assert rows[f"RAG_{name.upper()}"] == shown(field.default), f"RAG_{name.upper()}: README default is stale"


def test_quickstart_is_two_commands_that_exist():
    block = re.search(r"## Quickstart.*?```bash\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]
    assert commands == ["bash scripts/chat", "bash scripts/test"]
    assert all((ROOT / c.split()[1]).is_file() for c in commands)


def test_console_example_output_is_current(tmp_path, monkeypatch, capsys, embedder):
    shutil.copytree(ROOT / "corpus", tmp_path / "corpus")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("rag.embedder.make_embedder", lambda settings: embedder)
    assert cli_main(["ingest"]) == 0
    capsys.readouterr()
    block = re.search(r"```console\n(.*?)```", README, re.S).group(1)
    examples = re.findall(r"^\$ \.venv/bin/rag (.*)\n((?:(?!\$ ).*\n)*)", block, re.M)
    assert len(examples) == 2
    for command, expected in examples:
        assert cli_main(shlex.split(command)) == 0
        assert capsys.readouterr().out == expected, f"README output of `rag {command}` is stale"
