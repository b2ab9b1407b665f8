"""Citations as types: document -> chunk -> hit (scored chunk) -> citation -> answer."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Document:
    """One source file as indexed: the stored text every citation points into."""
    id: str
    source: str            # path as ingested; its file name always ends it
    title: str
    text: str
    sha256: str
    date: str | None = None
    origin: str | None = None
    # structure for human locators: offsets where paragraphs / pages start, and (offset, heading) pairs
    paragraphs: list[int] = field(default_factory=list)
    pages: list[int] = field(default_factory=list)
    headings: list[tuple[int, str]] = field(default_factory=list)
    path: str = ""         # absolute path of the file, for removing files gone from an ingested folder


@dataclass
class Chunk:
    id: str
    doc_id: str
    source: str
    title: str
    date: str | None
    start: int
    end: int
    text: str              # == document.text[start:end]
    locator: str


@dataclass
class Hit:
    chunk: Chunk
    score: float
    rank: int = 0

    def to_dict(self) -> dict:
        c = self.chunk
        return {"rank": self.rank, "source": c.source, "title": c.title, "locator": c.locator,
                "start": c.start, "end": c.end, "text": c.text, "score": round(self.score, 6)}


@dataclass
class Citation:
    n: int
    doc_id: str
    source: str
    title: str
    date: str | None
    locator: str
    start: int
    end: int
    quote: str             # == stored text[start:end]
    score: float

    def to_dict(self) -> dict:
        return {"n": self.n, "source": self.source, "title": self.title, "locator": self.locator,
                "start": self.start, "end": self.end, "quote": self.quote, "score": round(self.score, 4)}


@dataclass
class Answer:
    question: str
    answer: str
    refused: bool
    citations: list[Citation]
    backend: str
    timings_ms: dict[str, float]

    def to_dict(self) -> dict:
        return {"question": self.question, "answer": self.answer, "refused": self.refused,
                "citations": [c.to_dict() for c in self.citations], "backend": self.backend,
                "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()}}


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)      # unchanged
    removed: list[str] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)      # {"source", "error"}
    chunks: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)
