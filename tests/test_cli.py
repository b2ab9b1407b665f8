"""The command line's contract: global options anywhere, one-line `rag: ...` errors, `rag serve` checks."""
from __future__ import annotations

import socket

import pytest

from rag.cli import main


def test_data_dir_is_accepted_before_or_after_the_subcommand(tmp_path, capsys):
    for argv in (["--data-dir", str(tmp_path / "a"), "status"], ["status", "--data-dir", str(tmp_path / "a")],
                 ["access", "list", "--data-dir", str(tmp_path / "a")]):
        assert main(argv) == 0, argv
    assert f"data dir: {tmp_path / 'a'}" in capsys.readouterr().out


@pytest.mark.parametrize("argv, words", [(["ask"], "the following arguments are required: question"),
                                         (["serve", "--port", "x"], "invalid int value"),
                                         (["frobnicate"], "invalid choice")])
def test_usage_errors_are_one_line(argv, words, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith("rag: ") and words in err and err.count("\n") == 1, err


def test_ingest_of_a_missing_path_is_a_one_line_error(tmp_path, capsys):
    assert main(["ingest", str(tmp_path / "nope"), "--data-dir", str(tmp_path / "d")]) == 2
    out = capsys.readouterr()
    assert out.err == f"rag: no such file or folder: {tmp_path / 'nope'}; check the path (rag ingest PATH ...)\n"
    assert out.out == ""


def test_serve_on_a_busy_port_says_so_before_announcing_and_suggests_another(tmp_path, capsys):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port), "--data-dir", str(tmp_path)]) == 2
    out = capsys.readouterr()
    assert "serving" not in out.out and f"cannot listen on 127.0.0.1:{port} (Address already in use)" in out.err
    assert f"rag serve --port {port + 1}" in out.err and out.err.count("\n") == 1


def test_serve_collection_sets_the_chat_default(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr("ui.app.serve", lambda rag, host, port: seen.setdefault("collection", rag.settings.collection) and 0)
    assert main(["serve", "--collection", "mine", "--data-dir", str(tmp_path)]) == 0
    assert seen == {"collection": "mine"}


def test_collections_describe_sets_description_and_examples(tmp_path, capsys):
    d = ["--data-dir", str(tmp_path)]
    assert main(["collections", "describe", "hr", "--description", "HR  policies.", "--example", "How much leave?",
                 "--example", "Who approves travel?", *d]) == 0
    assert capsys.readouterr().out == ("hr  (nothing indexed yet): HR policies.\n    e.g. How much leave?\n"
                                       "    e.g. Who approves travel?\n")
    assert main(["collections", "describe", "hr", "--no-examples", *d]) == 0
    assert main(["collections", "list", "--json", *d]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == '{"collection": "hr", "indexed": false, "description": "HR policies.", "examples": []}'
    assert main(["collections", "describe", "hr", *d]) == 2
    assert main(["collections", "describe", "../x", "--description", "x", *d]) == 2
    assert "is not a collection name" in capsys.readouterr().err
