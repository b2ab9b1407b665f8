"""Who may use which collection: grants of a collection to groups and users, checked by `Rag` for every caller.
A grant may also make its group or user a manager of the collection (upload, delete and re-ingest its
documents); a manager may ask it too. Keys never manage.

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

    def grant(self, collection: str, groups: list[str] = (), users: list[str] = (), manage: bool = False) -> None:
        """Let groups/users ask `collection` (and manage it with `manage`); granting again without `manage`
        keeps a manager a manager."""
        for kind, names in (("group", groups), ("user", users)):
            for name in names:
                if not (NAME.match(name) or (kind == "group" and name == EVERYONE)):
                    raise RagError(f"bad {kind} name {name!r}: use letters, digits and . _ @ -")
                self.db.execute("INSERT INTO grants (collection, kind, name, manage) VALUES (:collection, :kind, :name, "
                                ":manage) ON CONFLICT (collection, kind, name) DO " +
                                ("UPDATE SET manage = excluded.manage" if manage else "NOTHING"),
                                collection=collection, kind=kind, name=name, manage=manage)

    def revoke(self, collection: str, groups: list[str] = (), users: list[str] = (), manage: bool = False) -> None:
        """Take grants back; with `manage` only the manager role (they may still ask)."""
        for kind, names in (("group", groups), ("user", users)):
            for name in names:
                where = " WHERE collection = :collection AND kind = :kind AND name = :name"
                if manage:
                    self.db.execute("UPDATE grants SET manage = :no" + where, collection=collection, kind=kind,
                                    name=name, no=False)
                else:
                    self.db.execute("DELETE FROM grants" + where, collection=collection, kind=kind, name=name)

    def grants(self) -> dict[str, dict[str, list[str]]]:
        """collection -> {"groups": [...], "users": [...]} who may ask it (its managers among them)."""
        out: dict[str, dict[str, list[str]]] = {}
        for r in self.db.rows("SELECT * FROM grants ORDER BY collection, kind, name"):
            out.setdefault(r["collection"], {"groups": [], "users": []})[r["kind"] + "s"].append(r["name"])
        return out

    def managers(self) -> dict[str, dict[str, list[str]]]:
        """collection -> {"groups": [...], "users": [...]} of the grants that also manage it."""
        out: dict[str, dict[str, list[str]]] = {}
        for r in self.db.rows("SELECT * FROM grants WHERE manage = :yes ORDER BY collection, kind, name", yes=True):
            out.setdefault(r["collection"], {"groups": [], "users": []})[r["kind"] + "s"].append(r["name"])
        return out

    def _granted(self, user: Principal, collection: str, manage: bool) -> bool:
        rows = self.db.rows("SELECT kind, name, manage FROM grants WHERE collection = :collection", collection=collection)
        return any((r["kind"] == "user" and r["name"] == user.name)
                   or (r["kind"] == "group" and (r["name"] == EVERYONE or r["name"] in user.groups))
                   for r in rows if r["manage"] or not manage)

    def allowed(self, user: Principal | None, collection: str) -> bool:
        if self.open or user is None:
            return True
        if user.kind != "user":  # keys: exactly the collections they were made for
            return collection in (user.collections or ())
        return self._granted(user, collection, manage=False)

    def may_manage(self, user: Principal | None, collection: str) -> bool:
        """Whether `user` may upload, delete and re-ingest `collection`'s documents: everyone with RAG_AUTH=none,
        the operator (None), a user granted it with --manage (to them or a group of theirs); never a key."""
        if self.open or user is None:
            return True
        return user.kind == "user" and self._granted(user, collection, manage=True)

    def check(self, user: Principal | None, collection: str) -> None:
        """Raise AccessDenied unless `user` may ask `collection` and read its sources."""
        if not self.allowed(user, collection):
            if user.kind != "user":
                raise AccessDenied(f"this key is for collection(s) {', '.join(sorted(user.collections or ())) or '-'}, "
                                   f"not '{collection}'; create one with `rag keys create --collection {collection}`")
            raise AccessDenied(f"{user.name} may not use collection '{collection}'; an operator can allow it with "
                               f"`rag access grant {collection} --users {user.name}` (or --groups GROUP)")

    def check_manage(self, user: Principal | None, collection: str) -> None:
        """Raise AccessDenied unless `user` may manage `collection`."""
        if self.may_manage(user, collection):
            return
        if user.kind == "anonymous":
            raise AccessDenied(f"not signed in: sign in as a user who manages collection '{collection}'")
        if user.kind != "user":
            raise AccessDenied(f"keys may not manage collections; sign in as a user who manages '{collection}'")
        raise AccessDenied(f"{user.name} may not manage collection '{collection}'; an operator can allow it with "
                           f"`rag access grant {collection} --users {user.name} --manage` (or --groups GROUP --manage)")
