"""The handoff policy's rules file (``handoff_rules.yaml``): bilingual lexicons, topics and queues,
levels and announcement texts, checked and compiled once; and the text matchers built on them.

Everything here is pure and deterministic: a caller's words in, a match (the matched phrase, never
the whole transcript) or a score out. ``voicebot/handoff.py`` combines the matches into a decision.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_RULES = Path(__file__).resolve().parent / "handoff_rules.yaml"


class ReasonCode(StrEnum):
    """Why a call is (or would be) handed to a person, in order of precedence (first = strongest)."""

    BLACKLISTED = "blacklisted"  # the number is on routing's blacklist: refused, message, hang up
    EMERGENCY = "emergency"  # medical, fire, lost child, "救命": at once, highest priority
    SECURITY_THREAT = "security_threat"  # bomb, weapon, threat: at once, highest priority
    EXPLICIT_REQUEST = "explicit_request"  # "转人工", "real person", DTMF 0, "yes" to the bot's offer
    COMPLAINT = "complaint"  # complaint intent or strong negative sentiment
    CLARIFICATION_LOOP = "clarification_loop"  # the same question again, or "that's not what I asked"
    REPEATED_FAILURE = "repeated_failure"  # N abstentions / low-confidence replies in the call
    LOW_CONFIDENCE = "low_confidence"  # this reply's calibrated confidence is too low, or it abstained
    VIP_CALLER = "vip_caller"  # red-list number: a modifier (priority), never a trigger alone


PRECEDENCE: tuple[ReasonCode, ...] = tuple(ReasonCode)
_TRIGGERS = frozenset(PRECEDENCE) - {ReasonCode.BLACKLISTED, ReasonCode.VIP_CALLER}

_APOSTROPHES = re.compile(r"['’‘`´]")
_CLAUSE_END = re.compile(r"[.?!;。？！；\n]+")
_NON_WORD = re.compile(r"[\W_]+")
_CJK = re.compile(r"[\u3400-\u9fff]+")
_LATIN_WORD = re.compile(r"[a-z0-9]+")
_NUMBER = re.compile(r"\d+")
_STOPWORDS = frozenset(
    "a an the is are was were be do does did can could would will i you my me we our it its of to in on at for "
    "from and or how what where when which who much many please there this that per with about yes no ok okay "
    "yeah sure right thanks thank hello hi sorry just".split()
)
_STOP_CHARS = re.compile("[的了吗呢吧啊呀嗯哦喔好谢请问你我您是要想一下个那这就还也都么]")  # particles, pleasantries


def normalise(text: str) -> str:
    """NFKC (full-width to ASCII), lower case, apostrophes removed ("don't" → "dont")."""
    return _APOSTROPHES.sub("", unicodedata.normalize("NFKC", text).lower())


def clauses(text: str) -> list[str]:
    """The normalised text cut at sentence ends; each pattern applies to one clause."""
    return [c.strip() for c in _CLAUSE_END.split(normalise(text)) if c.strip()]


def _bare(clause: str) -> str:
    return " ".join(_NON_WORD.sub(" ", clause).split())


def _terms(text: str) -> set[str]:
    norm = normalise(text)
    terms = {w for w in _LATIN_WORD.findall(norm) if w not in _STOPWORDS}
    for run in _CJK.findall(_STOP_CHARS.sub("", norm)):
        if len(run) == 1:
            terms.add(run)
        else:
            terms.update(run[i : i + 2] for i in range(len(run) - 1))
    return terms


def similarity(a: str, b: str) -> float:
    """How alike two questions are, 0..1: the Dice coefficient of their content words (English)
    and character bigrams (Mandarin). Questions naming different numbers ("gate 3" / "gate 5")
    are different questions (0)."""
    if set(_NUMBER.findall(normalise(a))) != set(_NUMBER.findall(normalise(b))):
        return 0.0
    ta, tb = _terms(a), _terms(b)
    if not ta or not tb:
        return 0.0
    return 2 * len(ta & tb) / (len(ta) + len(tb))


def content_size(text: str) -> int:
    """Content terms in ``text`` (a question shorter than a few is no evidence of a loop)."""
    return len(_terms(text))


# --- the file ------------------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Bi(_Strict):
    en: str
    zh: str


class _BiList(_Strict):
    en: list[str] = []
    zh: list[str] = []


class _Weighted(_Strict):
    pattern: str
    weight: float = Field(ge=-1.0, le=1.0)


class _Explicit(_Strict):
    request: _BiList
    bare: _BiList
    fillers: _Bi
    negation: _Bi
    veto: _BiList


class _Complaint(_Strict):
    boost: float = Field(ge=1.0, le=2.0)
    intensifiers: _Bi
    entries: dict[Literal["en", "zh"], list[_Weighted]]


class _Topic(_Strict):
    queue: str = Field(min_length=1, max_length=64)
    skills: dict[str, int] = {}
    categories: list[str] = []
    keywords: _Bi | None = None


class _Announcements(_Strict):
    transfer: _Bi
    urgent: _Bi
    next: _Bi
    hold: _Bi  # repeated while the caller waits (voicebot/agent_bridge.py)
    position: _Bi
    wait_short: _Bi
    wait_one: _Bi
    wait: _Bi
    refused: _Bi
    refused_urgent: _Bi


class _RulesFile(_Strict):
    explicit_request: _Explicit
    accept_offer: _Bi
    complaint: _Complaint
    emergency: _BiList
    security_threat: _BiList
    misunderstanding: _BiList
    topics: dict[str, _Topic]
    reason_topics: dict[ReasonCode, str]
    levels: dict[ReasonCode, int]
    served_first: list[ReasonCode]
    announcements: _Announcements


@dataclass(frozen=True)
class Topic:
    """Where a handoff goes: the ACD queue and the skills its agents need (``QueueSpec.required_skills``)."""

    name: str
    queue: str
    skills: Mapping[str, int]
    categories: frozenset[str]
    keywords: tuple[re.Pattern[str], ...]


def _compile(patterns: Iterable[str], where: str) -> tuple[re.Pattern[str], ...]:
    out = []
    for i, pattern in enumerate(patterns):
        try:
            out.append(re.compile(pattern, re.IGNORECASE))
        except re.error as exc:
            raise ValueError(f"{where}[{i}]: not a valid regular expression ({exc})") from None
    return tuple(out)


def _both(value: _BiList | _Bi, where: str) -> tuple[re.Pattern[str], ...]:
    if isinstance(value, _Bi):
        return _compile([value.en, value.zh], where)
    return _compile([*value.en, *value.zh], where)


def _first(patterns: Iterable[re.Pattern[str]], text: str) -> str | None:
    for pattern in patterns:
        if m := pattern.search(text):
            return m.group(0).strip()
    return None


@dataclass(frozen=True)
class HandoffRules:
    """The compiled rules file; build it with :func:`load_rules`."""

    request: tuple[re.Pattern[str], ...]
    bare: frozenset[str]
    fillers: tuple[re.Pattern[str], ...]
    negation: tuple[re.Pattern[str], ...]
    veto: tuple[re.Pattern[str], ...]
    accept: tuple[re.Pattern[str], ...]
    complaint_entries: tuple[tuple[re.Pattern[str], float], ...]
    intensifiers: tuple[re.Pattern[str], ...]
    boost: float
    emergency_patterns: tuple[re.Pattern[str], ...]
    security_patterns: tuple[re.Pattern[str], ...]
    misunderstanding_patterns: tuple[re.Pattern[str], ...]
    topics: tuple[Topic, ...]  # in the file's order: the first keyword match wins
    reason_topics: Mapping[ReasonCode, str]
    levels: Mapping[ReasonCode, int]
    served_first: frozenset[ReasonCode]
    announcements: Mapping[str, Mapping[str, str]]  # name → language → template

    # -- matchers: each returns the matched phrase (lexicon-sized, not the transcript) ------------
    def explicit_request(self, text: str) -> str | None:
        """A request for a person in some clause of ``text`` (see the rules file for the method)."""
        for clause in clauses(text):
            if any(v.search(clause) for v in self.veto):
                continue
            for pattern in self.request:
                for m in pattern.finditer(clause):
                    before = clause[: m.start()]
                    if not any(n.search(before) for n in self.negation):
                        return m.group(0).strip()
            rest = clause
            for filler in self.fillers:
                rest = filler.sub(" ", rest)
            if _bare(rest) in self.bare:
                return _bare(clause)
        return None

    def accepts_offer(self, text: str) -> bool:
        """``text`` is only a yes ("yes please", "好的", "要") — an answer to the bot's offer."""
        parts = [_bare(c) for c in clauses(text)]
        return bool(parts) and all(any(p.fullmatch(part) for p in self.accept) for part in parts)

    def complaint(self, text: str) -> tuple[float, tuple[str, ...]]:
        """Complaint intensity 0..1 and the phrases that made it."""
        norm = normalise(text)
        total, found = 0.0, []
        for pattern, weight in self.complaint_entries:
            for m in pattern.finditer(norm):
                total += weight
                if weight > 0:
                    found.append(m.group(0).strip())
        if total > 0 and any(p.search(norm) for p in self.intensifiers):
            total *= self.boost
        return round(max(0.0, min(1.0, total)), 3), tuple(dict.fromkeys(found))

    def emergency(self, text: str) -> str | None:
        return next((hit for c in clauses(text) if (hit := _first(self.emergency_patterns, c))), None)

    def security_threat(self, text: str) -> str | None:
        return next((hit for c in clauses(text) if (hit := _first(self.security_patterns, c))), None)

    def misunderstanding(self, text: str) -> str | None:
        return next((hit for c in clauses(text) if (hit := _first(self.misunderstanding_patterns, c))), None)

    # -- topics ------------------------------------------------------------------------------------
    def topic(self, name: str) -> Topic:
        return next(t for t in self.topics if t.name == name)

    def topic_for(self, texts: Iterable[str], categories: Iterable[str]) -> Topic:
        """The first topic whose keywords are in the first of ``texts`` that has any, else the first
        topic holding the first known category (best source first), else ``general``."""
        for text in texts:
            norm = normalise(text)
            for t in self.topics:
                if norm and any(k.search(norm) for k in t.keywords):
                    return t
        for category in categories:
            for t in self.topics:
                if category in t.categories:
                    return t
        return self.topic("general")

    def say(self, name: str, **values: object) -> dict[str, str]:
        return {lang: text.format(**values) for lang, text in self.announcements[name].items()}


def _check(raw: _RulesFile) -> None:
    if "general" not in raw.topics:
        raise ValueError("topics: a `general` topic is needed (where a handoff goes without a topic)")
    for reason, name in raw.reason_topics.items():
        if name not in raw.topics:
            raise ValueError(f"reason_topics.{reason}: no topic {name!r}; use one of {', '.join(raw.topics)}")
    for reason, level in raw.levels.items():
        if not 0 <= level <= 99:
            raise ValueError(f"levels.{reason}: a caller level is 0..99 (routing's PriorityRules), got {level}")
    for reason in (*raw.levels, *raw.reason_topics, *raw.served_first):
        if reason not in _TRIGGERS:
            raise ValueError(f"{reason}: only trigger reasons ({', '.join(sorted(_TRIGGERS))}) have levels and queues")
    for name, texts in raw.announcements.model_dump().items():
        for lang, text in texts.items():
            needed = {"position": "{position}", "wait": "{minutes}"}.get(name)
            if needed and needed not in text:
                raise ValueError(f"announcements.{name}.{lang}: the text must contain {needed}")
            try:
                text.format(position=2, minutes=3)
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"announcements.{name}.{lang}: bad placeholder ({exc})") from None


def load_rules(path: Path | None = None) -> HandoffRules:
    """Read, check and compile a rules file; a problem raises ``ValueError`` naming file and entry."""
    source = path or DEFAULT_RULES
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
        raw = _RulesFile.model_validate(data)
        _check(raw)
    except OSError as exc:
        raise ValueError(f"{source}: cannot read the handoff rules ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: not valid YAML ({exc})") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{source}: {problems}") from None
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
    ex, co = raw.explicit_request, raw.complaint
    try:
        return HandoffRules(
            request=_both(ex.request, "explicit_request.request"),
            bare=frozenset(_bare(normalise(w)) for w in [*ex.bare.en, *ex.bare.zh]),
            fillers=_both(ex.fillers, "explicit_request.fillers"),
            negation=_both(ex.negation, "explicit_request.negation"),
            veto=_both(ex.veto, "explicit_request.veto"),
            accept=_both(raw.accept_offer, "accept_offer"),
            complaint_entries=tuple(
                (_compile([e.pattern], f"complaint.entries.{lang}")[0], e.weight)
                for lang, entries in co.entries.items()
                for e in entries
            ),
            intensifiers=_both(co.intensifiers, "complaint.intensifiers"),
            boost=co.boost,
            emergency_patterns=_both(raw.emergency, "emergency"),
            security_patterns=_both(raw.security_threat, "security_threat"),
            misunderstanding_patterns=_both(raw.misunderstanding, "misunderstanding"),
            topics=tuple(
                Topic(
                    name=name,
                    queue=t.queue,
                    skills=dict(t.skills),
                    categories=frozenset(t.categories),
                    keywords=_both(t.keywords, f"topics.{name}.keywords") if t.keywords else (),
                )
                for name, t in raw.topics.items()
            ),
            reason_topics=dict(raw.reason_topics),
            levels=dict(raw.levels),
            served_first=frozenset(raw.served_first),
            announcements={name: dict(texts) for name, texts in raw.announcements.model_dump().items()},
        )
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
