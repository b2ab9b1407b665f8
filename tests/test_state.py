"""The state database (rag.db): the same tests on SQLite under the data dir and on a real PostgreSQL server;
migrations from an older data dir; errors that name the fix."""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from rag import load_settings
from rag.audit import AuditLog
from rag.auth import Accounts
from rag.db import HEAD, MIGRATIONS, Database, connect, url_of
from rag.errors import ConfigError, Unavailable
from rag.feedback import FeedbackLog


def test_audit_keeps_rows_for_its_retention(state):
    old = AuditLog(state, days=30)
    old.db.execute("INSERT INTO audit (time, action) VALUES ('2000-01-01T00:00:00Z', 'ask')")
    old.read("ana", None, "hr", "doc")  # writing purges rows past the retention (at most once an hour)
    assert [r["action"] for r in old.rows()] == ["read"]
    old.db.execute("INSERT INTO audit (time, action) VALUES ('2000-01-01T00:00:00Z', 'ask')")
    assert old.purge() == 1 and [r["action"] for r in old.rows()] == ["read"]
    assert json.loads(old.export("jsonl"))["doc_id"] == "doc" and json.loads(old.export("jsonl"))["user"] == "ana"
    assert old.rows(since="2999-01-01") == []


def test_feedback_round_trip_and_concurrent_writers(state):
    log = FeedbackLog(state)
    cites = [{"n": 1, "source": "a.txt", "start": 0, "end": 3, "quote": "été"}]
    first = log.add("Qui?", "Réponse. [1]", "down", cites, comment="  wrong  ", user="ana", collection="hr")
    errors = []

    def write(n):
        try:
            for i in range(10):
                log.add(f"q{n}-{i}", "a", "up")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = log.rows()
    assert not errors and len(rows) == 41 and len({r["id"] for r in rows}) == 41
    assert rows[0] == {"id": first, "time": rows[0]["time"], "user": "ana", "question": "Qui?", "answer": "Réponse. [1]",
                       "citations": cites, "verdict": "down", "comment": "wrong", "collection": "hr"}
    with pytest.raises(ValueError):
        log.add("q", "a", "meh")


def test_sessions_made_on_one_handle_are_seen_on_another(state, tmp_path):
    """Two replicas are two processes with their own handles on one database: a sign-in on one works on the
    other, and ending it ends it everywhere."""
    one = Accounts(state)
    other = Accounts(Database(url_of(load_settings(data_dir=tmp_path))))   # RAG_DATABASE_URL, or the same file
    assert other.db is not one.db
    one.add_user("ana", "correct horse", "staff")
    token = one.start_session(one.user("ana"), hours=1)
    assert other.session(token).name == "ana"
    other.end_session(token)
    assert one.session(token) is None


def test_the_migrations_head_is_the_one_the_code_expects(tmp_path):
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD
    db = connect(tmp_path)
    with db.engine.connect() as conn:
        assert db.revision(conn) == HEAD


OLD_STATE = """
CREATE TABLE users (name TEXT PRIMARY KEY, hash TEXT NOT NULL, groups TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE sessions (hash TEXT PRIMARY KEY, user TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE grants (collection TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('group', 'user')),
    name TEXT NOT NULL, PRIMARY KEY (collection, kind, name));
INSERT INTO grants VALUES ('hr', 'group', 'people');
"""
OLD_FEEDBACK = """CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, user TEXT,
    question TEXT NOT NULL, answer TEXT NOT NULL, citations TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('up', 'down')), comment TEXT, collection TEXT);
INSERT INTO feedback VALUES (1, '2026-01-01T00:00:00Z', 'ana', 'old question', 'old answer', '[]', 'up', NULL, NULL);
"""


def test_an_older_data_dir_is_migrated_in_place(tmp_path):
    """A data dir of the previous version: state.sqlite3 with some of the tables (made as each was first used)
    and feedback in its own file. Its rows survive; feedback moves into the state database once."""
    import bcrypt

    old = sqlite3.connect(tmp_path / "state.sqlite3")
    old.executescript(OLD_STATE)
    old.execute("INSERT INTO users VALUES ('ana', ?, 'staff', 0)",
                (bcrypt.hashpw(b"correct horse", bcrypt.gensalt(4)).decode(),))
    old.commit()
    old.close()
    sqlite3.connect(tmp_path / "feedback.sqlite3").executescript(OLD_FEEDBACK)
    db = Database(url_of(tmp_path))
    assert Accounts(db).check_password("ana", "correct horse").groups == {"staff"}
    from rag.access import Access
    assert Access(db).grants() == {"hr": {"groups": ["people"], "users": []}}
    assert Access(db).managers() == {}                            # old grants stay ask-only
    rows = FeedbackLog(db).rows()
    assert [r["question"] for r in rows] == ["old question"]
    assert not (tmp_path / "feedback.sqlite3").exists() and (tmp_path / "feedback.sqlite3.imported").exists()
    Database(url_of(tmp_path))                                   # opening again imports nothing twice
    assert len(FeedbackLog(db).rows()) == 1 and FeedbackLog(db).add("new", "a", "up") == 2
    assert AuditLog(db).rows() == []                              # tables the old file lacked were added


def test_a_bad_or_unreachable_database_url_says_what_to_set(tmp_path):
    from evals.benchmarks.common import free_port

    with pytest.raises(ConfigError, match="RAG_DATABASE_URL is not a database URL; set it like postgresql://"):
        connect(load_settings(data_dir=tmp_path, database_url="not a url"))
    with pytest.raises(ConfigError, match=r"only PostgreSQL .*unset it for SQLite") as e:
        connect(load_settings(data_dir=tmp_path, database_url="mysql://bob:hunter22@db/x"))
    assert "hunter22" not in str(e.value)
    url = f"postgresql://rag:hunter22@127.0.0.1:{free_port()}/rag"
    with pytest.raises(Unavailable, match=r"the state database postgresql\+psycopg://rag:\*\*\*@127.0.0.1:\d+/rag is not "
                                          r"answering .*start it, or check RAG_DATABASE_URL") as e:
        connect(load_settings(data_dir=tmp_path, database_url=url))
    assert "hunter22" not in str(e.value)


def test_cli_translates_an_unreachable_database_to_one_line(tmp_path, monkeypatch, capsys):
    from evals.benchmarks.common import free_port
    from rag.cli import main

    monkeypatch.setenv("RAG_DATABASE_URL", f"postgresql://rag@127.0.0.1:{free_port()}/rag")
    assert main(["--data-dir", str(tmp_path), "users", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rag: the state database postgresql+psycopg://rag@127.0.0.1:") and err.count("\n") == 1
    assert "check RAG_DATABASE_URL" in err
    assert not Path(tmp_path / "state.sqlite3").exists()


def test_db_copy_moves_a_data_dirs_state_into_postgresql(tmp_path, postgres, monkeypatch, capsys):
    """From a single-machine data dir to the database replicas share: rows, ids and hashes as they were; new
    rows get new ids; a target with state is refused."""
    from rag.access import Access
    from rag.cli import main

    old = tmp_path / "old"
    accounts = Accounts(old)
    accounts.add_user("ana", "correct horse", "staff")
    token = accounts.start_session(accounts.user("ana"), hours=1)
    _, key = accounts.create_key(["default"])
    Access(old).grant("default", groups=["staff"])
    for q in ("one", "two"):
        FeedbackLog(old).add(q, "a", "up", user="ana")
    AuditLog(old).read("ana", "10.0.0.1", "default", "doc")
    monkeypatch.setenv("RAG_DATABASE_URL", postgres.create(f"copy{time.time_ns()}"))
    assert main(["--data-dir", str(tmp_path / "new"), "db", "copy", str(tmp_path / "nowhere")]) == 2
    assert "holds no state.sqlite3" in capsys.readouterr().err
    assert main(["--data-dir", str(tmp_path / "new"), "db", "copy", str(old)]) == 0
    assert "users 1, sessions 1, keys 1, grants 1, feedback 2, audit 1, chats 0" in capsys.readouterr().out
    shared = connect(load_settings(data_dir=tmp_path / "new"))
    moved = Accounts(shared)
    assert moved.check_password("ana", "correct horse") and moved.session(token).name == "ana" and moved.key(key)
    assert Access(shared).grants() == {"default": {"groups": ["staff"], "users": []}}
    assert [r["question"] for r in FeedbackLog(shared).rows()] == ["one", "two"]
    assert FeedbackLog(shared).add("three", "a", "up") == 3                     # the id sequence moved on
    assert AuditLog(shared).rows()[0]["client"] == "10.0.0.1"
    assert main(["--data-dir", str(tmp_path / "new"), "db", "copy", str(old)]) == 2
    assert "already holds state (users, sessions, keys, grants, feedback, audit)" in capsys.readouterr().err


def test_saved_chats_and_collection_info(state):
    """The chat's own state (rag/chats.py, rag/catalog.py) on both databases."""
    from rag.catalog import Catalog
    from rag.chats import Chats

    chats = Chats(state)
    turn = {"question": "Who signed the memorandum?", "answer": "Ana. [1]"}
    first = chats.save("user:ana", None, "default", [turn])
    second = chats.save("user:ana", None, "hr", [turn, turn])
    assert [c["id"] for c in chats.list("user:ana")] == [second, first]          # newest first, same second too
    assert chats.save("user:ana", first, "default", [turn, turn]) == first
    assert [c["id"] for c in chats.list("user:ana")] == [first, second] and chats.list("user:bo") == []
    assert chats.load("user:ana", first)["turns"] == [turn, turn] and chats.load("user:bo", first) is None
    assert chats.rename("user:ana", first, "Signatures") and chats.list("user:ana")[0]["title"] == "Signatures"
    assert chats.delete("user:ana", second) and not chats.delete("user:bo", first)
    catalog = Catalog(state)
    catalog.describe("hr", "People matters", ["Who approves leave?"])
    catalog.describe("hr", examples=["How much leave?"])
    assert catalog.info("hr") == {"description": "People matters", "examples": ["How much leave?"]}
    assert catalog.all() == {"hr": catalog.info("hr")} and catalog.info("none") == {"description": "", "examples": []}
