from __future__ import annotations

from pathlib import Path

from skycall.provisioning.store import models_to_verify, resolve_paths
from skycall.settings import Settings


def test_own_model_paths_replace_the_bundled_ones(tmp_path: Path) -> None:
    own = tmp_path / "my-whisper"
    s = Settings(_env_file=None, model_dir=tmp_path / "cache", whisper_model_path=own)  # type: ignore[call-arg]
    paths = resolve_paths(s)
    assert paths.whisper_dir == own
    assert paths.piper_model == tmp_path / "cache" / "piper-en" / "en_US-joe-medium.onnx"
    assert "whisper-base" not in paths.bundled_in_use
    names = {m.name for m in models_to_verify(s, need_llm=True)}
    assert names == {"piper-en", "kokoro-zh", "llm", "embeddings"}


def test_external_llm_endpoint_skips_the_bundled_llm(tmp_path: Path) -> None:
    s = Settings(_env_file=None, model_dir=tmp_path, llm_base_url="http://127.0.0.1:9/v1")  # type: ignore[call-arg]
    assert "llm" not in {m.name for m in models_to_verify(s, need_llm=s.llm_base_url is None)}
