"""Editable synonyms for query expansion (keyword side of retrieval): the store keeps them
(``kb_synonyms``); this in-memory table is what each query reads."""

from __future__ import annotations

import threading
from collections.abc import Iterable


class SynonymTable:
    def __init__(self) -> None:
        self._by_lang: dict[str, dict[str, set[str]]] = {}
        self._lock = threading.Lock()

    def replace(self, entries: Iterable[tuple[str, str, list[str]]]) -> None:
        """Load (lang, term, synonyms) entries; the relation is symmetric."""
        table: dict[str, dict[str, set[str]]] = {}
        for lang, term, syns in entries:
            group = {term.lower(), *(s.lower() for s in syns)}
            for word in group:
                table.setdefault(lang, {}).setdefault(word, set()).update(group - {word})
        with self._lock:
            self._by_lang = table

    def expand(self, text: str, language: str) -> str:
        """``text`` followed by the synonyms of every term it contains (for keyword search)."""
        with self._lock:
            table = self._by_lang.get(language, {})
        lowered = text.lower()
        extra = sorted({s for term, syns in table.items() if term in lowered for s in syns})
        return f"{text} {' '.join(extra)}" if extra else text
