from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from skycall.settings import Settings
from skycall.settings_doc import render_markdown

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def test_every_setting_has_a_description() -> None:
    undocumented = [name for name, f in Settings.model_fields.items() if not (f.description or "").strip()]
    assert undocumented == []


def test_configuration_doc_lists_every_setting_and_is_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"`SKYCALL_{name.upper()}`" in text, f"SKYCALL_{name.upper()} missing from docs/configuration.md"
    assert text == render_markdown(), (
        "docs/configuration.md is stale: run `python -m skycall.settings_doc > docs/configuration.md`"
    )


def test_production_refuses_missing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYCALL_ENVIRONMENT", "production")
    monkeypatch.delenv("SKYCALL_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="SKYCALL_SECRET_KEY must be set"):
        Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize("weak", ["changeme", "secret", "short-key"])
def test_production_refuses_placeholder_or_short_secret(monkeypatch: pytest.MonkeyPatch, weak: str) -> None:
    monkeypatch.setenv("SKYCALL_ENVIRONMENT", "production")
    monkeypatch.setenv("SKYCALL_SECRET_KEY", weak)
    with pytest.raises(ValidationError, match="SKYCALL_SECRET_KEY"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_production_external_llm_needs_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYCALL_ENVIRONMENT", "production")
    monkeypatch.setenv("SKYCALL_SECRET_KEY", "x" * 40)
    monkeypatch.setenv("SKYCALL_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    with pytest.raises(ValidationError, match="SKYCALL_LLM_API_KEY"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_development_generates_a_random_key_per_instance() -> None:
    a = Settings(_env_file=None)  # type: ignore[call-arg]
    b = Settings(_env_file=None)  # type: ignore[call-arg]
    assert len(a.signing_key()) >= 32
    assert a.signing_key() == a.signing_key()
    assert a.signing_key() != b.signing_key()


def test_env_prefix_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYCALL_PORT", "9123")
    assert Settings(_env_file=None).port == 9123  # type: ignore[call-arg]


def test_settings_are_not_built_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    # An invalid environment must not break importing the app factory: settings are built later.
    monkeypatch.setenv("SKYCALL_ENVIRONMENT", "production")
    monkeypatch.delenv("SKYCALL_SECRET_KEY", raising=False)
    for mod in [m for m in sys.modules if re.match(r"^(skycall\.app|skycall\.runtime|console\.api)$", m)]:
        del sys.modules[mod]
    module = importlib.import_module("skycall.app")
    assert callable(module.create_app)
