"""Ticket templates: one per ticket type, with a bilingual name, an SLA in working days and custom
fields, read from a YAML file (``console/ticket_templates.yaml`` by default); and the server-side
validation of field values, kind by kind.

Field values are validated every time a ticket is saved; required fields are checked when it is
submitted (a draft may be incomplete). Every problem is reported at once, one message per field,
saying what was wrong and what to write instead. Phone numbers are never echoed in messages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

import yaml
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from console.ticket_calendar import WorkingCalendar, calendar_from

DEFAULT_TEMPLATES = Path(__file__).resolve().parent / "ticket_templates.yaml"
FieldKind = Literal["text", "multiline", "number", "date", "datetime", "select", "checkbox", "phone", "link"]
_DEFAULT_MAX = {"text": 200, "multiline": 5000, "link": 2000}
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_PHONE = re.compile(r"^\+?\d{5,20}$")
_URL = TypeAdapter(AnyHttpUrl)
_T = TypeVar("_T")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Names(_Strict):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Option(_Strict):
    value: str = Field(min_length=1, max_length=64)
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class FieldSpec(_Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    kind: FieldKind
    label: Names
    required: bool = False
    searchable: bool = False
    listed: bool = False
    options: tuple[Option, ...] = ()
    max_length: int | None = Field(None, ge=1, le=100_000)
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> FieldSpec:
        if self.kind == "select" and not self.options:
            raise ValueError(f"field {self.key!r}: a select needs at least one option")
        if self.kind != "select" and self.options:
            raise ValueError(f"field {self.key!r}: only a select has options (this one is {self.kind})")
        if len({o.value for o in self.options}) != len(self.options):
            raise ValueError(f"field {self.key!r}: two options share a value")
        if (self.min is not None or self.max is not None) and self.kind != "number":
            raise ValueError(f"field {self.key!r}: min and max apply to numbers only")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"field {self.key!r}: min is above max")
        return self


class TicketTemplate(_Strict):
    name: Names
    sla_working_days: int = Field(ge=1, le=365)
    fields: tuple[FieldSpec, ...] = ()

    @model_validator(mode="after")
    def _unique_keys(self) -> TicketTemplate:
        keys = [f.key for f in self.fields]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"field keys must be unique; repeated: {', '.join(dupes)}")
        return self

    def field(self, key: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.key == key), None)


class Department(Names):
    """A department tickets are assigned to and staff belong to; ``parent`` places it in the tree
    (e.g. Terminal Operations → Lost and Found Office). Top-level departments have none."""

    parent: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]{0,63}$")


class CalendarSpec(_Strict):
    timezone: str = "Asia/Shanghai"
    holidays: tuple[date, ...] = ()
    makeup_days: tuple[date, ...] = ()


class TicketCatalog(_Strict):
    calendar: CalendarSpec = CalendarSpec()
    departments: dict[str, Department] = Field(min_length=1)
    types: dict[str, TicketTemplate] = Field(min_length=1)

    @model_validator(mode="after")
    def _departments_form_a_tree(self) -> TicketCatalog:
        for code, dept in self.departments.items():
            seen = [code]
            parent = dept.parent
            while parent is not None:
                if parent not in self.departments:
                    raise ValueError(f"department {code!r}: parent {parent!r} is not a department of this file")
                if parent in seen:
                    raise ValueError(f"departments {' → '.join([*seen, parent])} form a loop; one must have no parent")
                seen.append(parent)
                parent = self.departments[parent].parent
        return self

    @model_validator(mode="after")
    def _calendar_is_valid(self) -> TicketCatalog:
        self.working_calendar()  # raises ValueError with a message naming the problem
        return self

    def working_calendar(self) -> WorkingCalendar:
        c = self.calendar
        return calendar_from(timezone=c.timezone, holidays=c.holidays, makeup_days=c.makeup_days)

    def template(self, ticket_type: str) -> TicketTemplate:
        found = self.types.get(ticket_type)
        if found is None:
            raise FieldErrors([("type", f"unknown ticket type {ticket_type!r}; use one of {', '.join(self.types)}")])
        return found


def load_catalog(path: Path | None = None) -> TicketCatalog:
    """Read and check a templates file; a problem raises ``ValueError`` naming the file and the entry."""
    source = path or DEFAULT_TEMPLATES
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{source}: cannot read the ticket templates ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: not valid YAML ({exc})") from None
    try:
        return TicketCatalog.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{source}: {problems}") from None


class FieldErrors(ValueError):
    """One or more field values were refused; ``problems`` lists ``(field key, message)``."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{key}: {message}" for key, message in problems))
        self.problems = problems


def _clean(spec: FieldSpec, value: Any, zone: ZoneInfo) -> Any:
    """The normalised value, or ``ValueError`` with what to write instead."""
    kind = spec.kind
    if kind in ("text", "multiline"):
        if not isinstance(value, str):
            raise ValueError("expects text")
        text = value.strip()
        limit = spec.max_length or _DEFAULT_MAX[kind]
        if len(text) > limit:
            raise ValueError(f"is {len(text)} characters long; shorten it to at most {limit}")
        if kind == "text" and "\n" in text:
            raise ValueError("must be a single line; remove the line breaks")
        return text
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError("expects a number, e.g. 120 or 35.5")
        try:
            number = float(value)
        except ValueError:
            raise ValueError("expects a number, e.g. 120 or 35.5") from None
        if not math.isfinite(number):
            raise ValueError("expects a finite number")
        if spec.min is not None and number < spec.min:
            raise ValueError(f"must be at least {spec.min:g}")
        if spec.max is not None and number > spec.max:
            raise ValueError(f"must be at most {spec.max:g}")
        return int(number) if number.is_integer() else number
    if kind == "date":
        day = _parse(date.fromisoformat, value)
        if day is None:
            raise ValueError("expects a date written YYYY-MM-DD, e.g. 2026-12-01")
        return day.isoformat()
    if kind == "datetime":
        moment = _parse(datetime.fromisoformat, value)
        if moment is None:
            raise ValueError("expects a date and time written YYYY-MM-DDTHH:MM, e.g. 2026-12-01T14:30")
        if moment.tzinfo is None:  # wall-clock time at the center
            moment = moment.replace(tzinfo=zone)
        return moment.isoformat(timespec="minutes")
    if kind == "select":
        allowed = [o.value for o in spec.options]
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value
    if kind == "checkbox":
        if not isinstance(value, bool):
            raise ValueError("expects true or false")
        return value
    if kind == "phone":
        return clean_phone(value)
    # link
    if not isinstance(value, str) or len(value) > (spec.max_length or _DEFAULT_MAX["link"]):
        raise ValueError("expects a web address starting with http:// or https://")
    try:
        _URL.validate_python(value.strip())
    except ValidationError:
        raise ValueError(
            "expects a web address starting with http:// or https://, e.g. https://example.com/a"
        ) from None
    return value.strip()


def clean_phone(value: Any) -> str:
    """Digits (and a leading +) without separators; the number itself never appears in the message."""
    digits = _PHONE_SEPARATORS.sub("", value) if isinstance(value, str) else ""
    if not _PHONE.match(digits):
        raise ValueError("expects a phone number of 5 to 20 digits, optionally after a +, e.g. +86 10 1234 5678")
    return digits


def _parse(parse: Callable[[str], _T], value: Any) -> _T | None:
    if not isinstance(value, str):
        return None
    try:
        return parse(value.strip())
    except ValueError:
        return None


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def clean_fields(template: TicketTemplate, values: dict[str, Any], *, zone: ZoneInfo, require: bool) -> dict[str, Any]:
    """Validate ``values`` against ``template``: the normalised values, or :class:`FieldErrors`.
    Empty values are dropped; ``require`` also refuses missing required fields (on submission)."""
    problems: list[tuple[str, str]] = []
    cleaned: dict[str, Any] = {}
    known = ", ".join(f.key for f in template.fields) or "none"
    for key, value in values.items():
        spec = template.field(key)
        if spec is None:
            problems.append((key, f"is not a field of this ticket type (its fields: {known})"))
            continue
        if _missing(value):
            continue
        try:
            cleaned[key] = _clean(spec, value, zone)
        except ValueError as exc:
            problems.append((key, f"{spec.label.en} / {spec.label.zh} {exc}"))
    if require:
        for spec in template.fields:
            if spec.required and spec.key not in cleaned and all(k != spec.key for k, _ in problems):
                problems.append(
                    (spec.key, f"{spec.label.en} / {spec.label.zh} is required; fill it in before submitting")
                )
    if problems:
        raise FieldErrors(problems)
    return cleaned


def search_terms(template: TicketTemplate, fields: dict[str, Any]) -> list[str]:
    """The field values free-text search looks into (searchable fields; select options by label)."""
    terms: list[str] = []
    for spec in template.fields:
        value = fields.get(spec.key)
        if not spec.searchable or value is None:
            continue
        if spec.kind == "select":
            option = next((o for o in spec.options if o.value == value), None)
            terms.extend([value, option.zh, option.en] if option else [value])
        else:
            terms.append(str(value))
    return terms
