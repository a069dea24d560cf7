"""Ticket templates: the bundled file, field validation for every kind, and refused template files."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from console.ticket_templates import (
    FieldErrors,
    FieldSpec,
    Names,
    Option,
    TicketTemplate,
    clean_fields,
    load_catalog,
    search_terms,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
L = Names(zh="字段", en="Field")


def one(kind: str, value: Any, **spec: Any) -> Any:
    template = TicketTemplate(
        name=Names(zh="测试", en="Test"), sla_working_days=5, fields=(FieldSpec(key="f", kind=kind, label=L, **spec),)
    )
    return clean_fields(template, {"f": value}, zone=SHANGHAI, require=False)["f"]


def refused(kind: str, value: Any, **spec: Any) -> str:
    with pytest.raises(FieldErrors) as exc:
        one(kind, value, **spec)
    [(key, message)] = exc.value.problems
    assert key == "f" and message.startswith("Field / 字段 ")
    return message


def test_bundled_templates_have_the_six_types_with_their_slas() -> None:
    catalog = load_catalog()
    slas = {key: t.sla_working_days for key, t in catalog.types.items()}
    assert slas == {
        "consultation": 5,
        "complaint": 15,
        "lost_property": 5,
        "suggestion": 15,
        "praise": 15,
        "report": 30,
    }
    assert catalog.types["complaint"].name == Names(zh="投诉", en="Complaint")
    kinds = {f.kind for t in catalog.types.values() for f in t.fields}
    assert kinds == {"text", "multiline", "number", "date", "datetime", "select", "checkbox", "phone", "link"}
    assert catalog.calendar.timezone == "Asia/Shanghai" and "lost_and_found" in catalog.departments


def test_text_and_multiline() -> None:
    assert one("text", "  CA1234 ") == "CA1234"
    assert "single line" in refused("text", "two\nlines")
    assert "at most 10" in refused("text", "x" * 11, max_length=10)
    assert "expects text" in refused("text", 42)
    assert one("multiline", "line one\nline two") == "line one\nline two"
    assert "shorten it to at most 5000" in refused("multiline", "字" * 5001)


def test_number() -> None:
    assert one("number", 120) == 120 and one("number", "35.5") == 35.5 and one("number", 3.0) == 3
    assert "expects a number" in refused("number", "about ten")
    assert "expects a number" in refused("number", True)
    assert "finite" in refused("number", "nan")
    assert "at least 0" in refused("number", -1, min=0)
    assert "at most 100" in refused("number", 101, max=100)


def test_date_and_datetime() -> None:
    assert one("date", "2026-12-01") == "2026-12-01"
    assert "YYYY-MM-DD" in refused("date", "01/12/2026")
    assert "YYYY-MM-DD" in refused("date", "2026-02-30")
    assert one("datetime", "2026-12-01T14:30") == "2026-12-01T14:30+08:00"  # wall clock at the center
    assert one("datetime", "2026-12-01T06:30:00Z") == "2026-12-01T06:30+00:00"
    assert "YYYY-MM-DDTHH:MM" in refused("datetime", "yesterday afternoon")
    assert "YYYY-MM-DDTHH:MM" in refused("datetime", 1764570600)


def test_select_and_checkbox() -> None:
    options = (Option(value="t1", zh="T1航站楼", en="Terminal 1"), Option(value="t2", zh="T2航站楼", en="Terminal 2"))
    assert one("select", "t2", options=options) == "t2"
    assert "must be one of t1, t2" in refused("select", "t3", options=options)
    assert one("checkbox", False) is False
    assert "true or false" in refused("checkbox", "yes")


def test_phone_is_normalised_and_never_echoed() -> None:
    assert one("phone", "+86 (10) 6123-4567") == "+861061234567"
    assert one("phone", "95530") == "95530"
    message = refused("phone", "138-0013-800a")
    assert "5 to 20 digits" in message and "0013" not in message
    assert "5 to 20 digits" in refused("phone", "1234")


def test_link() -> None:
    assert one("link", "https://yunhai-airport.example/photo/1") == "https://yunhai-airport.example/photo/1"
    assert "http:// or https://" in refused("link", "ftp://files.example/a")
    assert "http:// or https://" in refused("link", "not a link")


def test_unknown_fields_required_fields_and_all_problems_at_once() -> None:
    template = load_catalog().types["lost_property"]
    values = {"item": "黑色双肩包", "lost_on": "tomorrow", "colour": "black", "place": ""}
    with pytest.raises(FieldErrors) as exc:
        clean_fields(template, values, zone=SHANGHAI, require=True)
    problems = dict(exc.value.problems)
    assert set(problems) == {"lost_on", "colour", "place", "contact_phone"}
    assert "YYYY-MM-DD" in problems["lost_on"]
    assert "is not a field of this ticket type" in problems["colour"] and "color" in problems["colour"]
    assert "is required; fill it in before submitting" in problems["place"]
    # a draft may leave required fields empty; empty values are dropped
    draft = clean_fields(template, {"item": "黑色双肩包", "place": ""}, zone=SHANGHAI, require=False)
    assert draft == {"item": "黑色双肩包"}


def test_search_terms_cover_searchable_fields_and_option_labels() -> None:
    complaint = load_catalog().types["complaint"]
    fields = {"category": "baggage", "flight_no": "YH1234", "location": "T2 行李转盘", "contact_phone": "13800138000"}
    terms = search_terms(complaint, fields)
    assert "YH1234" in terms and "T2 行李转盘" in terms
    assert "13800138000" not in terms  # the phone is not searchable


@pytest.mark.parametrize(
    ("yaml_text", "problem"),
    [
        ("types: [", "not valid YAML"),
        ("departments: {a: {zh: 甲, en: A}}\ntypes: {x: {name: {zh: 乙}, sla_working_days: 5}}", "types.x.name.en"),
        (
            "departments: {a: {zh: 甲, en: A}}\ntypes: {x: {name: {zh: 乙, en: B}, sla_working_days: 0}}",
            "sla_working_days",
        ),
        (
            "departments: {a: {zh: 甲, en: A}}\n"
            "types: {x: {name: {zh: 乙, en: B}, sla_working_days: 5, "
            "fields: [{key: f, kind: select, label: {zh: 丙, en: C}}]}}",
            "a select needs at least one option",
        ),
        (
            "departments: {a: {zh: 甲, en: A}}\n"
            "types: {x: {name: {zh: 乙, en: B}, sla_working_days: 5, "
            "fields: [{key: f, kind: colour, label: {zh: 丙, en: C}}]}}",
            "kind",
        ),
        (
            "calendar: {timezone: Asia/Yunhai}\ndepartments: {a: {zh: 甲, en: A}}\n"
            "types: {x: {name: {zh: 乙, en: B}, sla_working_days: 5}}",
            "unknown time zone",
        ),
    ],
)
def test_a_bad_templates_file_is_refused_with_the_entry_named(tmp_path: Path, yaml_text: str, problem: str) -> None:
    path = tmp_path / "templates.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ValueError, match=problem) as exc:
        load_catalog(path)
    assert str(path) in str(exc.value)
