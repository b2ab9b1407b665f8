"""rag: cited answers over an organisation's source documents."""
from .api import Rag
from .conversation import resolve
from .feedback import FeedbackLog
from .errors import ConfigError, DocumentError, LLMError, NotFound, QuestionError, RagError, Unavailable
from .settings import Settings, load_settings
from .types import Answer, Chunk, Citation, Document, Hit, IngestReport

__all__ = ["Rag", "FeedbackLog", "resolve", "Settings", "load_settings", "RagError", "ConfigError", "DocumentError", "LLMError", "NotFound",
           "QuestionError", "Unavailable", "Answer", "Chunk", "Citation", "Document", "Hit", "IngestReport"]
