"""Follow-up questions: rewrite "who signed it?" into a standalone query using the conversation.

A question is a follow-up when it lacks something only the conversation can supply: a pronoun with no
referent in the question ("it", "they", "this?"), an opening that continues the previous turn ("and",
"what about"), or no content of its own ("why?", "and the UK?"). A self-contained question is never glued
to the previous one, however short its words ("What will OpenAI do in the UK?").
"""
from __future__ import annotations

import re

_PRONOUN = re.compile(r"\b(it|its|it's|they|them|their|theirs|he|him|his|she|her|hers|the former|the latter|"
                      r"the same|which one)\b|\b(this|that|these|those)\s*(\?|$|\b(one|ones|is|was|are|were|do|does|"
                      r"did|mean|means|work|works|cost|costs|include|includes)\b)", re.I)
_CONTINUES = re.compile(r"^\s*(and|but|also|so|or|what about|how about|what else|anything else|same for)\b", re.I)
_WORD = re.compile(r"[A-Za-z0-9£$€%][\w£$€%.'-]*")
_FUNCTION = {"who", "what", "when", "where", "which", "why", "how", "does", "do", "did", "the", "a", "an", "and",
             "was", "were", "is", "are", "be", "about", "with", "for", "from", "of", "to", "in", "on", "at", "by",
             "that", "this", "they", "them", "their", "it", "its", "also", "then", "will", "would", "could", "can",
             "say", "said", "tell", "me", "more", "else", "so", "but", "or", "please", "there", "any", "some"}


def content_words(text: str) -> list[str]:
    return [w for w in (m.lower() for m in _WORD.findall(text)) if w not in _FUNCTION]


def is_follow_up(question: str) -> bool:
    return bool(_PRONOUN.search(question) or _CONTINUES.search(question)) or len(content_words(question)) <= 1


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
