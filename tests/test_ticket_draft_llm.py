"""The drafted ticket with the real bundled LLM (llama.cpp server, Qwen2.5 1.5B): four calls in both
languages, type and key fields right, and how long each draft took (printed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio

from console.packet_summary import summarize
from console.ticket_draft import Conversation, Line, TicketDraft, TicketDrafter
from console.ticket_templates import load_catalog
from rag.llm import OpenAIChat
from skycall.llm_server import LlamaServer
from tests.conftest import free_port

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]
NOW = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)  # Thursday 10:00 in Shanghai


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def drafter(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TicketDrafter]:
    tmp = tmp_path_factory.mktemp("llm-ticket")
    server = LlamaServer(
        gguf=model_dir / "llm" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        port=free_port(),
        threads=2,
        n_ctx=2048,
        log_path=tmp / "llm.log",
        startup_timeout_s=180,
    )
    await server.start()
    llm = OpenAIChat(base_url=server.base_url, api_key="local", model="skycall-llm", timeout_s=300)
    yield TicketDrafter(catalog=load_catalog(), llm=llm, clock=lambda: NOW, timeout_s=300)
    await llm.close()
    await server.stop()


async def _draft(drafter: TicketDrafter, conv: Conversation, name: str) -> TicketDraft:
    draft = await drafter.draft(conv)
    print(f"\n[{name}] {draft.elapsed_ms:.0f} ms {draft.stage_ms} type={draft.type} ({draft.type_source})")
    print(f"[{name}] title={draft.title!r} fields={draft.fields} dropped={draft.dropped} missing={draft.missing}")
    assert draft.llm_used and not draft.llm_unavailable
    return draft


async def test_zh_lost_property_with_item_place_and_phone(drafter: TicketDrafter) -> None:
    conv = Conversation(
        lines=(
            Line("caller", "你好，我昨天坐MU5183航班，把一个蓝色的双肩包落在飞机上了。"),
            Line("bot", "落在飞机上的物品由航空公司负责。需要帮您转接人工客服吗？"),
            Line("caller", "要的。包里有一台笔记本电脑，我的电话是13912345678。"),
        ),
        language="zh",
        reasons=("explicit_request",),
    )
    draft = await _draft(drafter, conv, "zh lost")
    fields = draft.fields
    assert draft.type == "lost_property" and "包" in fields["item"]
    assert fields["place"] == "aircraft" and fields["contact_phone"] == "13912345678"
    assert fields["flight_no"] == "MU5183" and fields["lost_on"] == "2026-12-02"
    assert any("\u4e00" <= c <= "\u9fff" for c in draft.title)  # in the caller's language


async def test_en_complaint(drafter: TicketDrafter) -> None:
    conv = Conversation(
        lines=(
            Line(
                "caller",
                "I want to make a complaint. The staff at the check-in counter for flight CA1234 were very rude "
                "to me and shouted at my mother.",
            ),
            Line("bot", "I'm sorry to hear that. I'll put you through to a colleague."),
        ),
        language="en",
        reasons=("complaint",),
    )
    draft = await _draft(drafter, conv, "en complaint")
    fields = draft.fields
    assert draft.type == "complaint"
    assert fields["category"] == "service_attitude" and fields["flight_no"] == "CA1234"
    assert "rude" in fields["details"].lower()


async def test_zh_consultation_picked_by_the_llm(drafter: TicketDrafter) -> None:
    conv = Conversation(
        lines=(
            Line("caller", "请问从T2航站楼坐地铁去市区怎么走？末班车是几点？"),
            Line("bot", "抱歉，我没有这方面的信息。需要帮您转接人工客服吗？"),
            Line("caller", "好的。"),
        ),
        language="zh",
        reasons=("explicit_request",),
    )
    draft = await _draft(drafter, conv, "zh consultation")
    assert draft.type == "consultation" and draft.type_source == "llm"
    assert draft.fields["topic"] == "transport"


async def test_en_praise_names_the_staff_member(drafter: TicketDrafter) -> None:
    conv = Conversation(
        lines=(
            Line(
                "caller",
                "Hello, I'd like to thank Ms Wang at the information desk in Terminal 2. She walked my elderly "
                "mother all the way to her gate yesterday.",
            ),
        ),
        language="en",
        reasons=("explicit_request",),
    )
    draft = await _draft(drafter, conv, "en praise")
    fields = draft.fields
    assert draft.type == "praise"
    assert "Wang" in fields["staff_name"] and fields["occurred_on"] == "2026-12-02"
    assert "mother" in fields["details"].lower()


async def test_bilingual_summary_of_a_zh_call(drafter: TicketDrafter) -> None:
    lines = [
        Line("caller", "你好，我昨天在T2航站楼丢了一个黑色的双肩包，怎么找回来？"),
        Line("bot", "失物招领处在T2航站楼一层到达大厅6号出口旁，电话0999-8800-1234。"),
        Line("caller", "我想登记一下，转人工吧。"),
    ]
    assert drafter.llm is not None
    for target in ("zh", "en"):
        started = datetime.now(UTC)
        text = await summarize(drafter.llm, lines, call_language="zh", target=target, timeout_s=300)
        print(f"\n[summary {target}] {(datetime.now(UTC) - started).total_seconds():.1f} s: {text!r}")
        assert text is not None
        assert "包" in text if target == "zh" else "bag" in text.lower() or "backpack" in text.lower()
