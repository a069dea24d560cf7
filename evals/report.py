"""One report shape for every eval suite, thresholds, and the comparison of two reports.

A suite returns a ``SuiteReport``: aggregate ``metrics``, the same metrics per category
(``groups``), one row per item (``items``) and ``charts`` for the HTML page. A metric whose value
could not be measured (no item, or a judge that failed on every item) has ``value=None``: it is
shown as missing, never as 0 or 1, and it never passes a threshold silently.

``Thresholds`` (a YAML file, ``evals/thresholds.yaml`` by default) holds per suite and metric an
absolute gate (``min`` / ``max``) checked after a run, and the ``tolerance`` a comparison allows
before it calls a change a regression.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

Better = Literal["higher", "lower"]
SUITES = ("asr", "rag", "conversation", "handoff", "tickets")


@dataclass
class Metric:
    value: float | None
    better: Better = "higher"
    n: int = 0  # items the value was computed over
    unit: str = ""  # "" (a ratio 0–1), "ms", "s", "count"
    label: str = ""  # human name; the key when empty
    missing: int = 0  # items the metric could not be computed for (judge failure, no context)


@dataclass
class Chart:
    """A chart for the HTML report.

    - ``histogram``: ``series`` maps a name (a latency stage) to raw values, drawn as one histogram
      each, with p50/p95 marked.
    - ``bars``: ``labels`` are categories; ``series`` maps a name to one value per label (``None``
      = missing, drawn as a gap with "n/a").
    - ``reliability``: ``bins`` hold ``lo, hi, n, confidence, accuracy`` per confidence bin (a
      reliability diagram, with the diagonal).
    """

    kind: Literal["histogram", "bars", "reliability"]
    title: str
    unit: str = ""
    labels: list[str] = field(default_factory=list)
    series: dict[str, list[float | None]] = field(default_factory=dict)
    bins: list[dict[str, float | int | None]] = field(default_factory=list)


@dataclass
class SuiteReport:
    suite: str
    title: str
    config: dict[str, Any]  # dataset, knowledge, models, endpoints (never secrets)
    metrics: dict[str, Metric]
    groups: dict[str, dict[str, Metric]] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # item fields shown in the HTML table, in order
    charts: list[Chart] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    duration_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SuiteReport:
        def metrics(raw: dict[str, Any]) -> dict[str, Metric]:
            return {k: Metric(**v) for k, v in raw.items()}

        return cls(
            suite=data["suite"],
            title=data.get("title", data["suite"]),
            config=data.get("config", {}),
            metrics=metrics(data.get("metrics", {})),
            groups={g: metrics(m) for g, m in data.get("groups", {}).items()},
            items=data.get("items", []),
            columns=data.get("columns", []),
            charts=[Chart(**c) for c in data.get("charts", [])],
            notes=data.get("notes", []),
            created_at=data.get("created_at", ""),
            duration_s=data.get("duration_s", 0.0),
        )


class ReportError(ValueError):
    """A report or thresholds file that cannot be read; the message says which and why."""


def load_report(path: Path) -> SuiteReport:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return SuiteReport.from_json(data)
    except FileNotFoundError:
        raise ReportError(f"{path}: no such report file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: not a JSON report ({exc})") from None
    except (KeyError, TypeError) as exc:
        raise ReportError(f"{path}: not an eval report (missing or wrong field: {exc})") from None


def save_report(report: SuiteReport, out_dir: Path) -> tuple[Path, Path]:
    """Write ``<suite>.json`` and the self-contained ``<suite>.html`` into ``out_dir``."""
    from evals.html import render_report

    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{report.suite}.json"
    html_path = out_dir / f"{report.suite}.html"
    json_path.write_text(json.dumps(report.to_json(), ensure_ascii=False, indent=1), encoding="utf-8")
    html_path.write_text(render_report(report), encoding="utf-8")
    return json_path, html_path


# --- thresholds -----------------------------------------------------------------------------


class Gate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min: float | None = None
    max: float | None = None
    tolerance: float | None = Field(default=None, ge=0)
    # the gate holds only for a metric computed over at least this many items (a calibration error
    # over four items is noise); below it the run says the metric was not gated, and why
    min_n: int | None = Field(default=None, ge=1)


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # default tolerance of a comparison: absolute for ratios, relative (fraction) for ms/s
    tolerance_ratio: float = Field(default=0.02, ge=0)
    tolerance_relative: float = Field(default=0.15, ge=0)
    suites: dict[str, dict[str, Gate]] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Thresholds:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ReportError(f"{path}: no such thresholds file") from None
        except yaml.YAMLError as exc:
            raise ReportError(f"{path}: not valid YAML ({exc})") from None
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise ReportError(f"{path}: {where}") from None

    def gate(self, suite: str, metric: str) -> Gate | None:
        return self.suites.get(suite, {}).get(metric)

    def tolerance(self, suite: str, name: str, metric: Metric) -> float:
        """The worsening a comparison allows, in the metric's units."""
        gate = self.gate(suite, name)
        if gate is not None and gate.tolerance is not None:
            return gate.tolerance
        return self.tolerance_ratio if metric.unit in ("", "ratio") else self.tolerance_relative


DEFAULT_THRESHOLDS = Path(__file__).with_name("thresholds.yaml")


@dataclass
class Violation:
    metric: str
    value: float | None
    bound: str  # "min 0.8", "max 0.25"
    message: str


def ungated(report: SuiteReport, thresholds: Thresholds) -> list[str]:
    """Gates this run was too small for (``min_n``), in words."""
    out = []
    for name, gate in thresholds.suites.get(report.suite, {}).items():
        metric = report.metrics.get(name)
        if gate.min_n is not None and metric is not None and metric.n < gate.min_n:
            out.append(f"{name}: measured over {metric.n} items, gated from {gate.min_n}; not gated in this run")
    return out


def check(report: SuiteReport, thresholds: Thresholds) -> list[Violation]:
    """Absolute gates: every metric named in the thresholds for this suite must be present and in bounds."""
    out = []
    for name, gate in thresholds.suites.get(report.suite, {}).items():
        metric = report.metrics.get(name)
        bounds = " ".join(f"{k} {v}" for k, v in (("min", gate.min), ("max", gate.max)) if v is not None)
        if not bounds:
            continue
        if gate.min_n is not None and metric is not None and metric.n < gate.min_n:
            continue  # too few items for this gate (ungated() says so)
        if metric is None or metric.value is None or math.isnan(metric.value):
            out.append(Violation(name, None, bounds, f"{name}: not measured (a gated metric must be measured)"))
            continue
        if gate.min is not None and metric.value < gate.min:
            out.append(Violation(name, metric.value, bounds, f"{name} = {metric.value:.4g} is below min {gate.min}"))
        if gate.max is not None and metric.value > gate.max:
            out.append(Violation(name, metric.value, bounds, f"{name} = {metric.value:.4g} is above max {gate.max}"))
    return out


@dataclass
class Change:
    scope: str  # "" for the aggregate, else the group name
    metric: str
    before: float | None
    after: float | None
    delta: float | None
    tolerance: float
    status: Literal["better", "same", "worse", "regression", "missing"]


def compare(a: SuiteReport, b: SuiteReport, thresholds: Thresholds) -> list[Change]:
    """Every metric of ``a`` (the baseline) against ``b``, aggregate first, then per group.

    ``regression``: worse by more than the tolerance (absolute for ratios, relative for times);
    ``missing``: measured in ``a`` but not in ``b`` (also a regression: a gate cannot pass unseen).
    """
    if a.suite != b.suite:
        raise ReportError(f"cannot compare a {a.suite!r} report with a {b.suite!r} report")
    changes = [_change("", name, m, b.metrics.get(name), a.suite, thresholds) for name, m in a.metrics.items()]
    for group, metrics in a.groups.items():
        other = b.groups.get(group, {})
        changes += [_change(group, name, m, other.get(name), a.suite, thresholds) for name, m in metrics.items()]
    return changes


def _change(scope: str, name: str, before: Metric, after: Metric | None, suite: str, th: Thresholds) -> Change:
    tol = th.tolerance(suite, name, before)
    after_value = after.value if after is not None else None
    if before.value is None:
        return Change(scope, name, None, after_value, None, tol, "same")
    if after_value is None:
        return Change(scope, name, before.value, None, None, tol, "missing")
    delta = after_value - before.value
    worse = -delta if before.better == "higher" else delta  # > 0 when it got worse
    allowed = tol if before.unit in ("", "ratio", "count") else tol * abs(before.value)
    if worse > allowed:
        status: Literal["better", "same", "worse", "regression", "missing"] = "regression"
    elif worse > 1e-12:
        status = "worse"
    elif worse < -1e-12:
        status = "better"
    else:
        status = "same"
    return Change(scope, name, before.value, after_value, delta, allowed, status)


def regressions(changes: list[Change], *, groups: bool = False) -> list[Change]:
    """Regressions of the aggregate metrics (and of every group when ``groups``)."""
    return [c for c in changes if c.status in ("regression", "missing") and (groups or not c.scope)]


# --- helpers for suites ------------------------------------------------------------------------


def ratio(hits: int, n: int, *, better: Better = "higher", label: str = "", missing: int = 0) -> Metric:
    return Metric(hits / n if n else None, better, n, "", label, missing)


def mean(values: list[float | None], *, better: Better = "higher", unit: str = "", label: str = "") -> Metric:
    present = [v for v in values if v is not None and not math.isnan(v)]
    value = sum(present) / len(present) if present else None
    return Metric(value, better, len(present), unit, label, len(values) - len(present))


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0–100) of the values; ``None`` when empty."""
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def latency(values: list[float], q: float, *, label: str = "", unit: str = "ms") -> Metric:
    return Metric(percentile(values, q), "lower", len(values), unit, label)


def reliability_bins(confidences: list[float], correct: list[bool], n_bins: int = 10) -> list[dict[str, Any]]:
    """Equal-width confidence bins: ``lo, hi, n, confidence`` (mean), ``accuracy`` (``None`` when empty)."""
    bins: list[dict[str, Any]] = []
    for i in range(n_bins):
        lo, hi = i / n_bins, (i + 1) / n_bins
        idx = [j for j, c in enumerate(confidences) if (lo <= c < hi) or (i == n_bins - 1 and c == 1.0)]
        n = len(idx)
        bins.append(
            {
                "lo": lo,
                "hi": hi,
                "n": n,
                "confidence": sum(confidences[j] for j in idx) / n if n else None,
                "accuracy": sum(1 for j in idx if correct[j]) / n if n else None,
            }
        )
    return bins


def expected_calibration_error(bins: list[dict[str, Any]]) -> float | None:
    total = sum(int(b["n"]) for b in bins)
    if not total:
        return None
    return float(sum(int(b["n"]) / total * abs(b["accuracy"] - b["confidence"]) for b in bins if b["n"]))
