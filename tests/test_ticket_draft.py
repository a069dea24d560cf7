"""The drafted ticket: rules first (type from the reasons and keyword hints, phone and flight numbers,
relative dates), then a scripted LLM whose values are checked and dropped when they are not in the
caller's words, not in the caller's language, not an option, or not a plausible date."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from console.llm_json import parse_object, support
from console.ticket_draft import Conversation, Line, TicketDrafter
from console.ticket_rules import find_flights, find_phones, rule_type
from console.ticket_templates import TicketCatalog, clean_fields, load_catalog
from tests.fakes.prompt_llm import PromptLLM

NOW = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)  # Thursday 10:00 in Shanghai
LOST_ZH = Conversation(
    lines=(
        Line("caller", "你好，我昨天在T2航站楼丢了一个黑色的双肩包，里面有一台笔记本电脑。"),
        Line("bot", "失物招领处的电话是0999-8800-1234。需要帮您转接人工客服吗？"),
        Line("caller", "要的，我的电话是139 1234 5678。"),
    ),
    language="zh",
    reasons=("explicit_request",),
    call_id="call-lost",
)
REFUND_EN = Conversation(
    lines=(
        Line(
            "caller",
            "I want to complain. My refund for the cancelled flight CA1234 has been delayed for three weeks "
            "and nobody answers my emails.",
        ),
        Line("bot", "I'm sorry to hear that. I'll put you through to a colleague."),
        Line("caller", "You can reach me on +86 139 8765 4321."),
    ),
    language="en",
    reasons=("complaint",),
)


@pytest.fixture(scope="module")
def catalog() -> TicketCatalog:
    return load_catalog()


def _drafter(catalog: TicketCatalog, llm: PromptLLM | None) -> TicketDrafter:
    return TicketDrafter(catalog=catalog, llm=llm, clock=lambda: NOW)


def test_the_type_comes_from_the_reasons_first_then_from_keyword_hints() -> None:
    assert rule_type(("emergency", "explicit_request"), "救命") == ("report", "reason")
    assert rule_type(("security_threat",), "there is a bag nobody watches") == ("report", "reason")
    assert rule_type(("complaint",), "I lost my bag and your staff were rude") == ("complaint", "reason")
    assert rule_type((), "我的手机忘在出租车上了") == ("lost_property", "keywords")
    assert rule_type((), "I lost my passport at security") == ("lost_property", "keywords")
    assert rule_type((), "我想表扬一下安检的李师傅") == ("praise", "keywords")
    assert rule_type((), "I would like to thank the staff at gate 12") == ("praise", "keywords")
    assert rule_type((), "我有个建议，候机厅应该多放些充电插座") == ("suggestion", "keywords")
    assert rule_type((), "I'd like to suggest more signs to the metro") == ("suggestion", "keywords")
    # a thank-you closes most calls and "what do you suggest" is a question: neither decides
    assert rule_type((), "好的，谢谢") is None
    assert rule_type((), "OK, thank you.") is None
    assert rule_type((), "你建议我几点到机场？") is None
    assert rule_type((), "What time do you suggest I arrive?") is None


def test_phone_and_flight_numbers_are_found_in_the_callers_words_only() -> None:
    bot = "The lost property office is on 0999-8800-1234."
    assert find_phones("call me on 138 0013 8000 or 0999-8800-1234", said_by_bot=bot) == ["13800138000"]
    assert find_phones("我的号码是一三八零零一三八零零零") == ["13800138000"]
    assert find_phones("reach me at +44 20 7946 0958") == ["+442079460958"]
    assert find_phones("it was on 2026-12-02 at 14:30, gate 12") == []
    assert find_flights("航班号mu5183，昨天晚上") == ["MU5183"]
    assert find_flights("I was on CA1234 and then 3U 8888") == ["CA1234", "3U8888"]
    assert find_flights("flight yh 8821 please") == ["YH8821"]
    assert find_flights("I arrived at 1234 and waited at Terminal 2 until 10:30") == []


def test_json_replies_are_repaired_or_refused() -> None:
    assert parse_object('```json\n{"item": "包",}\n```') == {"item": "包"}
    assert parse_object('Sure! {"title": "x", "item": "黑色双') == {"title": "x"}
    assert parse_object("{“item”: “雨伞”}") == {"item": "雨伞"}
    assert parse_object("I cannot help with that.") is None
    assert parse_object('["not", "an", "object"]') is None


def test_support_counts_the_words_the_caller_said() -> None:
    caller = "我昨天在T2航站楼丢了一个黑色的双肩包"
    assert support("黑色双肩包", caller) == 1.0
    assert support("笔记本电脑", caller) == 0.0
    assert support("The refund was delayed", "my refund has been delayed for weeks") == 1.0


async def test_zh_lost_backpack_rules_then_llm_with_invented_values_dropped(catalog: TicketCatalog) -> None:
    llm = PromptLLM(
        replies=[
            (
                "item: 物品名称",
                '```json\n{"title": "T2航站楼丢失黑色双肩包", "item": "黑色双肩包", "color": "黑色", '
                '"lost_on": "2026-12-01", "estimated_value": "8000", "flight_no": "MU5183"}\n```',
            )
        ]
    )
    draft = await _drafter(catalog, llm).draft(LOST_ZH)
    assert draft.type == "lost_property" and draft.type_source == "keywords"
    assert llm.asked("工单类型") == 0  # the keyword rule decided the type: no classification call
    assert draft.fields == {
        "item": "黑色双肩包",
        "color": "黑色",
        "lost_on": "2026-12-02",  # "昨天" by rule, not the model's date
        "place": "t2",
        "contact_phone": "13912345678",  # the caller's, not the office number the bot read out
    }
    assert draft.sources["item"] == "llm" and draft.sources["place"] == "rules"
    assert draft.dropped == ["estimated_value", "flight_no"]  # not said by the caller
    assert draft.title == "T2航站楼丢失黑色双肩包" and draft.sources["title"] == "llm"
    assert draft.missing == [] and draft.llm_used and not draft.llm_unavailable
    assert draft.sla_deadline == "2026-12-10T23:59:59+08:00"  # 5 working days after Thursday 3 December
    assert draft.description.startswith("来电者：你好")
    clean_fields(catalog.template(draft.type), draft.fields, zone=catalog.working_calendar().zone, require=True)


async def test_en_complaint_keeps_required_values_empty_rather_than_invent_them(catalog: TicketCatalog) -> None:
    llm = PromptLLM(
        replies=[
            (
                "category: Category",
                '{"title": "Refund delayed three weeks", "category": "Other", "occurred_at": "", '
                '"location": "Terminal 3", "details": "The refund for cancelled flight CA1234 has been delayed '
                'for three weeks and nobody answers emails.",}',
            )
        ]
    )
    draft = await _drafter(catalog, llm).draft(REFUND_EN)
    assert draft.type == "complaint" and draft.type_source == "reason"
    assert draft.fields["category"] == "other"  # an option's label is mapped to its value
    assert draft.fields["flight_no"] == "CA1234" and draft.fields["contact_phone"] == "+8613987654321"
    assert "three weeks" in draft.fields["details"] and draft.sources["details"] == "llm"
    assert draft.missing == ["occurred_at"]  # required, not said: left for the agent
    assert draft.dropped == ["location"]  # "Terminal 3" is nowhere in the call
    assert draft.title == "Refund delayed three weeks"
    prompt = next(p for kind, p in llm.requests if kind == "stream")
    assert "contact_phone" not in prompt and "flight_no" not in prompt  # rules own those


async def test_the_llm_picks_the_type_when_no_rule_does(catalog: TicketCatalog) -> None:
    conv = Conversation(
        lines=(Line("caller", "The lady at gate 12 was wonderful, she found my daughter's teddy bear."),),
        language="en",
        reasons=("explicit_request",),
    )
    llm = PromptLLM(
        tokens=[("Ticket types", "5")],
        replies=[
            (
                "staff_name",
                '{"title": "Praise for the lady at gate 12", "staff_name": "the lady at gate 12", '
                '"occurred_on": "2027-01-01", "details": "She found the daughter\'s teddy bear."}',
            )
        ],
    )
    draft = await _drafter(catalog, llm).draft(conv)
    assert draft.type == "praise" and draft.type_source == "llm"
    assert draft.fields["staff_name"] == "the lady at gate 12"
    assert "occurred_on" in draft.dropped  # a date in the future is not what a caller reports
    assert draft.fields["details"] == "She found the daughter's teddy bear."


async def test_values_in_the_wrong_language_fall_back_to_the_rules(catalog: TicketCatalog) -> None:
    llm = PromptLLM(replies=[("item: 物品名称", '{"title": "Lost backpack", "item": "black backpack"}')])
    draft = await _drafter(catalog, llm).draft(LOST_ZH)
    assert draft.fields["item"] == "双肩包" and draft.sources["item"] == "rules"  # the lexicon's word
    assert "item" in draft.dropped
    assert draft.title == "失物：双肩包" and draft.sources["title"] == "rules"


async def test_llm_down_returns_the_rules_draft_flagged(catalog: TicketCatalog) -> None:
    llm = PromptLLM(down=True)
    draft = await _drafter(catalog, llm).draft(LOST_ZH)
    assert draft.llm_unavailable and not draft.llm_used
    assert draft.type == "lost_property"
    assert draft.fields["place"] == "t2" and draft.fields["contact_phone"] == "13912345678"
    assert draft.fields["item"] == "双肩包"
    no_llm = await _drafter(catalog, None).draft(REFUND_EN)
    assert no_llm.llm_unavailable and no_llm.type == "complaint"
    assert "nobody answers my emails" in no_llm.fields["details"]  # the caller's own words
    assert no_llm.sources["details"] == "transcript"
    assert set(no_llm.missing) == {"category", "occurred_at"}


async def test_an_emergency_is_a_report_with_the_channel_number_as_caller_phone(catalog: TicketCatalog) -> None:
    conv = Conversation(
        lines=(Line("caller", "救命！T2安检口有人晕倒了！"),),
        language="zh",
        reasons=("emergency",),
        caller_number="+86 138-0013-8000",
    )
    draft = _drafter(catalog, None).rules(conv)
    assert draft.type == "report" and draft.caller_phone == "+8613800138000"
    assert draft.fields["details"] == "救命！T2安检口有人晕倒了！"
    assert draft.missing == ["subject"]
    assert draft.title == "举报：救命！T2安检口有人晕倒了！"


async def test_a_date_from_the_llm_needs_the_caller_to_have_said_when(catalog: TicketCatalog) -> None:
    reply = '{"occurred_at": "2026-12-03T09:00", "category": "service_attitude"}'
    llm = PromptLLM(replies=[("category: Category", reply)])
    rude = Line("caller", "I want to complain, the staff at check-in were rude to my mother.")
    undated = await _drafter(catalog, llm).draft(Conversation(lines=(rude,), language="en", reasons=("complaint",)))
    assert "occurred_at" in undated.dropped and "occurred_at" in undated.missing  # the model's guess
    said = Line("caller", "It happened this morning at 9 am at counter C.")
    dated = await _drafter(catalog, llm).draft(Conversation(lines=(rude, said), language="en", reasons=("complaint",)))
    assert dated.fields["occurred_at"] == "2026-12-03T09:00+08:00" and dated.sources["occurred_at"] == "llm"
