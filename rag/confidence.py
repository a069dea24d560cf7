"""One calibrated probability that the bot's reply is right, from the signals of a turn.

The model is a logistic regression over the signals (Platt scaling of a linear score), fitted on a
labelled set by ``evals/calibrate.py`` (scikit-learn) and stored as a small versioned JSON file;
answering only needs NumPy. Missing signals take their documented neutral value.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Signals, in the model's order, with the value used when a turn does not have one.
FEATURES: dict[str, float] = {
    "path_faq": 0.0,  # 1 when the curated FAQ answer was used
    "path_llm": 0.0,  # 1 when the LLM answered from passages
    "path_abstain": 0.0,  # 1 when the bot said it does not know
    "faq_score": 0.0,  # cosine similarity to the best FAQ question
    "faq_margin": 0.0,  # over the best other FAQ entry
    "faq_top1": 0.0,  # 1 when the FAQ entry is also the best passage of the hybrid retrieval
    "faq_verified": 0.0,  # the LLM's P(the curated answer answers the question); 1 for a direct match
    "dense_top": 0.0,  # cosine similarity of the best passage
    "dense_margin": 0.0,  # best minus second-best passage
    "keyword_top3": 0.0,  # 1 when the best fused passage is also in the keyword top 3
    "sentence_top": 0.0,  # cosine similarity of the best selected sentence (rag.focus.SentenceSelector)
    "p_answerable": 0.5,  # the LLM's probability that the passages answer the question
    "support": 1.0,  # share of the answer's content words found in the passages
    "numbers_ok": 1.0,  # every figure in the answer is in the passages
    "asr_confidence": 1.0,  # recogniser's confidence in the question (1 for typed text)
}
DEFAULT_PATH = Path(__file__).resolve().parent / "calibration" / "confidence.json"


def vector(signals: dict[str, float]) -> list[float]:
    return [float(signals.get(name, default)) for name, default in FEATURES.items()]


@dataclass(frozen=True)
class ConfidenceModel:
    version: str
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def probability(self, signals: dict[str, float]) -> float:
        x = np.asarray([float(signals.get(n, FEATURES.get(n, 0.0))) for n in self.features])
        z = float(np.dot((x - np.asarray(self.mean)) / np.asarray(self.scale), np.asarray(self.coef)))
        z += self.intercept
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": self.version,
                "features": list(self.features),
                "mean": list(self.mean),
                "scale": list(self.scale),
                "coef": list(self.coef),
                "intercept": self.intercept,
            },
            indent=2,
        )

    @classmethod
    def load(cls, path: Path = DEFAULT_PATH) -> ConfidenceModel:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                version=str(data["version"]),
                features=tuple(data["features"]),
                mean=tuple(float(v) for v in data["mean"]),
                scale=tuple(float(v) for v in data["scale"]),
                coef=tuple(float(v) for v in data["coef"]),
                intercept=float(data["intercept"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"cannot read the confidence model {path}: {exc}; run evals/calibrate.py") from exc
