"""Who may use which collection: grants of a collection to groups and users, checked by `Rag` for every caller.

With `RAG_AUTH=none` everyone may use everything (loopback only). Otherwise a collection nobody was granted
is closed to every principal (deny by default); `None` as the user means the operator on this host (the
CLI, scripts, evals), who may use everything, as they can read the data dir anyway."""
from __future__ import annotations

from .auth import NAME, Principal
from .db import Database, connect
from .errors import AccessDenied, RagError

EVERYONE = "*"  # a grant to group '*' opens a collection to every signed-in user


class Access:
    def __init__(self, where, open_to_all: bool = False):
        """`where`: a Database, a Settings (RAG_DATABASE_URL or its data dir) or a data dir."""
        self.open = open_to_all  # RAG_AUTH=none: no checks, and the database is not even opened
        self.db: Database | None = None if open_to_all else connect(where)

    def grant(self, collection: str, groups: list[str] = (), users: list[str] = ()) -> None:
        for kind, names in (("group", groups), ("user", users)):
            for name in names:
                if not (NAME.match(name) or (kind == "group" and name == EVERYONE)):
                    raise RagError(f"bad {kind} name {name!r}: use letters, digits and . _ @ -")
                self.db.execute("INSERT INTO grants (collection, kind, name) VALUES (:collection, :kind, :name) "
                                "ON CONFLICT DO NOTHING", collection=collection, kind=kind, name=name)

    def revoke(self, collection: str, groups: list[str] = (), users: list[str] = ()) -> None:
        for kind, names in (("group", groups), ("user", users)):
            for name in names:
                self.db.execute("DELETE FROM grants WHERE collection = :collection AND kind = :kind AND name = :name",
                                collection=collection, kind=kind, name=name)

    def grants(self) -> dict[str, dict[str, list[str]]]:
        """collection -> {"groups": [...], "users": [...]}."""
        out: dict[str, dict[str, list[str]]] = {}
        for r in self.db.rows("SELECT * FROM grants ORDER BY collection, kind, name"):
            out.setdefault(r["collection"], {"groups": [], "users": []})[r["kind"] + "s"].append(r["name"])
        return out

    def allowed(self, user: Principal | None, collection: str) -> bool:
        if self.open or user is None:
            return True
        if user.kind != "user":  # keys: exactly the collections they were made for
            return collection in (user.collections or ())
        rows = self.db.rows("SELECT kind, name FROM grants WHERE collection = :collection", collection=collection)
        return any((r["kind"] == "user" and r["name"] == user.name)
                   or (r["kind"] == "group" and (r["name"] == EVERYONE or r["name"] in user.groups)) for r in rows)

    def check(self, user: Principal | None, collection: str) -> None:
        """Raise AccessDenied unless `user` may ask `collection` and read its sources."""
        if not self.allowed(user, collection):
            if user.kind != "user":
                raise AccessDenied(f"this key is for collection(s) {', '.join(sorted(user.collections or ())) or '-'}, "
                                   f"not '{collection}'; create one with `rag keys create --collection {collection}`")
            raise AccessDenied(f"{user.name} may not use collection '{collection}'; an operator can allow it with "
                               f"`rag access grant {collection} --users {user.name}` (or --groups GROUP)")
