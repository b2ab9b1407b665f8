"""Who is asking: the `Principal` type, local password users, sign-in sessions and API keys.

Passwords are bcrypt hashes; session tokens and API keys are 256-bit random secrets stored as SHA-256
hashes (a stolen database gives no usable token). State lives in the state database (`rag.db`)."""
from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field

from .db import Database, connect
from .errors import RagError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD = 8
KEY_PREFIX = {"api": "rag_", "widget": "ragpk_"}  # widget keys are publishable: they sit in intranet pages


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a user (with groups) or a key (limited to its collections)."""
    name: str
    groups: frozenset[str] = field(default_factory=frozenset)
    kind: str = "user"                         # user | key | widget
    collections: frozenset[str] | None = None  # keys: the collections they were created for
    origins: tuple[str, ...] = ()              # widget keys: pages allowed to use them

    @property
    def read_only(self) -> bool:
        """Widget keys may only ask: no sources, no feedback."""
        return self.kind == "widget"


ANONYMOUS = Principal("anonymous", kind="anonymous", collections=frozenset())  # signed out: may use nothing


def _bytes(password: str) -> bytes:
    """What bcrypt hashes: the UTF-8 bytes (any odd surrogate kept, never an error), at most the 72 it reads."""
    return password.encode("utf-8", "surrogatepass")[:72]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _split(text: str | None) -> list[str]:
    return sorted({p for p in re.split(r"[\s,]+", text or "") if p})


class Accounts:
    """Users, sessions and keys in the state database."""

    def __init__(self, where):
        """`where`: a Database, a Settings (RAG_DATABASE_URL or its data dir) or a data dir."""
        self.db: Database = connect(where)

    # ------------------------------------------------------------ users
    def add_user(self, name: str, password: str, groups: list[str] | str = ()) -> None:
        """Create or replace a local user (a new password ends the user's sessions)."""
        import bcrypt

        if not NAME.match(name or ""):
            raise RagError(f"bad user name {name!r}: use letters, digits and . _ @ - (at most 64)")
        if len(password) < MIN_PASSWORD:
            raise RagError(f"the password must be at least {MIN_PASSWORD} characters long")
        groups = _split(groups) if isinstance(groups, str) else sorted(set(groups))
        for g in groups:
            if not NAME.match(g):
                raise RagError(f"bad group name {g!r}: use letters, digits and . _ @ -")
        pw = bcrypt.hashpw(_bytes(password), bcrypt.gensalt()).decode()
        self.db.execute("INSERT INTO users (name, hash, groups, created) VALUES (:name, :hash, :groups, :created) "
                        "ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, groups = excluded.groups, "
                        "created = excluded.created", name=name, hash=pw, groups=",".join(groups), created=time.time())
        self.db.execute('DELETE FROM sessions WHERE "user" = :name', name=name)

    def remove_user(self, name: str) -> None:
        if not self.db.execute("DELETE FROM users WHERE name = :name", name=name):
            raise RagError(f"no user {name!r}; `rag users list` shows who exists")
        self.db.execute('DELETE FROM sessions WHERE "user" = :name', name=name)

    def users(self) -> list[dict]:
        return [{"name": r["name"], "groups": _split(r["groups"]),
                 "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r["created"]))}
                for r in self.db.rows("SELECT name, groups, created FROM users ORDER BY name")]

    def user(self, name: str) -> Principal | None:
        row = self.db.one("SELECT name, groups FROM users WHERE name = :name", name=name)
        return Principal(row["name"], frozenset(_split(row["groups"]))) if row else None

    def check_password(self, name: str, password: str) -> Principal | None:
        """The user when the password is right, else None (same work either way: no user enumeration)."""
        import bcrypt

        row = self.db.one("SELECT hash FROM users WHERE name = :name", name=name) if NAME.match(name or "") else None
        stored = row["hash"].encode() if row else _dummy_hash()
        ok = bcrypt.checkpw(_bytes(password), stored)
        return self.user(name) if ok and row else None

    # ------------------------------------------------------------ sessions
    def start_session(self, user: Principal, hours: float) -> str:
        token = secrets.token_urlsafe(32)
        now = time.time()
        self.db.execute("DELETE FROM sessions WHERE expires < :now", now=now)
        self.db.execute('INSERT INTO sessions (hash, "user", expires) VALUES (:hash, :user, :expires)',
                        hash=_digest(token), user=user.name, expires=now + hours * 3600)
        return token

    def session(self, token: str) -> Principal | None:
        row = self.db.one('SELECT "user" FROM sessions WHERE hash = :hash AND expires > :now', hash=_digest(token),
                          now=time.time())
        return self.user(row["user"]) if row else None

    def end_session(self, token: str) -> None:
        self.db.execute("DELETE FROM sessions WHERE hash = :hash", hash=_digest(token))

    # ------------------------------------------------------------ keys
    def create_key(self, collections: list[str], kind: str = "api", origins: list[str] = (),
                   label: str | None = None) -> tuple[str, str]:
        """(key id, the key itself); only the key's hash is kept, so it is shown this once."""
        if kind == "widget" and not origins:
            raise RagError("a widget key needs the pages that may use it: --origin https://intranet.example.com")
        for o in origins:
            if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", o):
                raise RagError(f"bad origin {o!r}: write scheme://host[:port], e.g. https://intranet.example.com")
        key_id, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
        key = f"{KEY_PREFIX[kind]}{key_id}_{secret}"
        self.db.execute("INSERT INTO keys (id, hash, kind, collections, origins, label, created) "
                        "VALUES (:id, :hash, :kind, :collections, :origins, :label, :created)", id=key_id,
                        hash=_digest(key), kind=kind, collections=",".join(sorted(set(collections))),
                        origins=" ".join(origins), label=label, created=time.time())
        return key_id, key

    def revoke_key(self, key_id: str) -> None:
        if not self.db.execute("DELETE FROM keys WHERE id = :id", id=key_id):
            raise RagError(f"no key with id {key_id!r}; `rag keys list` shows the ids")

    def keys(self) -> list[dict]:
        return [{"id": r["id"], "kind": r["kind"], "collections": _split(r["collections"]),
                 "origins": r["origins"].split(), "label": r["label"],
                 "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r["created"]))}
                for r in self.db.rows("SELECT * FROM keys ORDER BY created")]

    def key(self, key: str) -> Principal | None:
        """The principal a presented key stands for, or None for an unknown or revoked key."""
        m = re.fullmatch(r"(rag_|ragpk_)([0-9a-f]{8})_[A-Za-z0-9_-]{20,100}", key or "")
        row = self.db.one("SELECT * FROM keys WHERE id = :id", id=m.group(2)) if m else None
        if not row or not hmac.compare_digest(row["hash"], _digest(key)):
            return None
        return Principal(f"key:{row['id']}", kind=row["kind"] if row["kind"] == "widget" else "key",
                         collections=frozenset(_split(row["collections"])), origins=tuple(row["origins"].split()))


@functools.cache
def _dummy_hash() -> bytes:
    """A bcrypt hash to check unknown names against, so they cost as much as known ones."""
    import bcrypt
    return bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt())
