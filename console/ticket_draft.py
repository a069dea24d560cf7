"""The drafted ticket of a handed-off call: type, title, description and custom field values, valid
for the ticket templates, for the agent to check, complete and save.

Rules first (``console/ticket_rules.py``): the handoff reasons and keyword hints pick the type when
they can; phone numbers, flight numbers, "yesterday", "on the plane" come from regular expressions
and lexicons. Then the LLM, in two short greedy calls, one task each: the type, as one digit read
from the first token's probabilities (only when no rule decided it), and the remaining fields as
one JSON object in the caller's language. The LLM is never trusted: a value must be a field of the
template, in the caller's language, found in the caller's words (free text), a listed option
(selects), a plausible past date; then the template's own validation runs. What fails is dropped,
and a required field nobody could fill stays empty for the agent (``missing``) — nothing is
invented. When the LLM is down the rules' draft is returned with ``llm_unavailable`` set.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from console.llm_json import clip_lines, complete, in_language, parse_object, support
from console.ticket_rules import RuleFinding, mentions_time, rule_fields, rule_type
from console.ticket_templates import FieldErrors, FieldSpec, TicketCatalog, TicketTemplate, clean_fields, clean_phone
from rag.llm import ChatLLM, LLMUnavailable, Message

__all__ = ["Conversation", "Line", "TicketDraft", "TicketDrafter"]

TYPES = ("consultation", "complaint", "lost_property", "suggestion", "praise", "report")
_CLASSIFY = {
    "zh": "旅客说：\n{said}\n\n工单类型：\n1 咨询\n2 投诉\n3 失物\n4 建议\n5 表扬\n6 举报（紧急情况、危险、违规）\n"
    "这通电话属于哪一类？只回答数字。",
    "en": "The caller said:\n{said}\n\nTicket types:\n1 consultation (a question)\n2 complaint\n3 lost property\n"
    "4 suggestion\n5 praise\n6 report (emergency, danger, wrongdoing)\n"
    "Which type is this call? Reply with the number only.",
}
_SYSTEM = {
    "zh": "你根据旅客在电话里说的话填写机场工单。只输出一个JSON对象。",
    "en": "You fill in an airport ticket form from what a caller said on the phone. Reply with one JSON object only.",
}
_FILL = {
    "zh": '今天是{today}。\n旅客说：\n{said}\n\n填写下列字段（旅客没说的填""，不要编造），用中文：\n{keys}\nJSON：',
    "en": 'Today is {today}.\nThe caller said:\n{said}\n\nFill these keys (use "" when the caller did not say it; '
    "never guess), in English:\n{keys}\nJSON:",
}
_TITLE = {"zh": "title: 工单标题，一句话，20字以内", "en": "title: a short ticket title, under 10 words"}
_KIND_HINT = {
    "multiline": {"zh": "，一两句话", "en": ", one or two sentences"},
    "number": {"zh": "，数字", "en": ", a number"},
    "date": {"zh": "，YYYY-MM-DD", "en": ", YYYY-MM-DD"},
    "datetime": {"zh": "，YYYY-MM-DDTHH:MM", "en": ", YYYY-MM-DDTHH:MM"},
}
_SUPPORT = {"text": 0.6, "multiline": 0.5, "title": 0.5}  # share of a value's words the caller said
_BUDGET = {"zh": 360, "en": 900}  # characters of the caller's words shown to the LLM
_RULES_ONLY = ("flight_no",)  # keys only a regular expression fills (as phone, checkbox and link kinds)


@dataclass(frozen=True)
class Line:
    role: str  # caller | bot | agent
    text: str


@dataclass(frozen=True)
class Conversation:
    lines: tuple[Line, ...]
    language: str  # zh | en: the caller's language, the ticket's language
    reasons: tuple[str, ...] = ()  # handoff reason codes, strongest first
    caller_number: str | None = None  # from the telephony channel; personal data
    call_id: str | None = None

    def said(self, role: str) -> list[str]:
        return [line.text.strip() for line in self.lines if line.role == role and line.text.strip()]


@dataclass(frozen=True)
class TicketDraft:
    type: str
    type_source: str  # reason | keywords | llm | default
    title: str
    description: str
    fields: dict[str, Any]
    language: str
    caller_phone: str | None
    call_id: str | None
    sources: dict[str, str]  # field key → rules | llm | channel | transcript
    missing: list[str]  # required fields left empty for the agent
    dropped: list[str]  # fields whose LLM value was refused
    llm_used: bool
    llm_unavailable: bool  # the LLM was asked and failed (or there is none): this is the rules' draft
    sla_working_days: int
    sla_deadline: str  # ISO, local: the deadline if the ticket were submitted now
    elapsed_ms: float
    stage_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _option(spec: FieldSpec, value: str) -> str | None:
    wanted = value.strip().lower()
    for o in spec.options:
        if wanted in (o.value.lower(), o.zh.lower(), o.en.lower()):
            return o.value
    return None


class TicketDrafter:
    def __init__(
        self,
        *,
        catalog: TicketCatalog,
        llm: ChatLLM | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        timeout_s: float = 120.0,
        max_tokens: int = 160,
    ) -> None:
        """``timeout_s`` bounds each LLM call; the bundled model on 2 cores reads ~80 and writes
        ~16 tokens a second, so a field extraction takes 5–15 s."""
        self.catalog = catalog
        self.llm = llm
        self.clock = clock
        self.timeout_s = timeout_s
        self.max_tokens = max_tokens
        self.calendar = catalog.working_calendar()

    # --- public ----------------------------------------------------------------------------------
    def rules(self, conv: Conversation, *, unavailable: bool = False) -> TicketDraft:
        """The draft from rules alone (no LLM): immediate, and what the agent gets when the LLM is
        down (``unavailable``: it was asked and failed, or there is none)."""
        t0 = time.monotonic()
        ticket_type, why = rule_type(conv.reasons, "\n".join(conv.said("caller"))) or ("consultation", "default")
        fields, sources = self._rule_values(conv, ticket_type, reliable_only=False)
        return self._finish(conv, ticket_type, why, fields, sources, t0, unavailable=unavailable)

    async def draft(self, conv: Conversation) -> TicketDraft:
        """Rules, then the LLM for what rules could not decide; the rules' draft if the LLM fails."""
        t0 = time.monotonic()
        if self.llm is None:
            return self.rules(conv, unavailable=True)
        stages: dict[str, float] = {}
        caller = "\n".join(conv.said("caller"))
        decided = rule_type(conv.reasons, caller)
        try:
            if decided is None:
                started = time.monotonic()
                picked = await self._classify(self.llm, conv)
                stages["classify"] = round((time.monotonic() - started) * 1000, 1)
                decided = (picked, "llm") if picked else ("consultation", "default")
            ticket_type, why = decided
            template = self.catalog.template(ticket_type)
            fields, sources = self._rule_values(conv, ticket_type, reliable_only=True)
            started = time.monotonic()
            proposed = await self._extract(self.llm, conv, template, skip=set(fields))
            stages["fields"] = round((time.monotonic() - started) * 1000, 1)
        except LLMUnavailable:
            draft = self.rules(conv, unavailable=True)
            return replace(draft, elapsed_ms=round((time.monotonic() - t0) * 1000, 1), stage_ms=stages)
        dropped = []
        title = proposed.pop("title", None)
        for key, value in proposed.items():
            spec = template.field(key)
            if spec is None or key in fields or value in (None, "", [], {}):
                continue  # not a field, decided by a rule, or left empty as asked
            checked = self._check(template, spec, value, caller, conv.language)
            if checked is None:
                dropped.append(key)
            else:
                fields[key], sources[key] = checked, "llm"
        soft, soft_sources = self._rule_values(conv, ticket_type, reliable_only=False)
        for key, value in soft.items():
            if key not in fields:
                fields[key], sources[key] = value, soft_sources[key]
        good = isinstance(title, str) and self._good_title(title, caller, conv.language)
        if good:
            sources["title"] = "llm"
        return self._finish(
            conv,
            ticket_type,
            why,
            fields,
            sources,
            t0,
            title=str(title).strip() if good else None,
            dropped=dropped,
            stages=stages,
            llm_used=True,
        )

    # --- rules -----------------------------------------------------------------------------------
    def _rule_values(
        self, conv: Conversation, ticket_type: str, *, reliable_only: bool
    ) -> tuple[dict[str, Any], dict[str, str]]:
        template = self.catalog.template(ticket_type)
        caller = conv.said("caller")
        channel = _phone_or_none(conv.caller_number)
        found = rule_fields(
            ticket_type,
            "\n".join(caller),
            language=conv.language,
            today=self.calendar.local_date(self.clock()),
            said_by_bot="\n".join(conv.said("bot")),
            channel_number=channel,
        )
        fields: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for key, finding in found.items():
            spec = template.field(key)
            if spec is None or (reliable_only and not finding.reliable) or not self._valid(template, key, finding):
                continue
            fields[key] = finding.value
            said = key != "contact_phone" or finding.value != channel
            sources[key] = "rules" if said else "channel"
        if not reliable_only:  # the caller's own words for a required free-text field
            for spec in template.fields:
                if spec.kind == "multiline" and spec.required and spec.key not in fields and caller:
                    limit = spec.max_length or 5000
                    fields[spec.key], sources[spec.key] = "\n".join(caller)[:limit], "transcript"
        return fields, sources

    def _valid(self, template: TicketTemplate, key: str, finding: RuleFinding) -> bool:
        try:
            clean_fields(template, {key: finding.value}, zone=self.calendar.zone, require=False)
        except FieldErrors:
            return False
        return True

    # --- LLM -------------------------------------------------------------------------------------
    async def _classify(self, llm: ChatLLM, conv: Conversation) -> str | None:
        said = clip_lines(conv.said("caller"), _BUDGET[_lang(conv)])
        messages: list[Message] = [{"role": "user", "content": _CLASSIFY[_lang(conv)].format(said=said)}]
        logprobs = await llm.first_token_logprobs(messages)
        votes = [0.0] * len(TYPES)
        for token, lp in logprobs.items():
            digit = token.strip()[:1]
            if digit.isdigit() and 1 <= int(digit) <= len(TYPES):
                votes[int(digit) - 1] += math.exp(lp)
        best = max(range(len(TYPES)), key=votes.__getitem__)
        return TYPES[best] if votes[best] > 0 else None

    async def _extract(
        self, llm: ChatLLM, conv: Conversation, template: TicketTemplate, *, skip: set[str]
    ) -> dict[str, Any]:
        lang = _lang(conv)
        keys = [_TITLE[lang]]
        for spec in template.fields:
            if spec.key in skip or spec.kind in ("phone", "checkbox", "link") or spec.key in _RULES_ONLY:
                continue  # rules own these: a number or a yes/no the model would only guess
            label = spec.label.zh if lang == "zh" else spec.label.en
            if spec.kind == "select":
                opts = ", ".join(
                    f"{o.value}（{o.zh}）" if lang == "zh" else f"{o.value} ({o.en})" for o in spec.options
                )
                hint = f"，从中选一个：{opts}" if lang == "zh" else f", one of: {opts}"
            else:
                hint = _KIND_HINT.get(spec.kind, {}).get(lang, "")
            keys.append(f"{spec.key}: {label}{hint}")
        today = self.calendar.local_date(self.clock())
        prompt = _FILL[lang].format(
            today=today.isoformat(), said=clip_lines(conv.said("caller"), _BUDGET[lang]), keys="\n".join(keys)
        )
        messages: list[Message] = [{"role": "system", "content": _SYSTEM[lang]}, {"role": "user", "content": prompt}]
        reply = await complete(llm, messages, max_tokens=self.max_tokens, timeout_s=self.timeout_s)
        return parse_object(reply) or {}

    def _check(self, template: TicketTemplate, spec: FieldSpec, value: Any, caller: str, language: str) -> Any:
        """The LLM's value for ``spec`` once it passed every check, else None."""
        if isinstance(value, str):
            value = value.strip()
        if value in (None, "", [], {}):
            return None
        kind = spec.kind
        if spec.key in _RULES_ONLY:
            return None
        if kind == "select":
            value = _option(spec, str(value))
        elif kind in ("text", "multiline"):
            if not isinstance(value, str) or not in_language(value, language):
                return None
            if support(value, caller) < _SUPPORT[kind] or value in (spec.label.zh, spec.label.en):
                return None
        elif kind == "number":
            digits = re.sub(r"\D", "", str(value).split(".")[0])
            if not digits or digits not in re.sub(r"[,\s]", "", caller):
                return None
        elif kind in ("date", "datetime"):
            value = self._past(str(value), kind) if mentions_time(caller) else None  # else the model made it up
        else:
            return None  # phone, checkbox, link: rules only
        if value is None:
            return None
        try:
            return clean_fields(template, {spec.key: value}, zone=self.calendar.zone, require=False).get(spec.key)
        except FieldErrors:
            return None

    def _past(self, value: str, kind: str) -> str | None:
        """A date (or date and time) within the last year, not in the future: what a caller reports."""
        try:
            day = date.fromisoformat(value[:10])
            if kind == "datetime":
                datetime.fromisoformat(value)
        except ValueError:
            return None
        today = self.calendar.local_date(self.clock())
        return value if today - timedelta(days=366) <= day <= today else None

    @staticmethod
    def _good_title(title: str, caller: str, language: str) -> bool:
        title = title.strip()
        return (
            0 < len(title) <= 60
            and "\n" not in title
            and in_language(title, language)
            and support(title, caller) >= _SUPPORT["title"]
        )

    # --- the draft -------------------------------------------------------------------------------
    def _finish(
        self,
        conv: Conversation,
        ticket_type: str,
        why: str,
        fields: dict[str, Any],
        sources: dict[str, str],
        t0: float,
        *,
        title: str | None = None,
        dropped: list[str] | None = None,
        stages: dict[str, float] | None = None,
        llm_used: bool = False,
        unavailable: bool = False,
    ) -> TicketDraft:
        template = self.catalog.template(ticket_type)
        lang = _lang(conv)
        title = title or self._rule_title(template, fields, conv)
        if "title" not in sources:
            sources["title"] = "rules"
        cleaned = clean_fields(template, fields, zone=self.calendar.zone, require=False)
        caller = conv.said("caller")
        lead = "来电者：" if lang == "zh" else "Caller: "
        return TicketDraft(
            type=ticket_type,
            type_source=why,
            title=title,
            description="\n".join(f"{lead}{t}" for t in caller),
            fields=cleaned,
            language=lang,
            caller_phone=_phone_or_none(conv.caller_number) or cleaned.get("contact_phone"),
            call_id=conv.call_id,
            sources={k: v for k, v in sources.items() if k in cleaned or k == "title"},
            missing=[s.key for s in template.fields if s.required and s.key not in cleaned],
            dropped=sorted(dropped or []),
            llm_used=llm_used,
            llm_unavailable=unavailable,
            sla_working_days=template.sla_working_days,
            sla_deadline=self.calendar.deadline(self.clock(), template.sla_working_days).isoformat(),
            elapsed_ms=round((time.monotonic() - t0) * 1000, 1),
            stage_ms=stages or {},
        )

    @staticmethod
    def _rule_title(template: TicketTemplate, fields: dict[str, Any], conv: Conversation) -> str:
        lang = _lang(conv)
        name = template.name.zh if lang == "zh" else template.name.en
        key: str | None = None
        for k in ("item", "staff_name", "subject", "category", "topic", "area"):
            spec = template.field(k)
            if spec is None or k not in fields:
                continue
            option = next((o for o in spec.options if o.value == fields[k]), None)
            key = (option.zh if lang == "zh" else option.en) if option else str(fields[k])
            break
        if key is None:
            said = conv.said("caller")
            key = (said[0] if said else "").replace("\n", " ")[: 30 if lang == "zh" else 60]
        sep = "：" if lang == "zh" else ": "
        return f"{name}{sep}{key}".strip().rstrip(":：").strip()[:200] or name


def _lang(conv: Conversation) -> str:
    return "zh" if conv.language == "zh" else "en"


def _phone_or_none(number: str | None) -> str | None:
    if not number:
        return None
    try:
        return clean_phone(number)
    except ValueError:
        return None
