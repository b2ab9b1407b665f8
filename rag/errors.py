"""The few error types the library raises; each message says how to fix the problem."""


class RagError(Exception):
    """Base class: the CLI and the UI show str(error) to the user."""


class ConfigError(RagError):
    """A setting, a model file or the store is unusable."""


class DocumentError(RagError):
    """One input file cannot be read; ingest reports it and goes on."""


class QuestionError(RagError):
    """The question cannot be answered as asked (empty, too long, ...)."""


class NotFound(RagError):
    """An unknown collection or document id."""


class LLMError(RagError):
    """The language model server is unreachable, refused the request or sent something unreadable."""


class Unavailable(RagError):
    """The store cannot serve the request now (Chroma server down, another ingest writing); retry later.
    The API answers 503."""


class AccessDenied(RagError):
    """The caller may not use this collection (or is not signed in)."""
