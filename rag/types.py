"""Citations as types: document -> chunk -> hit (scored chunk) -> citation -> answer."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

BLOCK_KINDS = ("text", "heading", "item", "row", "code")   # a title line counts as a heading
LEGACY = "legacy"   # sentence kind in a chunk stored before sentence spans were: found again, no stored vectors


@dataclass
class Document:
    """One source file as indexed: the stored text every citation points into.

    The stored text is what a reader sees (clean text): Markdown/HTML rendered, hard-wrapped lines reflowed,
    PDF lines joined. Blocks (paragraph, heading, list item, table row, code block) are separated by one or
    more newlines; inside a block there is no newline, except inside a code block."""
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
    # (start, end, kind) of every block in order, kind in BLOCK_KINDS; text[start:end] is the block, stripped.
    # Empty for documents from older readers: then every line is a "text" block.
    blocks: list[tuple[int, int, str]] = field(default_factory=list)
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
    # its sentences: (start, end, kind) in document offsets, the source's [n] markers trimmed; kind is the
    # block kind, or "title" (a block repeating the title) or "dateline" (a short date/byline block)
    sentences: list[tuple[int, int, str]] = field(default_factory=list)


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
class Evidence:
    """One answer candidate: a sentence of a retrieved chunk, scored against the question."""
    hit: Hit
    index: int             # position in hit.chunk.sentences
    start: int             # document offsets of the quote
    end: int
    kind: str              # block kind: text, item, row, code, dateline
    text: str              # the sentence as shown: one line, the source's [n] markers removed
    lead: str = ""         # the previous sentence(s), as shown, when this one continues them (then start is theirs)
    tail: str = ""         # the next sentence, as shown, when this is a field ("Default: 30") its description
                           # follows (then end is its end)
    brought: int | None = None   # the sentence that stands for what lead/tail bring along, if not the previous
    heading: str = ""      # the section heading it sits under
    score: float = 0.0     # probability that it states the answer (rag/evidence.py)

    @property
    def full_text(self) -> str:
        return " ".join(t for t in (self.lead, self.text, self.tail) if t)

    @property
    def neighbour(self) -> int:
        """The sentence whose vector stands for the context it brings along (features: cos_prev)."""
        return self.index - 1 if self.brought is None else self.brought

    @property
    def quote(self) -> str:
        c = self.hit.chunk
        return c.text[self.start - c.start:self.end - c.start]


@dataclass
class Passage:
    """What an answer may cite as [n]: a window of a retrieved chunk around its best evidence."""
    hit: Hit
    start: int             # document offsets
    end: int
    evidence: list[Evidence]   # the scored candidates inside it, best first
    score: float           # its best candidate's score

    @property
    def text(self) -> str:
        c = self.hit.chunk
        return c.text[self.start - c.start:self.end - c.start]


@dataclass
class Claim:
    """One sentence of an answer as checked against the passages it cites."""
    text: str              # as generated, without its markers
    cited: list[int]       # passage numbers the generator gave it
    citations: list[int]   # the answer's citation numbers it is shown with (those that support it)
    verified: bool         # a cited passage supports it
    kept: bool             # shown in the answer
    support: dict[str, float] = field(default_factory=dict)   # lexical, embedding, entailment of the best span

    def to_dict(self) -> dict:
        return {"text": self.text, "citations": self.citations, "verified": self.verified, "kept": self.kept,
                "support": {k: round(v, 4) for k, v in self.support.items()}}


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
    sentences: list[Claim] = field(default_factory=list)   # every sentence generated, kept or dropped
    notes: list[str] = field(default_factory=list)         # e.g. a fallback to the extractive answer, and why

    def to_dict(self) -> dict:
        return {"question": self.question, "answer": self.answer, "refused": self.refused,
                "citations": [c.to_dict() for c in self.citations], "backend": self.backend,
                "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
                "sentences": [s.to_dict() for s in self.sentences], "notes": self.notes}


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
