"""The confidence model: fitting, the stored file's round trip, and the calibration measures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evals.calibrate import fit, reliability
from rag.confidence import FEATURES, ConfidenceModel


def test_reliability_matches_a_hand_computed_case() -> None:
    p = np.array([0.05, 0.15, 0.95, 0.95, 0.85])
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    ece, table = reliability(p, y)
    # bins: [0,0.1): conf .05 acc 0 (n1); [0.1,0.2): .15 vs 1 (n1); [0.8,0.9): .85 vs 1 (n1); [0.9,1]: .95 vs .5 (n2)
    assert [row[1] for row in table] == [1, 1, 1, 2]
    assert ece == pytest.approx((0.05 + 0.85 + 0.15 + 2 * 0.45) / 5)


def test_a_model_fitted_on_well_behaved_signals_is_calibrated_and_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 3000
    x = np.zeros((n, len(FEATURES)))
    names = list(FEATURES)
    x[:, names.index("p_answerable")] = rng.uniform(0, 1, n)
    x[:, names.index("dense_top")] = rng.uniform(0.7, 0.95, n)
    z = 4 * (x[:, names.index("p_answerable")] - 0.5) + 10 * (x[:, names.index("dense_top")] - 0.82)
    y = (rng.uniform(0, 1, n) < 1 / (1 + np.exp(-z))).astype(float)
    model = fit(x[:2000], y[:2000], "t1")
    p = np.array([model.probability(dict(zip(names, row, strict=True))) for row in x[2000:]])
    ece, _ = reliability(p, y[2000:])
    assert ece < 0.05
    path = tmp_path / "m.json"
    path.write_text(model.to_json(), encoding="utf-8")
    again = ConfidenceModel.load(path)
    assert again == model
    assert json.loads(path.read_text(encoding="utf-8"))["version"] == "t1"


def test_a_broken_model_file_says_how_to_fix_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"run evals/calibrate\.py"):
        ConfidenceModel.load(path)
