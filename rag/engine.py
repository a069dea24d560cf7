"""The answer engine: one caller question in, one spoken reply out — right, short, in the caller's
language, or an honest "I don't know" with an offer of a person.

Paths, in order:

1. **refuse** — the question tries to change, read or get around the bot's instructions (``safety``).
2. **faq** — it matches a curated FAQ question or similar question: the curated spoken answer.
   Above ``faq_direct`` similarity the answer is spoken with no LLM call. Between ``faq_threshold``
   and ``faq_direct`` a one-token LLM check ("does this curated answer answer exactly what was
   asked?") must agree first: the bundled embedder scores near misses ("the checked allowance for
   premium economy") as high as true paraphrases, so similarity alone cannot be trusted there.
3. **llm** — retrieval, then the LLM is asked first whether the passages answer the question at all
   (one token; its probability is a confidence signal, and its prompt prefix is the answer's, so the
   answer reuses the cached prompt), then streams the answer; every sentence is checked against the
   passages (figures must appear in them) before it is released to be spoken.
4. **abstain** — nothing retrieved, the passages do not answer, the model says it does not know, or
   its first sentence is not supported: "I don't have that information" and an offer of a human.

Each reply carries its citations, its signals and a calibrated confidence (``confidence``).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Literal

from asr_tts.text import split_sentences
from rag.answer import NO_ANSWER, GroundedAnswerer, build_messages
from rag.confidence import ConfidenceModel
from rag.dialogue import DialogueState, EntityGazetteer, is_follow_up, standalone
from rag.faq import FaqMatch, FaqMatcher
from rag.focus import SentenceSelector, focus
from rag.grounding import check
from rag.llm import LLMUnavailable, Message
from rag.retriever import Passage
from rag.safety import REFUSAL, leaks, screen, strip_instructions

Path_ = Literal["faq", "llm", "abstain", "refuse"]

DONT_KNOW = {
    "en": "I'm sorry, I don't have that information. Would you like me to put you through to a colleague?",
    "zh": "抱歉，我没有这方面的信息。需要帮您转接人工客服吗？",
}
UNAVAILABLE = {
    "en": "I'm sorry, I can't look that up right now. Would you like me to put you through to a colleague?",
    "zh": "抱歉，我现在查不到这个信息。需要帮您转接人工客服吗？",
}
# replies spoken word for word (their audio is synthesised before any call: voicebot/warmup.py)
FIXED_REPLIES = [(lang, table[lang]) for table in (DONT_KNOW, UNAVAILABLE, REFUSAL) for lang in ("en", "zh")]
_MODEL_DONT_KNOW = (
    "don't have that information",
    "do not have that information",
    "don't have information",
    "not mentioned",
    "no information",
    "没有这方面的信息",
    "没有相关信息",
    "没有提到",
    "没有提及",
    "无法回答",
    "资料中没有",
)
CHECK = {
    "en": "Do the reference passages contain the answer to the caller's question? Reply with only yes or no.",
    "zh": "参考资料里有没有这个问题的答案？只回答“有”或“没有”。",
}
_YES = {"en": ("yes",), "zh": ("有", "是", "yes")}
_NO = {"en": ("no",), "zh": ("没有", "没", "无", "否", "不", "no")}


VERIFY = {
    "en": 'Curated answer to the question "{title}":\n{answer}\n\nCaller\'s question: {question}\n\n'
    "Does the curated answer fully answer exactly what the caller asked? Reply with only yes or no.",
    "zh": "问题“{title}”的标准答案：\n{answer}\n\n旅客的问题：{question}\n\n"
    "这个标准答案是否完整回答了旅客问的内容？只回答“是”或“否”。",
}
VERIFY_SYSTEM = {"en": "You check whether a curated answer fits a question.", "zh": "你负责核对标准答案是否对题。"}


@dataclass(frozen=True)
class AnswerConfig:
    faq_threshold: float = 0.90  # cosine similarity to a curated question to consider the FAQ entry
    faq_direct: float = 0.985  # similarity at which the curated answer is spoken without any LLM check
    faq_verify: float = 0.65  # the LLM's P(the curated answer answers the question) needed below that
    faq_margin: float = 0.0  # over the best other FAQ entry
    min_dense: float = 0.75  # below this best-passage similarity, do not even ask the LLM
    min_answerable: float = 0.6  # the LLM's P(passages answer the question) needed to generate
    sure_answerable: float = 0.75  # above it the answer prompt has no "say you don't know" way out
    top_k: int = 5
    max_tokens: int = 120
    focus: bool = True  # without a sentence selector: cut lower passages to their on-topic sentences


@dataclass(frozen=True)
class Citation:
    doc_key: str
    title: str
    kind: str
    version: int
    section: str
    score: float


@dataclass
class Reply:
    path: Path_
    question: str
    standalone: str
    language: str
    citations: list[Citation] = field(default_factory=list)
    signals: dict[str, float] = field(default_factory=dict)
    confidence: float | None = None
    text: str = ""
    reason: str = ""  # why this path (for the console and QA)
    marks: dict[str, float] = field(default_factory=dict)  # ms since the question arrived
    contexts: list[str] = field(default_factory=list)  # what the answer was grounded on (evals: ragas)
    _stream: AsyncIterator[str] | None = None

    @property
    def offers_handoff(self) -> bool:
        return self.path in ("abstain", "refuse")

    async def sentences(self) -> AsyncIterator[str]:
        """The reply's sentences, each released once it has passed the checks."""
        if self._stream is None:
            return
        async for sentence in self._stream:
            self.text = f"{self.text} {sentence}".strip() if self.language == "en" else self.text + sentence
            yield sentence


def spoken_sentences(text: str) -> list[str]:
    done, rest = split_sentences(text)
    return [*done, rest.strip()] if rest.strip() else done


async def _fixed(text: str) -> AsyncIterator[str]:
    for s in spoken_sentences(text):
        yield s


def _as_data(passages: list[Passage]) -> tuple[list[Passage], int]:
    """The passages with any sentence addressed to the assistant removed (see ``strip_instructions``)."""
    out, dropped = [], 0
    for p in passages:
        text, n = strip_instructions(p.text)
        dropped += n
        out.append(replace(p, text=text) if n else p)
    return out, dropped


def _no_mark(_stage: str) -> None:
    pass


def _p_yes(logprobs: dict[str, float], language: str) -> float | None:
    yes = sum(math.exp(lp) for t, lp in logprobs.items() if t.strip().lower().startswith(_YES[language]))
    no = sum(math.exp(lp) for t, lp in logprobs.items() if t.strip().lower().startswith(_NO[language]))
    return yes / (yes + no) if yes + no > 0 else None


class AnswerEngine:
    def __init__(
        self,
        *,
        answerer: GroundedAnswerer,
        faq: FaqMatcher,
        confidence: ConfidenceModel | None = None,
        gazetteer: EntityGazetteer | None = None,
        config: AnswerConfig | None = None,
        selector: SentenceSelector | None = None,
    ) -> None:
        self._answerer = answerer
        self._selector = selector
        self._faq = faq
        self._confidence = confidence
        # LLM checks of FAQ entries, by (entry, version, language, question): shared, see _faq_p_yes
        self._faq_checks: OrderedDict[
            tuple[str, int, str, str], tuple[asyncio.AbstractEventLoop, asyncio.Future[float | None]]
        ] = OrderedDict()
        self.gazetteer = gazetteer
        self.config = config or AnswerConfig()

    @property
    def answerer(self) -> GroundedAnswerer:
        return self._answerer

    def new_dialogue(self, language: str = "en") -> DialogueState:
        return DialogueState(language=language)

    def _finish(self, reply: Reply) -> None:
        if self._confidence is not None:
            reply.confidence = round(self._confidence.probability(reply.signals), 4)

    async def respond(
        self,
        question: str,
        language: str,
        *,
        state: DialogueState | None = None,
        asr_confidence: float = 1.0,
        passages: list[Passage] | None = None,
    ) -> Reply:
        """Decide the path and prepare the reply; iterate ``reply.sentences()`` to get the words.

        ``passages`` retrieved for ``question`` already (e.g. while the caller was speaking) are
        reused when the question needs no rewriting."""
        t0 = time.monotonic()
        state = state if state is not None else self.new_dialogue(language)
        state.language = language
        query = standalone(question, state, self.gazetteer)
        state.add("caller", question, self.gazetteer)
        state.last_question = query
        reply = Reply(path="llm", question=question, standalone=query, language=language)
        reply.signals["asr_confidence"] = asr_confidence

        def mark(stage: str) -> None:
            reply.marks.setdefault(stage, round((time.monotonic() - t0) * 1000, 1))

        screening = screen(question)
        if screening.refused:
            reply.path, reply.reason = "refuse", f"refused: {screening.category}"
            reply.signals["path_abstain"] = 1.0
            return self._fixed_reply(reply, REFUSAL[language], state)

        passages, match = await self._faq_path(query, question, language, passages, reply, mark)
        if match is not None:
            mark("faq_verified")
            reply.path, reply.reason = "faq", f"faq {match.doc_key} ({match.score:.3f})"
            reply.signals["path_faq"] = 1.0
            reply.citations = [Citation(match.doc_key, match.title, "faq", match.version, "", match.score)]
            reply.contexts = [f"{match.title}\n{match.answer}"]
            return self._fixed_reply(reply, match.speech, state)

        reply.citations = [
            Citation(p.doc_key, p.title, p.kind, p.version, p.section, round(p.score, 4)) for p in passages
        ]
        self._retrieval_signals(reply, passages)
        if not passages or reply.signals["dense_top"] < self.config.min_dense:
            reply.path, reply.reason = "abstain", "nothing relevant retrieved"
            reply.signals["path_abstain"] = 1.0
            return self._fixed_reply(reply, DONT_KNOW[language], state)

        passages, dropped = _as_data(passages)
        if dropped:
            reply.reason = f"{dropped} instruction-like sentence(s) removed from the passages; "
        # earlier turns only for a follow-up the rewrite could not make standalone: otherwise they
        # cost prompt time and show the model other things than the one asked about
        unresolved = query == question and len(state.turns) > 1 and is_follow_up(question, language)
        history = [(t.role, t.text) for t in state.history()[:-1]] if unresolved else None
        shown, best = await self._shown(passages, query, language)
        if best is not None:
            reply.signals["sentence_top"] = best
            mark("sentences_selected")
        check_messages = build_messages(query, shown, language, history=history, instruction=CHECK[language])
        try:
            p_yes = _p_yes(await self._answerer.llm.first_token_logprobs(check_messages), language)
        except LLMUnavailable as exc:
            reply.path, reply.reason = "abstain", str(exc)
            reply.signals["path_abstain"] = 1.0
            return self._fixed_reply(reply, UNAVAILABLE[language], state)
        mark("answerable_check")
        reply.signals["p_answerable"] = p_yes if p_yes is not None else 0.5
        if p_yes is not None and p_yes < self.config.min_answerable:
            reply.path, reply.reason = "abstain", f"passages do not answer (p={p_yes:.2f})"
            reply.signals["path_abstain"] = 1.0
            return self._fixed_reply(reply, DONT_KNOW[language], state)

        reply.signals["path_llm"] = 1.0
        reply.reason += f"answered from {len(passages)} passages"
        reply.signals["prompt_chars"] = float(sum(len(p.text) for p in shown))
        reply.contexts = [p.text for p in shown]
        escape = p_yes is None or p_yes < self.config.sure_answerable
        messages = build_messages(query, shown, language, history=history, escape=escape)
        reply._stream = self._checked_stream(reply, messages, passages, state, mark)
        return reply

    async def prefill(
        self,
        partial: str,
        language: str,
        passages: list[Passage],
        *,
        state: DialogueState | None = None,
        unless: tuple[str, ...] | None = None,
    ) -> tuple[str, ...] | None:
        """While the caller is still speaking: send the answerability check ``respond`` would send
        for ``partial`` (a partial transcript) and its ``passages``, so that llama.cpp has the
        prompt's prefix (system prompt and selected sentences) in its cache when the final question
        comes and reads only the question's own tokens then. Nothing is remembered in ``state``.
        Returns the key of the prefix (language and shown passage texts; nothing is sent when it
        equals ``unless``, the key sent last), or None when there is nothing to send (a refusal, a
        follow-up needing earlier turns, nothing relevant retrieved)."""
        state = state if state is not None else self.new_dialogue(language)
        query = standalone(partial, state, self.gazetteer)
        if screen(partial).refused or not passages:
            return None
        if query == partial and state.turns and is_follow_up(partial, language):
            return None  # ``respond`` would show earlier turns: a different prompt
        dense = max((p.dense_score for p in passages if p.dense_score is not None), default=0.0)
        if dense < self.config.min_dense:
            return None
        passages, _ = _as_data(passages)
        shown, _ = await self._shown(passages, query, language)
        key = (language, *(p.text for p in shown))
        if key == unless:
            return key
        try:
            await self._answerer.llm.first_token_logprobs(
                build_messages(query, shown, language, instruction=CHECK[language])
            )
        except LLMUnavailable:
            return None
        return key

    async def _shown(self, passages: list[Passage], query: str, language: str) -> tuple[list[Passage], float | None]:
        """What the LLM is shown of the passages, and the best sentence's similarity (selector only)."""
        if self._selector is not None:
            selection = await asyncio.to_thread(self._selector.select, passages, query)
            return selection.passages, selection.top
        return (focus(passages, query, language) if self.config.focus else passages), None

    async def _faq_path(
        self,
        query: str,
        question: str,
        language: str,
        passages: list[Passage] | None,
        reply: Reply,
        mark: Callable[[str], None],
    ) -> tuple[list[Passage], FaqMatch | None]:
        """The passages for ``query`` and the FAQ entry that answers it, if one does."""
        match = await asyncio.to_thread(self._faq.match, query, language)
        mark("faq_done")
        if passages is None or query != question:
            passages = await asyncio.to_thread(self._answerer.retrieve, query, language)
        mark("retrieval_done")
        if match is None:
            return passages, None
        reply.signals["faq_score"], reply.signals["faq_margin"] = match.score, match.margin
        # the entry must also be the best passage of the hybrid retrieval (its answer text and
        # keywords agree), unless the question is practically one of its curated questions
        top = passages[0] if passages else None
        agrees = top is not None and top.kind == "faq" and top.doc_key == match.doc_key
        reply.signals["faq_top1"] = float(agrees)
        if (agrees or match.score >= self.config.faq_direct) and await self._faq_accepts(match, query, language, reply):
            return passages, match
        return passages, None

    async def warm_faq(
        self, question: str, language: str, *, state: DialogueState, passages: list[Passage] | None = None
    ) -> str | None:
        """What ``respond`` would speak for ``question`` if it takes the FAQ path, else None —
        without touching the call's state. Called on the speculative final while the caller is
        still silent (before the turn has ended): the LLM check it needs is then already running or
        done when ``respond`` asks for it (checks are shared, see ``_faq_p_yes``)."""
        if screen(question).refused:
            return None
        query = standalone(question, state, self.gazetteer)
        _, match = await self._faq_path(
            query,
            question,
            language,
            passages,
            Reply(path="faq", question=question, standalone=query, language=language),
            _no_mark,
        )
        return match.speech if match is not None else None

    async def _faq_accepts(self, match: FaqMatch, question: str, language: str, reply: Reply) -> bool:
        cfg = self.config
        if match.score < cfg.faq_threshold or match.margin < cfg.faq_margin:
            return False
        if match.score >= cfg.faq_direct:
            reply.signals["faq_verified"] = 1.0
            return True
        p_yes = await self._faq_p_yes(match, question, language)
        reply.signals["faq_verified"] = p_yes if p_yes is not None else 0.0
        return p_yes is not None and p_yes >= cfg.faq_verify

    async def _faq_p_yes(self, match: FaqMatch, question: str, language: str) -> float | None:
        """The LLM's P(the curated answer answers ``question``), asked once per entry version and
        question: a check started on the speculative final is awaited, not repeated, at turn end."""
        loop = asyncio.get_running_loop()
        key = (match.doc_key, match.version, language, question)
        held = self._faq_checks.get(key)
        if held is None or held[0] is not loop or (held[1].done() and held[1].result() is None):
            held = (loop, asyncio.ensure_future(self._ask_faq(match, question, language)))
            self._faq_checks[key] = held
            while len(self._faq_checks) > 256:
                self._faq_checks.popitem(last=False)
        self._faq_checks.move_to_end(key)
        return await asyncio.shield(held[1])  # a cancelled turn does not cancel a shared check

    async def _ask_faq(self, match: FaqMatch, question: str, language: str) -> float | None:
        prompt = VERIFY[language].format(title=match.title, answer=match.answer, question=question)
        messages: list[Message] = [
            {"role": "system", "content": VERIFY_SYSTEM[language]},
            {"role": "user", "content": prompt},
        ]
        try:
            return _p_yes(await self._answerer.llm.first_token_logprobs(messages), language)
        except LLMUnavailable:
            return None

    @staticmethod
    def _retrieval_signals(reply: Reply, passages: list[Passage]) -> None:
        dense = sorted((p.dense_score for p in passages if p.dense_score is not None), reverse=True)
        reply.signals["dense_top"] = dense[0] if dense else 0.0
        reply.signals["dense_margin"] = dense[0] - dense[1] if len(dense) > 1 else 0.0
        top = passages[0] if passages else None
        reply.signals["keyword_top3"] = float(bool(top and top.keyword_rank is not None and top.keyword_rank <= 3))

    def _fixed_reply(self, reply: Reply, text: str, state: DialogueState) -> Reply:
        self._finish(reply)
        state.add("bot", text, self.gazetteer)
        reply._stream = _fixed(text)
        return reply

    async def _checked_stream(
        self,
        reply: Reply,
        messages: list[Message],
        passages: list[Passage],
        state: DialogueState,
        mark: Callable[[str], None],
    ) -> AsyncIterator[str]:
        source = "\n".join(f"{p.title}\n{p.text}" for p in passages)
        lang = reply.language
        said: list[str] = []
        pending = ""
        supports: list[float] = []
        numbers_ok = True

        def release(sentence: str) -> bool:
            nonlocal numbers_ok
            low = sentence.lower()
            if any(m in low for m in _MODEL_DONT_KNOW):
                return False
            result = check(sentence, source, lang)
            supports.append(result.support)
            if not result.ok or leaks(sentence, messages[0]["content"], allowed=(NO_ANSWER[lang], DONT_KNOW[lang])):
                numbers_ok = numbers_ok and result.ok
                return False
            return True

        stopped = failed = False
        try:
            async for piece in self._answerer.llm.stream(messages, max_tokens=self.config.max_tokens):
                mark("llm_first_token")
                pending += piece
                done, pending = split_sentences(pending)
                for sentence in done:
                    if not release(sentence):
                        stopped = True
                        break
                    said.append(sentence)
                    mark("first_sentence")
                    yield sentence
                if stopped:
                    break
        except LLMUnavailable as exc:
            stopped = failed = True
            reply.reason = str(exc)
        if not stopped and pending.strip():
            if release(pending.strip()):
                said.append(pending.strip())
                yield pending.strip()
            else:
                stopped = True
        reply.signals["support"] = min(supports) if supports else 1.0
        reply.signals["numbers_ok"] = float(numbers_ok)
        if not said:
            if not failed:
                reply.reason = "the model's answer was not supported or it did not know"
            reply.path = "abstain"
            reply.signals["path_llm"], reply.signals["path_abstain"] = 0.0, 1.0
            text = UNAVAILABLE[lang] if failed else DONT_KNOW[lang]
            for s in spoken_sentences(text):
                yield s
            said = [text]
        elif stopped:
            reply.reason += "; stopped at an unsupported sentence"
        self._finish(reply)
        state.add("bot", " ".join(said), self.gazetteer)
