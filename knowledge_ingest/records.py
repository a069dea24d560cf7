"""Structured records (a table of hotels, shops, flights…) rendered into searchable documents
through a field template, so that no table needs special code.

A template is a YAML file:

    source: hotel_db.json        # JSON list of objects, JSON list of [key, object] pairs, or CSV
    lang: zh
    category: hotel
    id: "hotel-{{ 名称 }}"         # Jinja2 (sandboxed); lists render joined with "、" via the `join` filter
    title: "{{ 名称 }}"
    body: |
      {{ 名称 }}是一家{{ 酒店类型 }}，地址：{{ 地址 }}。电话：{{ 电话 }}。

Missing fields render as empty text; a template that names no field at all is refused.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jinja2 import TemplateError, Undefined
from jinja2.sandbox import SandboxedEnvironment

from knowledge_ingest.loaders import LANGUAGES, KnowledgeFormatError, SourceDocument

_env = SandboxedEnvironment(undefined=Undefined, autoescape=False, keep_trailing_newline=False)


@dataclass(frozen=True)
class RecordTemplate:
    source: Path
    lang: str
    category: str
    id: str
    title: str
    body: str

    @classmethod
    def load(cls, path: Path, *, data_dir: Path | None = None) -> RecordTemplate:
        """Read a template; ``source`` is resolved against ``data_dir`` or else the template's folder."""
        try:
            spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise KnowledgeFormatError(f"{path}: cannot read the record template ({exc})") from exc
        if not isinstance(spec, dict):
            raise KnowledgeFormatError(f"{path}: a record template is a YAML mapping")
        missing = [k for k in ("source", "lang", "id", "title", "body") if not spec.get(k)]
        if missing:
            raise KnowledgeFormatError(f"{path}: record template lacks {', '.join(missing)}")
        if spec["lang"] not in LANGUAGES:
            raise KnowledgeFormatError(f"{path}: lang must be one of {LANGUAGES}, got {spec['lang']!r}")
        if "{{" not in str(spec["body"]):
            raise KnowledgeFormatError(f"{path}: the body template uses no field ({{{{ field }}}})")
        return cls(
            source=((data_dir or path.parent) / str(spec["source"])).resolve(),
            lang=str(spec["lang"]),
            category=str(spec.get("category", "")),
            id=str(spec["id"]),
            title=str(spec["title"]),
            body=str(spec["body"]),
        )


def _read_rows(source: Path) -> list[dict[str, Any]]:
    try:
        if source.suffix.lower() == ".csv":
            with source.open(encoding="utf-8-sig", newline="") as fh:
                return [dict(r) for r in csv.DictReader(fh)]
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error) as exc:
        raise KnowledgeFormatError(f"{source}: cannot read records ({exc})") from exc
    if not isinstance(data, list):
        raise KnowledgeFormatError(f"{source}: expected a JSON list of records")
    rows: list[dict[str, Any]] = []
    for n, item in enumerate(data):
        if isinstance(item, dict):
            rows.append(item)
        elif isinstance(item, list) and len(item) == 2 and isinstance(item[1], dict):
            rows.append({"_key": item[0], **item[1]})
        else:
            raise KnowledgeFormatError(f"{source}: record {n} is neither an object nor a [key, object] pair")
    return rows


def _join(value: Any, sep: str = "、") -> str:
    if isinstance(value, list | tuple):
        return sep.join(str(v) for v in value)
    return "" if value is None else str(value)


_env.filters["join"] = _join


def render_records(template: RecordTemplate) -> list[SourceDocument]:
    try:
        id_t, title_t, body_t = (_env.from_string(t) for t in (template.id, template.title, template.body))
    except TemplateError as exc:
        raise KnowledgeFormatError(f"template for {template.source.name}: {exc}") from exc
    docs: list[SourceDocument] = []
    seen: set[str] = set()
    for n, row in enumerate(_read_rows(template.source)):
        try:
            key, title, body = id_t.render(row).strip(), title_t.render(row).strip(), body_t.render(row).strip()
        except TemplateError as exc:
            raise KnowledgeFormatError(f"{template.source.name} record {n}: {exc}") from exc
        if not key or key in seen:
            raise KnowledgeFormatError(f"{template.source.name} record {n}: id {key!r} is empty or repeated")
        seen.add(key)
        docs.append(
            SourceDocument(
                doc_key=key,
                lang=template.lang,
                kind="record",
                title=title or key,
                category=template.category,
                body=body,
                source=f"{template.source}#{n}",
            )
        )
    return docs
