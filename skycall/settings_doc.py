"""Renders docs/configuration.md from the settings' descriptions: ``python -m skycall.settings_doc``."""

from __future__ import annotations

from pydantic_core import PydanticUndefined

from skycall.settings import Settings


def _default(name: str) -> str:
    field = Settings.model_fields[name]
    if field.default_factory is not None:
        return "(computed)"
    if field.default is PydanticUndefined or field.default is None:
        return "—"
    return f"`{field.default}`"


def render_markdown() -> str:
    lines = [
        "# Configuration",
        "",
        "Every setting is an environment variable with the prefix `SKYCALL_` (a `.env` file in the working",
        "folder is read too). `skycall settings` prints the values in force. This file is generated from",
        "`skycall/settings.py` by `python -m skycall.settings_doc > docs/configuration.md`; a test fails when",
        "it is stale.",
        "",
        "| variable | default | description |",
        "|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        desc = (field.description or "").replace("|", "\\|")
        lines.append(f"| `SKYCALL_{name.upper()}` | {_default(name)} | {desc} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")  # noqa: T201
