"""Follow-up questions: rewrite "who signed it?" into a standalone query using the conversation."""
from __future__ import annotations

import re

_ANAPHORA = re.compile(
    r"\b(it|its|it's|they|them|their|theirs|this|that|these|those|he|him|his|she|her|hers|there|then|the same|"
    r"the former|the latter|which one)\b|^\s*(and|but|also|so|what about|how about|why|when|where)\b", re.I)
_CONTENT = re.compile(r"[A-Za-z0-9£$€%]{3,}")
_FUNCTION = {"who", "what", "when", "where", "which", "why", "how", "does", "did", "the", "and", "was", "were",
             "are", "about", "with", "for", "from", "that", "this", "they", "them", "their", "its", "also",
             "there", "then", "will", "would", "could", "can", "say", "said", "tell", "more", "else"}


def content_words(text: str) -> list[str]:
    return [w for w in (m.lower() for m in _CONTENT.findall(text)) if w not in _FUNCTION]


def is_follow_up(question: str) -> bool:
    return bool(_ANAPHORA.search(question)) or len(content_words(question)) <= 1


def resolve(question: str, history: list[dict] | None) -> str:
    """A standalone retrieval query: the question, prefixed by the user turn it follows up on."""
    previous = None
    for turn in history or []:
        if turn.get("role") == "user" and str(turn.get("content", "")).strip():
            text = str(turn["content"]).strip()
            # a follow-up earlier in the chat is itself resolved against the turn before it
            previous = f"{previous} {text}" if previous and is_follow_up(text) else text
    if previous and is_follow_up(question):
        return f"{previous} {question.strip()}"
    return question.strip()
