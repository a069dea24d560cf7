"""Small-model plumbing for the console's LLM tasks: one short prompt, a greedy completion collected
under a deadline, and a JSON object read out of whatever came back.

The bundled model (Qwen2.5 1.5B) mostly answers with the object asked for, but sometimes wraps it
in a code fence, adds a sentence before it, leaves a trailing comma, uses full-width quotes, or is
cut off by ``max_tokens`` mid-object. ``parse_object`` repairs exactly those cases and gives up
otherwise: its result is still untrusted input, validated by the caller key by key — with
``support`` (are the value's words the caller's words?) and ``in_language``.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from rag.llm import ChatLLM, LLMUnavailable, Message

__all__ = ["clip_lines", "complete", "in_language", "parse_object", "support"]

_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[a-z0-9]+")
_STOP_ZH = set("的了是在我您你他她它们和与及就也都把被给到从这那个一有没很吗呢吧啊")
_STOP_EN = {
    "the",
    "and",
    "for",
    "with",
    "was",
    "were",
    "has",
    "have",
    "had",
    "that",
    "this",
    "his",
    "her",
    "their",
    "our",
    "your",
    "from",
    "caller",
    "passenger",
    "about",
    "they",
    "them",
    "she",
    "him",
    "are",
    "been",
}
_STOP_TOKENS = {"旅客", "来电者", "乘客"}
_FENCE = re.compile(r"```(?:json)?", re.I)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_LAST_PAIR = re.compile(r',?\s*"[^"]*"\s*:\s*(?:"[^"]*)?$')
_DANGLING_KEY = re.compile(r',?\s*"[^"]*$')


async def complete(llm: ChatLLM, messages: list[Message], *, max_tokens: int, timeout_s: float) -> str:
    """The whole (greedy) reply; ``LLMUnavailable`` when the endpoint fails or misses the deadline."""
    pieces: list[str] = []

    async def collect() -> None:
        async for piece in llm.stream(messages, max_tokens=max_tokens):
            pieces.append(piece)

    try:
        await asyncio.wait_for(collect(), timeout_s)
    except TimeoutError:
        raise LLMUnavailable(f"the LLM did not finish within {timeout_s:g} s") from None
    return "".join(pieces).strip()


def _loads(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def parse_object(reply: str) -> dict[str, Any] | None:
    """The first JSON object in ``reply`` (repaired when it is almost one), or None."""
    text = _FENCE.sub("", reply).replace("“", '"').replace("”", '"').strip()
    start = text.find("{")
    if start < 0:
        return None
    end = text.rfind("}")
    if end > start:
        body = text[start : end + 1]
        found = _loads(body) or _loads(_TRAILING_COMMA.sub(r"\1", body))
        if found is not None:
            return found
    # cut off mid-object: drop the unfinished pair, close the object
    body = _LAST_PAIR.sub("", text[start:].rstrip().rstrip(","))
    if body.count('"') % 2:
        body = _DANGLING_KEY.sub("", body)
    return _loads(_TRAILING_COMMA.sub(r"\1", body.rstrip().rstrip(",") + "}"))


def _terms(text: str) -> set[str]:
    """Words to compare: CJK characters and Latin words (cut to 5 letters), without stop words."""
    low = text.lower()
    out = {c for c in _CJK.findall(low) if c not in _STOP_ZH}
    out |= {w[:5] for w in _WORD.findall(low) if (len(w) >= 3 or w.isdigit()) and w not in _STOP_EN}
    return out


def support(value: str, source: str) -> float:
    """Share of ``value``'s words found in ``source`` (0 for a value without words)."""
    for token in _STOP_TOKENS:
        value = value.replace(token, "")
    words = _terms(value)
    return len(words & _terms(source)) / len(words) if words else 0.0


def in_language(value: str, language: str) -> bool:
    cjk = len(_CJK.findall(value))
    return cjk > 0 if language == "zh" else cjk <= 0.3 * max(len(value.replace(" ", "")), 1)


def clip_lines(texts: list[str], budget: int) -> str:
    """The caller's utterances, one a line, within ``budget`` characters: the first ones (where the
    problem is told) and the last ones (where details are added)."""
    lines = [f"- {t}" for t in texts]
    if sum(len(x) for x in lines) <= budget:
        return "\n".join(lines)
    head: list[str] = []
    tail: list[str] = []
    used = 0
    for i in range(len(lines)):
        pick = lines[i // 2] if i % 2 == 0 else lines[-1 - i // 2]
        if used + len(pick) > budget or pick in head or pick in tail:
            break
        (head if i % 2 == 0 else tail).append(pick)
        used += len(pick)
    return "\n".join(head + tail[::-1]) or lines[0][:budget]
