"""The handoff policy: after each caller turn (and the bot's reply), hand the call to a person or not,
why, to which queue, with which skills and priority.

Pure and deterministic: a :class:`CallerTurn` and the call's :class:`CallHistory` in, a
:class:`HandoffDecision` and the next history out (no I/O, no clock, no model). The lexicons, topics,
levels and announcement texts are in ``handoff_rules.yaml`` (``voicebot/handoff_rules.py``); the
thresholds in :class:`HandoffConfig`. What a handoff becomes in the ACD is routing's business:
``RoutingEngine.enqueue(call_id=..., queue_id=decision.queue, red_list=decision.red_list,
caller_level=decision.caller_level, language=decision.language, caller_number=...)``.

Reasons (:class:`ReasonCode`), in order of precedence — a decision lists every reason that holds,
strongest first; the first reason with a queue of its own picks the queue:

``blacklisted``         the caller's number is on routing's blacklist: routing refuses any queue for it
                        (``Refused``, play a message, hang up), so the decision is ``refuse``
``emergency``           medical, fire, lost child, "救命", "有人晕倒" → emergency queue, served first, level 99
``security_threat``     bomb, weapon, threat, "炸弹", "威胁" → security queue, served first, level 99
``explicit_request``    "转人工", "real person", DTMF 0, or "yes" to the bot's offer of a colleague
``complaint``           complaint intent or strong negative sentiment (intensity ≥ threshold) → complaints
``clarification_loop``  "that's not what I asked", "你没听懂", or the same question again
``repeated_failure``    ``max_failures`` abstentions / replies under ``failure_confidence`` in the call
``low_confidence``      this reply's calibrated confidence < ``min_confidence``; an abstention always
``vip_caller``          red-list number: served first (routing's red-list rule); a modifier, never a
                        trigger on its own
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from rag.engine import Reply
from routing.callers import CallerList
from routing.models import PriorityRules
from routing.queries import RoutingError
from voicebot.handoff_rules import (
    PRECEDENCE,
    HandoffRules,
    ReasonCode,
    content_size,
    load_rules,
    similarity,
)

__all__ = [
    "CALL_CONFIG",
    "Action",
    "CallHandoff",
    "CallHistory",
    "CallerTurn",
    "HandoffConfig",
    "HandoffDecision",
    "HandoffPolicy",
    "ReasonCode",
    "caller_status",
]

R = ReasonCode
_URGENT = (R.EMERGENCY, R.SECURITY_THREAT)
_LABELS: dict[ReasonCode, tuple[str, str]] = {
    R.BLACKLISTED: (
        "blacklisted number, routing refuses the call (message, then hang up)",
        "黑名单号码，路由拒绝接入（提示后挂机）",
    ),
    R.EMERGENCY: ("emergency ({})", "紧急情况（{}）"),
    R.SECURITY_THREAT: ("security threat ({})", "安全威胁（{}）"),
    R.EXPLICIT_REQUEST: ("the caller asked for a person ({})", "来电者要求转人工（{}）"),
    R.COMPLAINT: ("complaint or strong displeasure ({})", "投诉或强烈不满（{}）"),
    R.CLARIFICATION_LOOP: ("the caller is going round in circles ({})", "来电者反复澄清同一问题（{}）"),
    R.REPEATED_FAILURE: ("the bot failed repeatedly ({} failed replies)", "机器人多次未能解答（{}次）"),
    R.LOW_CONFIDENCE: ("low answer confidence ({})", "回答置信度低（{}）"),
    R.VIP_CALLER: ("red-list (VIP) caller", "红名单（VIP）来电"),
}


@dataclass(frozen=True)
class HandoffConfig:
    """Thresholds of the policy (the lexicons are in the rules file)."""

    min_confidence: float | None = 0.3  # below: hand off now; None: off (failures still count)
    failure_confidence: float = 0.5  # an answered reply below this counts as a failure
    max_failures: int = 2  # failures (abstentions included) in a call that hand it off
    similar_question: float = 0.7  # similarity at which a question repeats the previous one
    loop_repeats: int = 1  # repeats in a row that make a clarification loop
    min_question_terms: int = 2  # content terms; shorter utterances are never compared for repeats
    complaint_threshold: float = 0.7  # complaint intensity (0..1) that hands off to complaints
    dtmf_digit: str = "0"
    # an abstention hands off at once (True), or only counts as a failure (False): the bot's "I don't
    # know" already offers a colleague, a "yes" takes it, and the next failure hands off
    abstain_hands_off: bool = True

    def __post_init__(self) -> None:
        unit = {"failure_confidence": self.failure_confidence, "similar_question": self.similar_question}
        unit["complaint_threshold"] = self.complaint_threshold
        if self.min_confidence is not None:
            unit["min_confidence"] = self.min_confidence
        for name, value in unit.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"HandoffConfig.{name} must be in [0, 1], got {value!r}")
        for name, count in (("max_failures", self.max_failures), ("loop_repeats", self.loop_repeats)):
            if count < 1:
                raise ValueError(f"HandoffConfig.{name} must be ≥ 1, got {count!r}")


# the policy of live calls (skycall/runtime.py), and so of the handoff eval: an "I don't know"
# offers a colleague first; a "yes" or the next failure hands off
CALL_CONFIG = HandoffConfig(abstain_hands_off=False)


class Action(StrEnum):
    CONTINUE = "continue"  # the bot carries on
    HANDOFF = "handoff"  # enqueue in ``queue`` and announce
    REFUSE = "refuse"  # blacklisted: play the refusal, hang up (routing's rule for the number)


@dataclass(frozen=True)
class CallerTurn:
    """What the policy looks at for one turn. ``categories``: knowledge-base categories of the
    reply's passages, best first (``[p.category for p in answer.passages]``). ``reply`` is ``None``
    for a key press, or for a turn judged before (or without) an answer."""

    text: str
    language: str
    reply: Reply | None = None
    categories: tuple[str, ...] = ()
    dtmf: str | None = None


@dataclass(frozen=True)
class CallHistory:
    """What the policy remembers of a call between turns."""

    turns: int = 0
    failures: int = 0  # abstentions and low-confidence replies so far
    repeats: int = 0  # consecutive repeats of the same question
    last_question: str = ""  # the caller's last substantive question
    offered: bool = False  # the last reply offered a colleague


@dataclass(frozen=True)
class HandoffDecision:
    handoff: bool
    action: Action
    reasons: tuple[ReasonCode, ...]  # precedence order
    evidence: Mapping[str, str]  # reason → matched phrase or figures (never the whole transcript)
    queue: str | None
    topic: str | None
    skills: Mapping[str, int]  # what the queue's agents need (QueueSpec.required_skills)
    language: str  # the call's language: routing matches it against the agents' languages
    caller_level: int  # 0..99, for enqueue
    red_list: bool  # routing's "served first" flag, for enqueue
    vip: bool  # the number is on the red list
    priority: int  # routing's priority for this call under default PriorityRules
    confidence: float | None  # the reply's calibrated confidence, as judged
    path: str | None  # the reply's path (faq, llm, abstain, refuse)
    turn: int  # 1-based turn of the call
    explanation: Mapping[str, str] = field(default_factory=dict)  # en, zh

    @property
    def primary(self) -> ReasonCode | None:
        return self.reasons[0] if self.reasons else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["action"] = self.action.value
        data["reasons"] = [r.value for r in self.reasons]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HandoffDecision:
        values = dict(data)
        values["action"] = Action(values["action"])
        values["reasons"] = tuple(ReasonCode(r) for r in values["reasons"])
        return cls(**values)


class CallerListSource(Protocol):
    """Routing's caller lists (``RoutingEngine.caller_list``)."""

    def caller_list(self, *, number: str) -> CallerList | None: ...


def caller_status(source: CallerListSource, number: str | None) -> CallerList | None:
    """The list the caller's number is on; a withheld or malformed number is on none."""
    if not number:
        return None
    try:
        return source.caller_list(number=number)
    except RoutingError as exc:
        if exc.code == "bad_caller_number":
            return None
        raise


class HandoffPolicy:
    def __init__(
        self,
        *,
        config: HandoffConfig | None = None,
        rules: HandoffRules | None = None,
        similar: Callable[[str, str], float] = similarity,
    ) -> None:
        """``similar``: how alike two caller questions are (0..1); lexical by default, an
        embedding cosine can be passed instead."""
        self.config = config or HandoffConfig()
        self.rules = rules or load_rules()
        self._similar = similar

    def start_call(self, *, caller: CallerList | None = None) -> CallHandoff:
        return CallHandoff(self, caller=caller)

    def decide(
        self, turn: CallerTurn, *, history: CallHistory | None = None, caller: CallerList | None = None
    ) -> tuple[HandoffDecision, CallHistory]:
        """The decision for ``turn`` and the call's history after it."""
        cfg, rules = self.config, self.rules
        history = history or CallHistory()
        found: dict[ReasonCode, str] = {}
        text = turn.text
        if hit := rules.emergency(text):
            found[R.EMERGENCY] = hit
        if hit := rules.security_threat(text):
            found[R.SECURITY_THREAT] = hit
        if turn.dtmf == cfg.dtmf_digit:
            found[R.EXPLICIT_REQUEST] = f"DTMF {turn.dtmf}"
        elif hit := rules.explicit_request(text):
            found[R.EXPLICIT_REQUEST] = hit
        elif history.offered and rules.accepts_offer(text):
            found[R.EXPLICIT_REQUEST] = f"offer accepted: {text.strip()}"
        intensity, phrases = rules.complaint(text)
        if intensity >= cfg.complaint_threshold:
            found[R.COMPLAINT] = f"{intensity:.2f}: {', '.join(phrases)}"

        substantive = content_size(text) >= cfg.min_question_terms
        repeats = 0
        if substantive and content_size(history.last_question) >= cfg.min_question_terms:
            score = self._similar(text, history.last_question)
            if score >= cfg.similar_question:
                repeats = history.repeats + 1
                if repeats >= cfg.loop_repeats:
                    found[R.CLARIFICATION_LOOP] = f"{score:.2f} ≥ {cfg.similar_question:.2f}"
        if hit := rules.misunderstanding(text):
            found[R.CLARIFICATION_LOOP] = hit

        reply = turn.reply
        low, failed = self._judge(reply)
        failures = history.failures + failed
        if failed and failures >= cfg.max_failures:
            found[R.REPEATED_FAILURE] = str(failures)
        if low and cfg.min_confidence is not None:
            found[R.LOW_CONFIDENCE] = low

        decision = self._decision(turn, found, caller, history)
        after = CallHistory(
            turns=history.turns + 1,
            failures=failures,
            repeats=repeats,
            last_question=text.strip() if substantive else history.last_question,
            offered=reply is not None and reply.offers_handoff,
        )
        return decision, after

    def _judge(self, reply: Reply | None) -> tuple[str, bool]:
        """(why the reply counts as low confidence, or ""; whether it is a failure). An abstention is
        always both: the caller got no answer, whatever the model's confidence in abstaining."""
        cfg = self.config
        if reply is None or reply.path == "refuse":
            return "", False
        if reply.path == "abstain":
            return ("abstain" if cfg.abstain_hands_off else ""), True
        c = reply.confidence
        if c is None:
            return "", False
        low = f"{c:.2f} < {cfg.min_confidence:.2f}" if cfg.min_confidence is not None and c < cfg.min_confidence else ""
        return low, c < cfg.failure_confidence

    def _decision(
        self, turn: CallerTurn, found: dict[ReasonCode, str], caller: CallerList | None, history: CallHistory
    ) -> HandoffDecision:
        rules = self.rules
        triggers = [r for r in PRECEDENCE if r in found]
        vip = caller is CallerList.RED_LIST
        action = Action.HANDOFF if triggers else Action.CONTINUE
        if triggers and vip:
            found[R.VIP_CALLER] = "red list"
        if triggers and caller is CallerList.BLACKLIST:
            found[R.BLACKLISTED] = "blacklist"
            action = Action.REFUSE
        reasons = tuple(r for r in PRECEDENCE if r in found)
        reply = turn.reply
        decision = HandoffDecision(
            handoff=action is Action.HANDOFF,
            action=action,
            reasons=reasons,
            evidence={r.value: found[r] for r in reasons},
            queue=None,
            topic=None,
            skills={},
            language=turn.language,
            caller_level=0,
            red_list=False,
            vip=vip,
            priority=0,
            confidence=reply.confidence if reply else None,
            path=reply.path if reply else None,
            turn=history.turns + 1,
        )
        if action is Action.HANDOFF:
            own = next((rules.reason_topics[r] for r in triggers if r in rules.reason_topics), None)
            # this turn's words first, then the question as made standalone, then the previous question
            texts = [turn.text, reply.standalone if reply else "", history.last_question]
            topic = rules.topic(own) if own else rules.topic_for(texts, turn.categories)
            level = max(rules.levels.get(r, 0) for r in triggers)
            red = vip or any(r in rules.served_first for r in triggers)
            decision = replace(
                decision,
                queue=topic.queue,
                topic=topic.name,
                skills=dict(topic.skills),
                caller_level=level,
                red_list=red,
                priority=PriorityRules().priority(red_list=red, caller_level=level),
            )
        return replace(decision, explanation=_explain(decision))

    def announcement(
        self, decision: HandoffDecision, *, position: int | None = None, wait_s: float | None = None
    ) -> dict[str, str]:
        """What the bot says, in zh and en: the transfer with the caller's place in line and the
        expected wait (``WaitEstimate.position`` / ``.seconds``; ``None`` leaves a part out), or the
        refusal. An urgent handoff says neither place nor wait."""
        say = self.rules.say
        urgent = any(r in decision.reasons for r in _URGENT)
        if decision.action is Action.REFUSE:
            return say("refused_urgent" if urgent else "refused")
        if not decision.handoff:
            raise ValueError("the decision is not a handoff: there is nothing to announce")
        if urgent:
            return say("urgent")
        parts = [say("transfer")]
        if position is not None and position >= 1:
            parts.append(say("next") if position == 1 else say("position", position=position))
        if wait_s is not None:
            minutes = math.ceil(wait_s / 60)
            parts.append(
                say("wait_short") if wait_s < 60 else say("wait_one") if minutes == 1 else say("wait", minutes=minutes)
            )
        return {lang: (" " if lang == "en" else "").join(p[lang] for p in parts) for lang in parts[0]}


class CallHandoff:
    """The policy for one call: keeps the call's history and its decisions (one per turn)."""

    def __init__(self, policy: HandoffPolicy, *, caller: CallerList | None = None) -> None:
        self.policy = policy
        self.caller = caller
        self.history = CallHistory()
        self.decisions: list[HandoffDecision] = []

    def before_answer(self, turn: CallerTurn) -> HandoffDecision:
        """The turn judged on the caller's words alone, before the bot answers: a handoff is
        remembered; a "carry on" is not (the turn is judged again, with the reply, by ``after_turn``)."""
        decision, after = self.policy.decide(turn, history=self.history, caller=self.caller)
        if decision.action is not Action.CONTINUE:
            self.history = after
            self.decisions.append(decision)
        return decision

    def after_turn(self, turn: CallerTurn) -> HandoffDecision:
        decision, self.history = self.policy.decide(turn, history=self.history, caller=self.caller)
        self.decisions.append(decision)
        return decision

    def announcement(self, decision: HandoffDecision, *, position: int | None, wait_s: float | None) -> dict[str, str]:
        return self.policy.announcement(decision, position=position, wait_s=wait_s)


def _explain(d: HandoffDecision) -> dict[str, str]:
    labels_en = [_LABELS[r][0].format(d.evidence.get(r.value, "")) for r in d.reasons]
    labels_zh = [_LABELS[r][1].format(d.evidence.get(r.value, "")) for r in d.reasons]
    if d.action is Action.REFUSE:
        return {"en": "Refuse: " + "; ".join(labels_en) + ".", "zh": "拒绝转接：" + "；".join(labels_zh) + "。"}
    if d.action is Action.HANDOFF:
        first = " (served first)" if d.red_list else ""
        head_en = f"Hand off to queue {d.queue}, level {d.caller_level}{first}: "
        head_zh = f"转人工，队列 {d.queue}，级别{d.caller_level}{'，优先接听' if d.red_list else ''}："
        return {"en": head_en + "; ".join(labels_en) + ".", "zh": head_zh + "；".join(labels_zh) + "。"}
    if d.path is None:
        return {"en": "No handoff: nothing in the turn calls for a person.", "zh": "不转人工：本轮没有需要人工的情况。"}
    c = "no calibrated confidence" if d.confidence is None else f"confidence {d.confidence:.2f}"
    zc = "无校准置信度" if d.confidence is None else f"置信度{d.confidence:.2f}"
    return {"en": f"No handoff: the reply took the {d.path} path, {c}.", "zh": f"不转人工：回复路径为{d.path}，{zc}。"}
