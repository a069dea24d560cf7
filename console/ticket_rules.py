"""The deterministic half of ticket drafting: the ticket type from the handoff reasons and keyword
hints, and the field values regular expressions and small lexicons find reliably in the caller's
words (phone and flight numbers, "yesterday", "on the plane", "call me back").

Rules come before the LLM wherever they are reliable, and they are what the agent gets when the
LLM is down. Only the caller's own words are read: a phone number the bot read out (the lost
property office's) is not the caller's. Every pattern here is a lexicon, not a classifier: what it
does not list, it does not find, and the LLM (or the agent) fills it in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

__all__ = ["RuleFinding", "find_flights", "find_phones", "mentions_time", "rule_fields", "rule_type"]

# handoff reasons (voicebot.handoff.ReasonCode values) that decide the type on their own
_REASON_TYPES = (("emergency", "report"), ("security_threat", "report"), ("complaint", "complaint"))

# keyword hints, strongest first. "thank you" alone closes most calls, so praise needs more than it;
# "what do you suggest" is a question to the bot, so a suggestion needs the caller to make one.
_TYPE_HINTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("complaint", re.compile(r"投诉|\bcomplain(?:t|ts|ed|ing)?\b|\bfile a complaint\b", re.I)),
    (
        "lost_property",
        re.compile(
            r"遗失|丢了|丢失|弄丢|落在|忘在|忘拿|失物|\blost (?:my|a|an|the|our|his|her)\b|"
            r"\bleft (?:my|a|an|the|our) .{0,30}\b(?:on|in|at)\b|\blost (?:and found|property)\b|"
            r"\bmissing (?:bag|item)",
            re.I,
        ),
    ),
    (
        "suggestion",
        re.compile(r"(?<![你您])建议|\bi(?: would like to| want to|'d like to)? suggest|\bsuggestion\b", re.I),
    ),
    (
        "praise",
        re.compile(
            r"表扬|赞扬|点赞|想感谢|要感谢|特别感谢|\bpraise\b|\bcompliment|\bcommend|"
            r"\b(?:want|wanted|would like|'d like) to (?:thank|praise)\b",
            re.I,
        ),
    ),
)

_CN_DIGITS = str.maketrans("零〇一二三四五六七八九幺两", "0012345678912")
_CN_RUN = re.compile(r"[零〇一二三四五六七八九幺两]{7,}")
_PHONE = re.compile(
    r"(?<![\d+])(?:(?:\+|00)?86[\s-]?)?1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}(?!\d)"  # mainland mobile
    r"|(?<![\d+])0\d{2,3}[\s-]?\d{3,4}[\s-]?\d{4}(?!\d)"  # landline with area code
    r"|(?<![\d+])\+\d[\d\s-]{7,17}\d(?!\d)"  # international
)
_FLIGHT = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2}|[A-Z][0-9]|[0-9][A-Z])\s?([0-9]{3,4})(?![0-9])")
_FLIGHT_SAID = re.compile(
    r"(?:flight|航班)\s*(?:number\s*|号\s*)?([A-Za-z]{2}|[A-Za-z][0-9]|[0-9][A-Za-z])\s?([0-9]{3,4})(?![0-9])", re.I
)
_URL = re.compile(r"https?://[^\s，。]+")

_RELATIVE_DAYS = (
    (re.compile(r"前天|\bday before yesterday\b", re.I), -2),
    (re.compile(r"昨天|昨晚|昨日|\byesterday\b|\blast night\b", re.I), -1),
    (
        re.compile(r"今天|今早|今晚|今日|刚才|刚刚|\btoday\b|\bthis (?:morning|afternoon|evening)\b|\btonight\b", re.I),
        0,
    ),
)
_PLACES = (  # most specific first; two terminals named at once are left to the LLM
    (
        "aircraft",
        re.compile(
            r"飞机上|机舱|座位|\bon (?:the |board|my )?(?:plane|flight|aircraft)\b|\bonboard\b|\bseat pocket\b", re.I
        ),
    ),
    ("security", re.compile(r"安检|\bsecurity\b", re.I)),
    ("transport", re.compile(r"停车场|摆渡车|大巴|\bcar ?park\b|\bparking\b|\bshuttle\b", re.I)),
)
_TERMINALS = (
    ("t1", re.compile(r"(?<![A-Za-z0-9])T1(?![0-9])|[1一]号航站楼|\bterminal (?:1|one)\b", re.I)),
    ("t2", re.compile(r"(?<![A-Za-z0-9])T2(?![0-9])|[2二]号航站楼|\bterminal (?:2|two)\b", re.I)),
)
_ITEMS = {  # longer words before the shorter ones they contain
    "zh": tuple(
        "双肩包|背包|书包|行李箱|拉杆箱|手提包|钱包|手机|护照|身份证|笔记本电脑|电脑|平板|耳机|相机|手表|眼镜|雨伞|钥匙|"
        "外套|充电宝|箱子|包".split("|")
    ),
    "en": tuple(
        "backpack|rucksack|suitcase|handbag|wallet|purse|passport|ID card|laptop|tablet|iPad|headphones|earphones|"
        "camera|watch|glasses|umbrella|keys|jacket|coat|power bank|phone|luggage|bag".split("|")
    ),
}
_COLOURS = {
    "zh": tuple("黑色|白色|红色|蓝色|灰色|绿色|黄色|棕色|粉色|紫色|银色|金色|橙色".split("|")),
    "en": tuple("black|white|red|blue|grey|gray|green|yellow|brown|pink|purple|silver|gold|orange|navy".split("|")),
}
_TOPICS = (
    ("flights", re.compile(r"航班|起飞|延误|登机|值机|\bflight|\bdelay|\bboarding\b|\bcheck-?in\b|\bgate\b", re.I)),
    ("baggage", re.compile(r"行李|托运|\bbaggage\b|\bluggage\b|\bsuitcase\b", re.I)),
    ("transport", re.compile(r"停车|地铁|出租|大巴|摆渡|\bparking\b|\bmetro\b|\btaxi\b|\bbus\b|\bshuttle\b", re.I)),
    (
        "services",
        re.compile(r"休息室|贵宾|轮椅|母婴|充电|\bwifi\b|\bwi-fi\b|\blounge\b|\bwheelchair\b|\bpharmacy\b", re.I),
    ),
)
_WHEN = re.compile(  # a date or a time of day said by the caller: what a date the LLM gives must rest on
    r"\d{1,2}\s*[:：点时]|\d{1,2}\s*[月日号]|[一二三四五六七八九十]+[月日号点]|\d{4}-\d{1,2}-\d{1,2}|"
    r"今天|昨天|前天|今早|今晚|昨晚|上午|下午|晚上|早上|凌晨|中午|傍晚|上周|周[一二三四五六日天]|星期|"
    r"\b(?:today|yesterday|tonight|morning|afternoon|evening|night|noon|midnight|ago|o'clock|last week)\b|"
    r"\b\d{1,2}(?::\d{2})?\s?(?:am|pm)\b|\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b|"
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{1,2}\b|\b\d{1,2}(?:st|nd|rd|th)\b",
    re.I,
)
_CALLBACK = re.compile(r"回电|回个电话|打给我|联系我|\bcall me back\b|\bcallback\b|\bring me back\b", re.I)
_ANONYMOUS = re.compile(r"匿名|\banonymous(?:ly)?\b", re.I)


@dataclass(frozen=True)
class RuleFinding:
    """A value found by a rule; ``reliable`` ones are kept over the LLM's, the others are fallbacks."""

    value: object
    reliable: bool


def rule_type(reasons: tuple[str, ...], caller_text: str) -> tuple[str, str] | None:
    """``(type, why)`` from the handoff reasons, else from keyword hints; None when neither decides."""
    for reason, ticket_type in _REASON_TYPES:
        if reason in reasons:
            return ticket_type, "reason"
    for ticket_type, pattern in _TYPE_HINTS:
        if pattern.search(caller_text):
            return ticket_type, "keywords"
    return None


def mentions_time(caller_text: str) -> bool:
    """Whether the caller said when (a date, a weekday, a time of day, "yesterday")."""
    return _WHEN.search(caller_text) is not None


def _digits_spoken(text: str) -> str:
    """Runs of Chinese digit characters (一三八…) as Arabic digits, as a caller dictates a number."""
    return _CN_RUN.sub(lambda m: m.group(0).translate(_CN_DIGITS), text)


def _clean_number(raw: str) -> str:
    digits = re.sub(r"[\s-]", "", raw)
    return "+" + digits[2:] if digits.startswith("00") else digits


def find_phones(caller_text: str, *, said_by_bot: str = "") -> list[str]:
    """Phone numbers the caller said (digits, a leading + kept), minus the ones the bot read out."""
    bots = {_clean_number(m.group(0)) for m in _PHONE.finditer(_digits_spoken(said_by_bot))}
    out: list[str] = []
    for m in _PHONE.finditer(_digits_spoken(caller_text)):
        number = _clean_number(m.group(0))
        if number not in bots and number not in out:
            out.append(number)
    return out


def find_flights(caller_text: str) -> list[str]:
    """Flight numbers (``MU5183``, ``3U 8888``, "flight yh 8821"), upper-cased without spaces."""
    found = [a + b for a, b in _FLIGHT.findall(caller_text)]
    found += [(a + b).upper() for a, b in _FLIGHT_SAID.findall(caller_text)]
    return list(dict.fromkeys(found))


def _day(text: str, today: date) -> str | None:
    for pattern, offset in _RELATIVE_DAYS:
        if pattern.search(text):
            return (today + timedelta(days=offset)).isoformat()
    return None


def _place(text: str) -> str | None:
    for value, pattern in _PLACES:
        if pattern.search(text):
            return value
    terminals = [value for value, pattern in _TERMINALS if pattern.search(text)]
    return terminals[0] if len(terminals) == 1 else None


def _first_word(text: str, words: tuple[str, ...], language: str) -> str | None:
    if language == "zh":
        hits = [(text.find(w), w) for w in words if w in text]
    else:
        low = text.lower()
        hits = [(m.start(), w) for w in words if (m := re.search(rf"\b{re.escape(w.lower())}\b", low))]
    return min(hits)[1] if hits else None


def _item(text: str, language: str) -> str | None:
    """The first item word of the lexicon in the caller's words (longer words listed before shorter)."""
    words = _ITEMS["zh" if language == "zh" else "en"]
    if language == "zh":
        for w in words:  # lexicon order: 双肩包 before 包
            if w in text:
                return w
        return None
    low = text.lower()
    for w in words:
        if re.search(rf"\b{re.escape(w.lower())}\b", low):
            return w
    return None


def _topic(text: str) -> str | None:
    found = [value for value, pattern in _TOPICS if pattern.search(text)]
    return found[0] if len(found) == 1 else None


def rule_fields(
    ticket_type: str,
    caller_text: str,
    *,
    language: str,
    today: date,
    said_by_bot: str = "",
    channel_number: str | None = None,
) -> dict[str, RuleFinding]:
    """Field values for ``ticket_type`` found by rules in the caller's words (keys of the sample
    templates; a deployment's own keys simply get none)."""
    out: dict[str, RuleFinding] = {}
    phones = find_phones(caller_text, said_by_bot=said_by_bot)
    if phones:
        out["contact_phone"] = RuleFinding(phones[0], True)
    elif channel_number:
        out["contact_phone"] = RuleFinding(channel_number, True)
    flights = find_flights(caller_text)
    if flights:
        out["flight_no"] = RuleFinding(flights[0], True)
    day = _day(caller_text, today)
    if day is not None:
        for key in ("lost_on", "occurred_on"):
            out[key] = RuleFinding(day, True)
    if ticket_type == "lost_property":
        place = _place(caller_text)
        if place is not None:
            out["place"] = RuleFinding(place, True)
        item = _item(caller_text, language)
        if item is not None:
            out["item"] = RuleFinding(item, False)
        colour = _first_word(caller_text, _COLOURS["zh" if language == "zh" else "en"], language)
        if colour is not None:
            out["color"] = RuleFinding(colour, False)
    if ticket_type == "consultation":
        topic = _topic(caller_text)
        if topic is not None:
            out["topic"] = RuleFinding(topic, True)
        if _CALLBACK.search(caller_text):
            out["callback_wanted"] = RuleFinding(True, True)
    if ticket_type == "report":
        if _ANONYMOUS.search(caller_text):
            out["anonymous"] = RuleFinding(True, True)
        link = _URL.search(caller_text)
        if link:
            out["evidence_link"] = RuleFinding(link.group(0), True)
    return out
