"""Records rendered into documents through a template (no special code per table)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge_ingest.chunking import chunk_document
from knowledge_ingest.loaders import KnowledgeFormatError
from knowledge_ingest.records import RecordTemplate, render_records

REPO = Path(__file__).resolve().parent.parent


def _template(tmp: Path, body: str = "{{ 名称 }}，电话{{ 电话 }}，设施：{{ 设施 | join }}。") -> Path:
    (tmp / "shops.yaml").write_text(
        "source: shops.json\nlang: zh\ncategory: shop\n"
        f'id: "shop-{{{{ 名称 }}}}"\ntitle: "{{{{ 名称 }}}}"\nbody: "{body}"\n',
        encoding="utf-8",
    )
    return tmp / "shops.yaml"


def test_pairs_and_objects_render_with_lists_joined(tmp_path: Path) -> None:
    rows = [
        ["云海书店", {"名称": "云海书店", "电话": "0999-8800-2001", "设施": ["Wi-Fi", "充电"]}],
        {"名称": "机场药房", "电话": "0999-8800-2002"},
    ]
    (tmp_path / "shops.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    docs = render_records(RecordTemplate.load(_template(tmp_path)))
    assert [d.doc_key for d in docs] == ["shop-云海书店", "shop-机场药房"]
    assert docs[0].body == "云海书店，电话0999-8800-2001，设施：Wi-Fi、充电。"
    assert docs[1].body == "机场药房，电话0999-8800-2002，设施：。"  # a missing field renders empty
    assert docs[0].kind == "record" and docs[0].category == "shop" and docs[0].lang == "zh"
    assert chunk_document(docs[0])[0].section == "云海书店"


def test_csv_records(tmp_path: Path) -> None:
    (tmp_path / "shops.csv").write_text("名称,电话\n咖啡馆,0999-8800-2003\n", encoding="utf-8")
    tpl = _template(tmp_path, body="{{ 名称 }}：{{ 电话 }}")
    tpl.write_text(tpl.read_text(encoding="utf-8").replace("shops.json", "shops.csv"), encoding="utf-8")
    assert render_records(RecordTemplate.load(tpl))[0].body == "咖啡馆：0999-8800-2003"


def test_bad_templates_and_records_are_reported(tmp_path: Path) -> None:
    (tmp_path / "shops.json").write_text(json.dumps([{"名称": "A"}, {"名称": "A"}]), encoding="utf-8")
    with pytest.raises(KnowledgeFormatError, match="repeated"):
        render_records(RecordTemplate.load(_template(tmp_path)))
    with pytest.raises(KnowledgeFormatError, match="uses no field"):
        RecordTemplate.load(_template(tmp_path, body="static text"))
    (tmp_path / "shops.json").write_text('{"not": "a list"}', encoding="utf-8")
    with pytest.raises(KnowledgeFormatError, match="expected a JSON list"):
        render_records(RecordTemplate.load(_template(tmp_path)))
    with pytest.raises(KnowledgeFormatError, match="unexpected"):
        render_records(RecordTemplate.load(_template(tmp_path, body="{{ 名称 ")))


def test_crosswoz_templates_render_every_record() -> None:
    data = REPO.parent / "shared" / "data" / "rag" / "crosswoz_zh"
    if not data.is_dir():
        pytest.fail(f"{data} is missing: the shared data folder must sit beside the repository")
    total = 0
    for name in ("attraction", "hotel", "restaurant"):
        docs = render_records(RecordTemplate.load(REPO / "examples" / "crosswoz" / f"{name}.yaml", data_dir=data))
        assert all(d.title and "地址" in d.body for d in docs)
        total += len(docs)
    assert total == 465 + 1133 + 951
