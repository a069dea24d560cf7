"""The handoff packet's summary: one or two sentences in Chinese and in English for the agent who
takes the call over, from the LLM (one short greedy call per language), with a rules fallback that
lists the caller's questions when the LLM is down or says something unusable.

A summary is refused when it is empty, in the wrong language, longer than two short sentences'
worth, or (in the call's own language) made of words the call did not contain.
"""

from __future__ import annotations

import re

from console.llm_json import complete, in_language, support
from console.ticket_draft import Line
from rag.llm import ChatLLM, Message

__all__ = ["LANGUAGES", "fallback_summary", "summarize"]

LANGUAGES = ("zh", "en")
_SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=\.)\s")
_ROLE = {
    "zh": {"caller": "旅客", "bot": "机器人", "agent": "客服"},
    "en": {"caller": "Caller", "bot": "Bot", "agent": "Agent"},
}
_ASK = {
    "zh": "用中文写一两句话，概括这通电话给接手的人工客服：旅客要办什么事，关键信息是什么。只写概括。",
    "en": "In one or two English sentences, summarise this call for the human agent taking it over: what the "
    "caller needs and the key facts. Write only the summary, in English.",
}
_SYSTEM = {  # the small model tends to answer in the transcript's language unless told firmly
    "zh": "你用中文为人工客服写通话摘要。",
    "en": "You write call summaries for human agents. You always write in English, even when the call is in Chinese.",
}
_LIMIT = {"zh": 160, "en": 400}  # characters: two sentences
_BUDGET = {"zh": 500, "en": 1200}  # characters of transcript shown to the LLM
_LEAD = {"zh": "来电者的问题：", "en": "The caller asked: "}


def fallback_summary(lines: list[Line]) -> dict[str, str]:
    """The caller's questions listed (the last five, each cut to 80 characters), in both leads."""
    asked = [line.text.strip().replace("\n", " ")[:80] for line in lines if line.role == "caller" and line.text.strip()]
    asked = asked[-5:]
    if not asked:
        return {"zh": "来电者还没有说话。", "en": "The caller has not said anything yet."}
    return {"zh": _LEAD["zh"] + "；".join(asked), "en": _LEAD["en"] + "; ".join(asked)}


def _transcript(lines: list[Line], language: str) -> str:
    names = _ROLE[language]
    rows = [f"{names.get(line.role, line.role)}: {line.text.strip()}" for line in lines if line.text.strip()]
    kept: list[str] = []
    used = 0
    for row in reversed(rows):  # the latest turns matter most; the first caller turn is kept too
        if used + len(row) > _BUDGET[language] and kept:
            break
        kept.append(row[: _BUDGET[language]])
        used += len(row)
    kept.reverse()
    if rows and rows[0] not in kept and lines and lines[0].role == "caller":
        kept.insert(0, rows[0][:200])
    return "\n".join(kept)


def _usable(text: str, target: str, call_language: str, source: str) -> str | None:
    text = text.strip().strip('"“”').strip()
    if not text or "\n\n" in text:
        text = text.split("\n\n")[0].strip()
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
    text = ("" if target == "zh" else " ").join(sentences[:2])
    if not text or len(text) > _LIMIT[target] or not in_language(text, target):
        return None  # an English summary may quote a Chinese name, not be Chinese
    if target == call_language and support(text, source) < 0.4:
        return None
    return text


async def summarize(
    llm: ChatLLM, lines: list[Line], *, call_language: str, target: str, timeout_s: float
) -> str | None:
    """The LLM's summary in ``target`` (zh or en), or None when it is unusable; raises
    ``LLMUnavailable`` when the endpoint fails."""
    transcript = _transcript(lines, target)
    messages: list[Message] = [
        {"role": "system", "content": _SYSTEM[target]},
        {"role": "user", "content": f"{transcript}\n\n{_ASK[target]}"},
    ]
    reply = await complete(llm, messages, max_tokens=90, timeout_s=timeout_s)
    return _usable(reply, target, call_language, "\n".join(line.text for line in lines))
