"""Fit the answer-confidence model on labelled results and report its calibration.

    .venv/bin/python -m evals.calibrate RESULTS.jsonl [RESULTS2.jsonl ...] [--write] [--seed 7]

Each result line comes from ``evals.run_answers`` (signals + ``correct``). The items are split
70/30 (stratified by correctness, fixed seed); a logistic regression over the standardised signals
(Platt scaling of a linear score) is fitted on the 70 % and judged on the held-out 30 %: expected
calibration error (ECE, 10 equal-width bins) and a reliability table. ``--write`` refits on every
item and stores the model as ``rag/calibration/confidence.json`` with a new version.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from evals.answers import judge_row
from rag.confidence import DEFAULT_PATH, FEATURES, ConfidenceModel, vector

Array = npt.NDArray[np.float64]


def load(paths: list[Path]) -> tuple[Array, Array]:
    rows: list[dict[str, Any]] = []
    for path in paths:
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    x = np.asarray([vector(r["signals"]) for r in rows], dtype=np.float64)
    y = np.asarray([1.0 if judge_row(r) else 0.0 for r in rows])  # judged by the current rules
    return x, y


def fit(x: Array, y: Array, version: str) -> ConfidenceModel:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    clf = LogisticRegression(C=0.3, max_iter=2000)  # regularised: a few hundred labels, 15 signals
    clf.fit((x - mean) / scale, y)
    return ConfidenceModel(
        version=version,
        features=tuple(FEATURES),
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        coef=tuple(float(v) for v in clf.coef_[0]),
        intercept=float(clf.intercept_[0]),
    )


def reliability(p: Array, y: Array, bins: int = 10) -> tuple[float, list[tuple[str, int, float, float]]]:
    """ECE and per-bin (range, count, mean confidence, accuracy)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    table = []
    ece = 0.0
    for i in range(bins):
        lo, hi = edges[i], edges[i + 1]
        inside = (p >= lo) & ((p < hi) if i < bins - 1 else (p <= hi))
        n = int(inside.sum())
        if n == 0:
            continue
        conf, acc = float(p[inside].mean()), float(y[inside].mean())
        ece += n / len(p) * abs(conf - acc)
        table.append((f"{lo:.1f}–{hi:.1f}", n, conf, acc))
    return ece, table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", type=Path)
    ap.add_argument("--write", action="store_true", help="refit on all items and store the model")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    x, y = load(args.results)
    x_fit, x_test, y_fit, y_test = train_test_split(x, y, test_size=0.3, random_state=args.seed, stratify=y)
    model = fit(x_fit, y_fit, "held-out-check")
    p = np.asarray([model.probability(dict(zip(FEATURES, row, strict=True))) for row in x_test])
    ece, table = reliability(p, y_test)
    print(f"{len(y)} labelled replies ({int(y.sum())} correct); fitted on {len(y_fit)}, held out {len(y_test)}")  # noqa: T201
    print(f"held-out ECE (10 bins): {ece:.3f}   accuracy {y_test.mean():.3f}   mean confidence {p.mean():.3f}")  # noqa: T201
    # one split of a few hundred items is noisy: the same check over other seeds shows the spread
    others = []
    for seed in range(args.seed + 1, args.seed + 11):
        xf, xt, yf, yt = train_test_split(x, y, test_size=0.3, random_state=seed, stratify=y)
        m = fit(xf, yf, "held-out-check")
        others.append(reliability(np.asarray([m.probability(dict(zip(FEATURES, r, strict=True))) for r in xt]), yt)[0])
    print(f"held-out ECE over 10 other splits: mean {np.mean(others):.3f}, sd {np.std(others):.3f}")  # noqa: T201
    print(f"{'bin':>9s} {'n':>4s} {'confidence':>10s} {'accuracy':>9s}")  # noqa: T201
    for rng, n, conf, acc in table:
        print(f"{rng:>9s} {n:4d} {conf:10.3f} {acc:9.3f}")  # noqa: T201
    if args.write:
        final = fit(x, y, time.strftime("%Y%m%d-%H%M%S"))
        DEFAULT_PATH.parent.mkdir(parents=True, exist_ok=True)
        DEFAULT_PATH.write_text(final.to_json() + "\n", encoding="utf-8")
        print(f"model {final.version} written to {DEFAULT_PATH}")  # noqa: T201


if __name__ == "__main__":
    main()
