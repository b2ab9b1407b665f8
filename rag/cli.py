"""The `rag` command line. Translates library errors into messages and exit codes."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from .errors import RagError
from .retrieval import MODES


def _print_answer(a) -> None:
    print(a.answer)
    for note in a.notes:
        print(f"\nNote: {note}")
    dropped = [c for c in a.sentences if not c.kept and a.backend != "extractive"]
    if dropped:
        print(f"\n{len(dropped)} generated sentence(s) left out: no cited passage supports them.")
    if a.citations:
        print("\nSee also:" if a.refused else "\nSources:")
        for c in a.citations:
            date = f", {c.date}" if c.date else ""
            print(f"[{c.n}] {c.title}{date} — {c.source}, {c.locator} (chars {c.start}–{c.end})")
            print(f"    “{' '.join(c.quote.split())}”")


def _print_ingest(r) -> None:
    for label, items in (("added", r.added), ("updated", r.updated), ("unchanged", r.skipped), ("removed", r.removed)):
        for s in items:
            print(f"{label:>9}  {s}")
    for e in r.errors:
        print(f"{'ERROR':>9}  {e['source']}: {e['error']}")
    print(f"{len(r.added)} added, {len(r.updated)} updated, {len(r.skipped)} unchanged, {len(r.removed)} removed, "
          f"{len(r.errors)} skipped for errors; {r.chunks} chunks embedded in {r.seconds:.1f} s")


def cmd_ingest(rag, a):
    missing = [p for p in a.paths if not os.path.lexists(p)]
    if missing:  # a typo on the command line is the caller's error, not a bad file among good ones
        raise RagError(f"no such file or folder: {missing[0]}; check the path (rag ingest PATH ...)")
    report = rag.ingest(a.paths or None, a.collection, progress=not a.json and sys.stderr.isatty())
    print(json.dumps(report.to_dict(), ensure_ascii=False)) if a.json else _print_ingest(report)
    return 1 if report.errors else 0


def cmd_ask(rag, a):
    answer = rag.ask(a.question, collection=a.collection)
    print(json.dumps(answer.to_dict(), ensure_ascii=False)) if a.json else _print_answer(answer)
    return 0


def cmd_search(rag, a):
    if a.queries:
        for line_no, line in enumerate(Path(a.queries).read_text("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                q = json.loads(line)
                hits = rag.search(q["question"], k=a.k, collection=a.collection, mode=a.mode)
                out = {"id": q.get("id", line_no), "results": [h.to_dict() for h in hits]}
            except (ValueError, KeyError, TypeError):
                out = {"id": line_no, "error": "not a JSON object with a \"question\""}
            except RagError as e:
                out = {"id": q.get("id", line_no), "error": str(e)}
            print(json.dumps(out, ensure_ascii=False))
        return 0
    if not a.query:
        raise RagError("give a QUERY or --queries FILE.jsonl")
    hits = rag.search(a.query, k=a.k, collection=a.collection, mode=a.mode)
    if a.json:
        print(json.dumps([h.to_dict() for h in hits], ensure_ascii=False))
        return 0
    for h in hits:
        print(f"{h.rank:>3}. {h.score:.4f}  {h.chunk.source}, {h.chunk.locator}\n     {' '.join(h.chunk.text.split())[:200]}")
    return 0


def cmd_status(rag, a):
    st = rag.status(a.collection)
    if a.json:
        print(json.dumps(st, ensure_ascii=False))
        return 0
    print(f"data dir: {st['data_dir']}" + (f"  (Chroma server {st['chroma_url']})" if st["chroma_url"] else ""))
    if not st["collections"]:
        print("nothing indexed yet; run `rag ingest`")
    for name, c in st["collections"].items():
        print(f"collection {name}: {c['documents']} documents, {c['chunks']} chunks")
        for f in c["files"]:
            print(f"  {f['source']}  ({f['chunks']} chunks, {f['date'] or 'no date'})  {f['title']}")
    return 0


def _write(text: str, out: str | None, what: str) -> int:
    if out:
        Path(out).write_text(text, encoding="utf-8", newline="")
        print(f"{what} written to {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_feedback(rag, a):
    from .feedback import FeedbackLog
    return _write(FeedbackLog(rag.settings).export(a.format), a.out, "feedback")


def _names(text: str | None) -> list[str]:
    return [n for n in (text or "").replace(" ", ",").split(",") if n]


def cmd_users(rag, a):
    from .auth import Accounts
    accounts = Accounts(rag.settings)
    if a.users_command == "add":
        if sys.stdin.isatty():
            import getpass
            password = getpass.getpass(f"password for {a.name}: ")
        else:
            try:
                password = sys.stdin.readline().rstrip("\r\n")
            except UnicodeDecodeError:
                raise RagError("the password on standard input is not UTF-8 text")
        accounts.add_user(a.name, password, _names(a.groups))
        print(f"user {a.name} saved" + (f" (groups: {', '.join(_names(a.groups))})" if a.groups else ""))
    elif a.users_command == "remove":
        accounts.remove_user(a.name)
        print(f"user {a.name} removed; their sessions ended")
    else:
        for u in accounts.users():
            print(json.dumps(u) if a.json else f"{u['name']}  groups: {', '.join(u['groups']) or '-'}  since {u['created']}")
    return 0


def cmd_keys(rag, a):
    from .auth import Accounts
    accounts = Accounts(rag.settings)
    if a.keys_command == "create":
        names = _names(a.collection) or [rag.settings.collection]
        for name in names:
            rag._collection(name)  # a valid collection name
        key_id, key = accounts.create_key(names, "widget" if a.widget else "api", a.origin or [], a.label)
        print(key)
        print(f"key {key_id} for collection(s) {', '.join(names)}: shown once, only its hash is kept; "
              f"revoke with `rag keys revoke {key_id}`", file=sys.stderr)
    elif a.keys_command == "revoke":
        accounts.revoke_key(a.id)
        print(f"key {a.id} revoked")
    else:
        for k in accounts.keys():
            print(json.dumps(k) if a.json else f"{k['id']}  {k['kind']}  collections: {', '.join(k['collections'])}"
                  + (f"  origins: {' '.join(k['origins'])}" if k["origins"] else "")
                  + (f"  ({k['label']})" if k["label"] else "") + f"  since {k['created']}")
    return 0


def cmd_access(rag, a):
    from .access import Access
    access = Access(rag.settings)
    if a.access_command in ("grant", "revoke"):
        name = rag._collection(a.name)
        if not (a.groups or a.users):
            raise RagError("name who: --groups a,b and/or --users x,y ('*' as a group: every signed-in user)")
        getattr(access, a.access_command)(name, _names(a.groups), _names(a.users), manage=a.manage)
    managers = access.managers()
    for name, g in access.grants().items():
        m = managers.get(name)
        print(f"{name}  groups: {', '.join(g['groups']) or '-'}  users: {', '.join(g['users']) or '-'}"
              + (f"  managers: {', '.join(m['groups'] + m['users'])}" if m else ""))
    return 0


def cmd_collections(rag, a):
    from .catalog import Catalog
    catalog = Catalog(rag.settings)
    if a.collections_command == "describe":
        if a.description is None and a.example is None and not a.no_examples:
            raise RagError("say what to set: --description TEXT and/or --example QUESTION (repeatable), or "
                           "--no-examples")
        catalog.describe(rag._collection(a.name), a.description, [] if a.no_examples else a.example)
    indexed = set(rag.store.collections())
    info = catalog.all()
    for name in sorted(indexed | set(info)):
        i = info.get(name, {"description": "", "examples": []})
        if a.json:
            print(json.dumps({"collection": name, "indexed": name in indexed, **i}, ensure_ascii=False))
        else:
            print(f"{name}{'' if name in indexed else '  (nothing indexed yet)'}: {i['description'] or '-'}")
            for e in i["examples"]:
                print(f"    e.g. {e}")
    return 0


def cmd_gaps(rag, a):
    from .audit import AuditLog
    from .feedback import FeedbackLog
    from .gaps import add_case, export, report
    groups = report(AuditLog(rag.settings, rag.settings.audit_days).rows(), FeedbackLog(rag.settings).rows(), a.since)
    if a.eval:
        picked = [g for g in groups if g["id"] in set(a.id or [])]
        if not picked or len(picked) < len(set(a.id or [])):
            raise RagError("name the gaps to add with --id GAP_ID (repeatable), as `rag gaps` lists them")
        added = sum(add_case(Path(a.eval), g) for g in picked)
        print(f"{added} eval case(s) appended to {a.eval}" + (f" ({len(picked) - added} there already)"
              if added < len(picked) else "") + f"; run them with `rag eval --dataset {a.eval}`")
        return 0
    if a.format != "text":
        return _write(export(groups, a.format), a.out, "gap report")
    if not groups:
        print("no refused questions and no answers rated down" + (f" since {a.since}" if a.since else ""))
    for g in groups:
        print(f"{g['id']}  {g['count']}x ({g['refused']} refused, {g['down']} rated down)  {g['first'][:10]} – "
              f"{g['last'][:10]}  {', '.join(g['collections'])}\n    {g['question']}")
        if g["cited"]:
            print(f"    cited: {', '.join(g['cited'])}")
        for c in g["comments"][:3]:
            print(f"    comment: {' '.join(c.split())[:200]}")
    return 0


def cmd_audit(rag, a):
    from .audit import AuditLog
    return _write(AuditLog(rag.settings, rag.settings.audit_days).export(a.format, a.since), a.out,
                  "audit log")


def cmd_serve(rag, a):
    from ui.app import serve  # lazy: gradio is heavy and only the server needs it
    rag.generator  # a misconfigured answer backend stops here with its one-line message, not at the first question
    rag.index_wait = rag.settings.bm25_wait   # a server answers while a changed collection's BM25 side is rebuilt
    return serve(rag, host=a.host, port=a.port)


def cmd_watch(rag, a):
    from .watch import watch
    paths = [Path(p) for p in a.paths]
    for p in paths:
        if not p.exists():
            raise RagError(f"{p} does not exist; give the folders or files to watch")

    def show(r) -> None:
        for label, items in (("added", r.added), ("updated", r.updated), ("removed", r.removed)):
            for item in items:
                print(f"{label:>9}  {item}")
        for e in r.errors:
            print(f"{'ERROR':>9}  {e['source']}: {e['error']}")
        print(f"{time.strftime('%H:%M:%S')} {len(r.added)} added, {len(r.updated)} updated, {len(r.skipped)} unchanged, "
              f"{len(r.removed)} removed, {len(r.errors)} skipped for errors; watching {', '.join(a.paths)}", flush=True)
    watch(rag, paths, a.collection, show, debounce_ms=a.debounce, force_polling=a.poll or None)
    return 0


def cmd_db(rag, a):
    from .db import Database, connect, url_of
    from .dbcopy import copy_state
    if "://" not in a.source and not (Path(a.source) / "state.sqlite3").is_file():
        raise RagError(f"{a.source} holds no state.sqlite3; give the data dir to copy from, or a database URL")
    target = connect(rag.settings)
    source = Database(a.source if "://" in a.source else url_of(Path(a.source)))
    counts = copy_state(source, target)
    print(f"copied from {source.url} to {target.url}: " + ", ".join(f"{t} {n}" for t, n in counts.items()))
    return 0


def cmd_eval(rag, a):
    from evals.runner import main as eval_main  # lazy, see DESIGN.md
    return eval_main(rag, a)


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


class Parser(argparse.ArgumentParser):
    """argparse with errors in the CLI's one-line form: `rag: ...` on stderr, exit status 2."""

    def error(self, message):
        self.exit(2, f"rag: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="rag", description="Cited answers over your documents.")
    p.add_argument("--data-dir", help="where the index lives (RAG_DATA_DIR, default .rag)")
    common = Parser(add_help=False)  # global options, accepted after the subcommand too
    common.add_argument("--data-dir", default=argparse.SUPPRESS, help="where the index lives (RAG_DATA_DIR, default .rag)")
    sub = p.add_subparsers(dest="command", required=True)

    def command(name, func, help_):
        sp = sub.add_parser(name, help=help_, parents=[common])
        sp.set_defaults(func=func)
        sp.add_argument("--collection", help="collection name (RAG_COLLECTION, default 'default')")
        return sp

    sp = command("ingest", cmd_ingest, "index files and folders (default: corpus/)")
    sp.add_argument("paths", nargs="*")
    sp.add_argument("--json", action="store_true")
    sp = command("ask", cmd_ask, "answer one question with citations")
    sp.add_argument("question")
    sp.add_argument("--json", action="store_true")
    sp = command("search", cmd_search, "retrieval only: ranked chunks")
    sp.add_argument("query", nargs="?")
    sp.add_argument("--k", type=positive, default=10)
    sp.add_argument("--queries", help="JSONL file of {id, question}: one JSONL result line per query")
    sp.add_argument("--mode", choices=MODES, default="hybrid")
    sp.add_argument("--json", action="store_true")
    sp = command("status", cmd_status, "what is indexed")
    sp.add_argument("--json", action="store_true")
    sp = command("serve", cmd_serve, "the web chat, REST API and widget")
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=int, default=7860)

    def group(name, func, help_):
        """`rag NAME VERB ...`: returns a function adding one VERB, run by `func`."""
        verbs = sub.add_parser(name, help=help_, parents=[common]).add_subparsers(dest=f"{name}_command",
                                                                                  required=True)

        def verb(v, h):
            sp = verbs.add_parser(v, help=h, parents=[common])
            sp.set_defaults(func=func)
            return sp
        return verb

    users = group("users", cmd_users, "local users for RAG_AUTH=password")
    sp = users("add", "add (or reset) a user; the password is read from standard input")
    sp.add_argument("name")
    sp.add_argument("--groups", help="comma-separated groups, e.g. staff,hr")
    users("remove", "remove a user and end their sessions").add_argument("name")
    users("list", "users and their groups").add_argument("--json", action="store_true")
    keys = group("keys", cmd_keys, "API keys for the REST API (Authorization: Bearer KEY)")
    sp = keys("create", "make a key and print it once")
    sp.add_argument("--collection", help="collection(s) the key may use, comma-separated (default RAG_COLLECTION)")
    sp.add_argument("--widget", action="store_true", help="a publishable widget key: asking only, from --origin pages")
    sp.add_argument("--origin", action="append", help="page origin that may use a widget key (repeatable)")
    sp.add_argument("--label", help="a note shown by `rag keys list`")
    keys("revoke", "revoke a key by its id").add_argument("id")
    keys("list", "keys (ids, collections; never the keys themselves)").add_argument("--json", action="store_true")
    access = group("access", cmd_access, "who may use which collection when sign-in is on")
    for v, h, m in (("grant", "let groups/users ask a collection and read its sources",
                     "also let them manage it: upload, delete and re-ingest its documents on /documents"),
                    ("revoke", "take a grant back", "take only the manager role back (they may still ask)")):
        sp = access(v, h)
        sp.add_argument("name", metavar="COLLECTION")
        sp.add_argument("--groups", help="comma-separated groups ('*': every signed-in user)")
        sp.add_argument("--users", help="comma-separated user names")
        sp.add_argument("--manage", action="store_true", help=m)
    access("list", "every grant")
    collections = group("collections", cmd_collections, "what the chat shows about each collection")
    sp = collections("describe", "set a collection's description and example questions, shown in the chat")
    sp.add_argument("name", metavar="COLLECTION")
    sp.add_argument("--description", help="one or two sentences: what the collection holds")
    sp.add_argument("--example", action="append", metavar="QUESTION",
                    help="an example question (repeatable; replaces the stored ones)")
    sp.add_argument("--no-examples", action="store_true", help="remove the example questions")
    sp.add_argument("--json", action="store_true")
    collections("list", "collections with their descriptions and examples").add_argument("--json", action="store_true")
    sp = sub.add_parser("gaps", parents=[common], help="knowledge gaps: refused questions and answers rated down, "
                        "grouped by similar question")
    sp.set_defaults(func=cmd_gaps)
    sp.add_argument("--since", help="only from this UTC time on, e.g. 2026-01-31")
    sp.add_argument("--format", choices=["text", "csv", "jsonl"], default="text")
    sp.add_argument("--out", help="file to write csv or jsonl to (default: standard output)")
    sp.add_argument("--eval", metavar="FILE", help="append the gaps named by --id to this eval dataset (JSONL)")
    sp.add_argument("--id", action="append", metavar="GAP_ID", help="a gap's id, as listed (repeatable)")
    for name, func, help_, what in (("audit", cmd_audit, "who asked what, what was cited, who read which source",
                                     "the audit log"),
                                    ("feedback", cmd_feedback, "thumbs up/down given in the chat", "every feedback row")):
        sp = group(name, func, help_)("export", f"write {what} as JSONL or CSV")
        sp.add_argument("--format", choices=["csv", "jsonl"], default="jsonl")
        sp.add_argument("--out", help="file to write (default: standard output)")
        if name == "audit":
            sp.add_argument("--since", help="only rows from this UTC time on, e.g. 2026-01-31 or 2026-01-31T09:00:00Z")
    sp = command("watch", cmd_watch, "ingest paths, then again whenever a file under them changes (Ctrl-C stops)")
    sp.add_argument("paths", nargs="+")
    sp.add_argument("--debounce", type=positive, default=1600, help="milliseconds of quiet before a batch of "
                    "changes is ingested (default 1600)")
    sp.add_argument("--poll", action="store_true", help="poll for changes (network file systems send no events)")
    sp = group("db", cmd_db, "the state database (RAG_DATABASE_URL, or SQLite in the data dir)")(
        "copy", "copy users, sessions, keys, grants, feedback and the audit log into this (empty) database")
    sp.add_argument("source", help="a data dir (its state.sqlite3) or a database URL to copy from")
    sp = command("eval", cmd_eval, "scripted evaluation run")
    sp.add_argument("--dataset", default="evals/datasets/corpus_qa.jsonl", help="JSONL question set")
    sp.add_argument("--out", default="eval-out", help="folder for results.jsonl and the reports")
    sp.add_argument("--url", help="evaluate a running server (POST URL/api/ask) instead of the local index")
    sp.add_argument("--k", type=int, help="retrieved chunks scored for hit rate and MRR "
                    "(default: RAG_ANSWER_CHUNKS, the chunks an answer is built from)")
    sp.add_argument("--limit", type=int, help="only the first N questions")
    sp.add_argument("--gate", metavar="FILE", help="thresholds file, e.g. evals/gate.json; exit 1 when one is missed")
    sp.add_argument("--min", action="append", metavar="NAME=VALUE", help="lowest acceptable metric (repeatable)")
    sp.add_argument("--max", action="append", metavar="NAME=VALUE", help="highest acceptable metric (repeatable)")
    sp.add_argument("--compare", nargs=2, metavar=("OLD_DIR", "NEW_DIR"),
                    help="print per-metric deltas and regressed questions between two runs (no new run)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .settings import load_settings
    from pydantic import ValidationError
    try:
        settings = load_settings(data_dir=args.data_dir,  # `rag serve --collection NAME`: the chat's default
                                 collection=args.collection if args.command == "serve" else None)
    except ValidationError as e:
        print(f"rag: bad setting: {e.errors()[0]['loc'][0]}: {e.errors()[0]['msg']}", file=sys.stderr)
        return 2
    from .logs import configure
    configure(settings.log_level, settings.log_format)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from .api import Rag
    try:
        return args.func(Rag(settings), args) or 0
    except ValidationError as e:
        print(f"rag: {e.errors()[0]['msg']}", file=sys.stderr)
        return 2
    except RagError as e:
        print(f"rag: {' '.join(str(e).split())}", file=sys.stderr)      # always one line
        return 2
    except KeyboardInterrupt:
        print("rag: interrupted", file=sys.stderr)
        return 130
    except Exception as e:       # a bug or an unforeseen failure: still one line; the traceback in the log
        logging.getLogger(__name__).debug("unexpected error", exc_info=True)
        print(f"rag: unexpected error ({type(e).__name__}: {' '.join(str(e).split())[:300]}); "
              "run again with RAG_LOG_LEVEL=DEBUG for details and report it", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
