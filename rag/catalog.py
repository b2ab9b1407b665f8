"""What the chat shows about each collection: a description and its own example questions, set by whoever
manages the collection (`rag collections describe NAME --description ... --example ...`). A collection with
none shows none: never another collection's examples."""
from __future__ import annotations

import json

from .db import Database, connect
from .errors import RagError

MAX_EXAMPLES, MAX_DESCRIPTION, MAX_EXAMPLE = 6, 500, 200


class Catalog:
    def __init__(self, where):
        """`where`: a Database, a Settings (RAG_DATABASE_URL or its data dir) or a data dir."""
        self.db: Database = connect(where)

    def describe(self, collection: str, description: str | None = None, examples: list[str] | None = None) -> dict:
        """Set a collection's description and/or example questions (None keeps what is stored); returns both."""
        info = self.info(collection)
        if description is not None:
            if len(description) > MAX_DESCRIPTION:
                raise RagError(f"the description is {len(description)} characters; keep it under {MAX_DESCRIPTION}")
            info["description"] = " ".join(description.split())
        if examples is not None:
            examples = [" ".join(e.split()) for e in examples if e.strip()]
            if len(examples) > MAX_EXAMPLES or any(len(e) > MAX_EXAMPLE for e in examples):
                raise RagError(f"give at most {MAX_EXAMPLES} example questions of at most {MAX_EXAMPLE} characters")
            info["examples"] = examples
        self.db.execute("INSERT INTO collection_info (collection, description, examples) VALUES (:collection, "
                        ":description, :examples) ON CONFLICT (collection) DO UPDATE SET description = "
                        "excluded.description, examples = excluded.examples", collection=collection,
                        description=info["description"], examples=json.dumps(info["examples"], ensure_ascii=False))
        return info

    def info(self, collection: str) -> dict:
        """{"description": str, "examples": [str]} of a collection; empty when nobody described it."""
        row = self.db.one("SELECT description, examples FROM collection_info WHERE collection = :collection",
                          collection=collection)
        return {"description": row["description"], "examples": json.loads(row["examples"])} if row else \
            {"description": "", "examples": []}

    def all(self) -> dict[str, dict]:
        return {r["collection"]: {"description": r["description"], "examples": json.loads(r["examples"])}
                for r in self.db.rows("SELECT * FROM collection_info ORDER BY collection")}
