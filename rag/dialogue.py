"""Dialogue state of one call and follow-up questions made standalone before retrieval.

"And their phone number?" means nothing to a search index. The state remembers the turns of
this call only (a new call starts empty: nothing from another call is ever in context) and the
named things mentioned in them — knowledge-base titles (hotels, shops, counters…) found with an
Aho-Corasick automaton over the titles. A question that names nothing, or points back ("it",
"there", "这家", "那里"), is rewritten by putting the most recent named thing, else the previous
question, in front of it. Deterministic and instant; no LLM call.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

import ahocorasick

_FOLLOW_UP = {
    "en": re.compile(
        r"\b(it|its|it's|they|them|their|theirs|there|that one|this one|that place|this place|the same|"
        r"what about|how about|and the|and what|and how|and where|and when|also)\b",
        re.IGNORECASE,
    ),
    "zh": re.compile(
        r"(这家|那家|它|他们|她们|它们|这里|那里|那儿|这儿|该|这个地方|那个地方|它家|他家|这个店|那个店|这边|那边|那呢|呢？?$|还有)"
    ),
}
_SHORT = {"en": 5, "zh": 8}  # words / characters: a question this short is probably a follow-up
MAX_TURNS = 12


def _norm(text: str) -> str:
    """NFKC (full-width brackets and digits to ASCII), lower case."""
    return unicodedata.normalize("NFKC", text).lower()


_CJK = re.compile(r"^[\u4e00-\u9fff]{2,}$")


class EntityGazetteer:
    """Finds knowledge-base titles (named things) in text, longest match first.

    Titles shorter than ``min_len`` are left out (a three-letter word is too often an ordinary
    word), except names of two or more Chinese characters (故宫, 天坛: a two-character name is
    as distinctive as a five-letter one)."""

    def __init__(self, names: Iterable[str], *, min_len: int = 3) -> None:
        self._automaton = ahocorasick.Automaton()
        count = 0
        for name in names:
            key = _norm(name).strip()
            if len(key) >= min_len or _CJK.match(key):
                self._automaton.add_word(key, name)
                count += 1
        self.size = count
        if count:
            self._automaton.make_automaton()

    def find(self, text: str) -> list[str]:
        """Names in ``text`` in order of appearance (overlaps resolved to the longest)."""
        if not self.size:
            return []
        spans: list[tuple[int, int, str]] = []
        for end, name in self._automaton.iter_long(_norm(text)):
            start = end - len(_norm(name).strip()) + 1
            spans.append((start, end, name))
        return [name for _, _, name in sorted(spans)]


@dataclass
class Turn:
    role: str  # "caller" | "bot"
    text: str


@dataclass
class DialogueState:
    """What this call has said so far (bounded), and the named things in it."""

    language: str = "en"
    turns: list[Turn] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)  # most recent last
    last_question: str = ""  # the last standalone question

    def add(self, role: str, text: str, gazetteer: EntityGazetteer | None = None) -> None:
        self.turns.append(Turn(role, text))
        del self.turns[:-MAX_TURNS]
        if gazetteer is not None:
            for name in gazetteer.find(text):
                if name in self.entities:
                    self.entities.remove(name)
                self.entities.append(name)
            del self.entities[:-5]

    def history(self, n: int = 2) -> list[Turn]:
        """The last ``n`` caller/bot exchanges."""
        return self.turns[-2 * n :]


def is_follow_up(question: str, language: str) -> bool:
    q = question.strip()
    size = len(q.split()) if language == "en" else len(re.sub(r"\W", "", q))
    return bool(_FOLLOW_UP.get(language, _FOLLOW_UP["en"]).search(q)) or size <= _SHORT.get(language, 5)


def standalone(question: str, state: DialogueState, gazetteer: EntityGazetteer | None) -> str:
    """``question`` made self-contained for retrieval, using this call's earlier turns."""
    if not state.turns:
        return question
    named = gazetteer.find(question) if gazetteer is not None else []
    if named or not is_follow_up(question, state.language):
        return question
    if state.entities:
        return f"{state.entities[-1]} {question}"
    if state.last_question:
        return f"{state.last_question} {question}"
    return question
