"""Saved conversations of the web chat: per signed-in user (owner `user:NAME`), or per browser (owner
`browser:ID`) when sign-in is off. Each holds its answers as the REST API returns them, so it can be shown
again, continued and rated; the owner can rename and delete it."""
from __future__ import annotations

import json
import secrets
import time

from .db import Database, connect

MAX_CHATS, MAX_TITLE = 200, 80   # per owner; the oldest are dropped beyond it


def title_of(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_TITLE else text[:MAX_TITLE - 1].rstrip() + "…"


class Chats:
    def __init__(self, where):
        """`where`: a Database, a Settings (RAG_DATABASE_URL or its data dir) or a data dir."""
        self.db: Database = connect(where)

    def save(self, owner: str, chat_id: str | None, collection: str, turns: list[dict]) -> str:
        """Store a conversation's turns (answer dicts, oldest first); a new one (chat_id None, or not this
        owner's) gets an id and its first question as title. Returns the id."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        body = json.dumps(turns, ensure_ascii=False)
        if chat_id and self.db.execute("UPDATE chats SET turns = :turns, collection = :collection, updated = :now, "
                                       "seq = :seq WHERE id = :id AND owner = :owner", turns=body,
                                       collection=collection, now=now, seq=time.time_ns(), id=chat_id, owner=owner):
            return chat_id
        chat_id = secrets.token_urlsafe(12)
        title = title_of(turns[0]["question"]) if turns else "New chat"
        self.db.execute("INSERT INTO chats (id, owner, title, collection, turns, updated, seq) VALUES (:id, :owner, "
                        ":title, :collection, :turns, :now, :seq)", id=chat_id, owner=owner, title=title,
                        collection=collection, turns=body, now=now, seq=time.time_ns())
        self.db.execute("DELETE FROM chats WHERE owner = :owner AND id NOT IN (SELECT id FROM chats WHERE "
                        "owner = :owner ORDER BY updated DESC LIMIT :keep)", owner=owner, keep=MAX_CHATS)
        return chat_id

    def list(self, owner: str) -> list[dict]:
        """[{"id", "title", "collection", "updated"}] of the owner's conversations, newest first."""
        return self.db.rows("SELECT id, title, collection, updated FROM chats WHERE owner = :owner "
                            "ORDER BY updated DESC, seq DESC", owner=owner)

    def load(self, owner: str, chat_id: str) -> dict | None:
        row = self.db.one("SELECT id, title, collection, turns FROM chats WHERE id = :id AND owner = :owner",
                          id=chat_id, owner=owner)
        return {**row, "turns": json.loads(row["turns"])} if row else None

    def rename(self, owner: str, chat_id: str, title: str) -> bool:
        title = title_of(title)
        return bool(title) and self.db.execute("UPDATE chats SET title = :title WHERE id = :id AND owner = :owner",
                                               title=title, id=chat_id, owner=owner) > 0

    def delete(self, owner: str, chat_id: str) -> bool:
        return self.db.execute("DELETE FROM chats WHERE id = :id AND owner = :owner", id=chat_id, owner=owner) > 0
