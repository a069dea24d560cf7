"""The answer judge of the evals: gold values found in a reply after normalisation, and no more."""

from __future__ import annotations

import pytest

from evals.answers import gold_found, judge_row


@pytest.mark.parametrize(
    ("answer", "gold", "found"),
    [
        ("大观园的评分是4.3分。", 4.3, True),  # a decimal is matched with its point
        ("评分是14.35分。", 4.3, False),  # not inside another number
        ("价格是一百八十元。", 180, True),  # Chinese numerals read as digits
        ("价格是1800元。", 180, False),
        ("评分5分。", 5.0, True),
        ("门票免费。", 0, True),
        ("可以玩3小时到4小时。", "3小时 - 4小时", True),  # a range said with 到
        ("地址在北京市朝阳区团结湖北五条2号楼-1。", "北京朝阳区团结湖北五条2号楼-1", True),
        ("地址在朝阳区团结湖北五条。", "北京朝阳区团结湖北五条2号楼-1", False),
        ("电话是010-64587122。", "010-64587122", True),
        ("电话是010-64587123。", "010-64587122", False),
        ("酒店没有提供叫醒服务。", "否", True),
        ("酒店提供叫醒服务。", "否", False),
        ("Check-in closes 60 minutes before departure.", "60", True),
    ],
)
def test_gold_values_are_found_only_where_they_are(answer: str, gold: object, found: bool) -> None:
    assert gold_found(answer, gold) is found


def test_a_stored_row_is_judged_by_its_expectation_and_path() -> None:
    row = {"expect": "answer", "gold": {"评分": 4.3}, "path": "llm", "text": "评分是4.3分。"}
    assert judge_row(row)
    assert not judge_row({**row, "path": "abstain"})  # an abstention never counts as an answer
    assert judge_row({"expect": "abstain", "gold": {}, "path": "abstain", "text": "抱歉"})
    assert not judge_row({"expect": "abstain", "gold": {}, "path": "llm", "text": "评分是4.3分。"})
