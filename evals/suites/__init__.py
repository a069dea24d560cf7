"""Eval suites. Each module ``evals.suites.<name>`` exposes ``DESCRIPTION`` (one line),
``DEFAULT_DATASET`` (a path, or ``None`` when ``--dataset`` is required), ``CI_DATASET`` (the small
subset CI runs with real models) and ``async def run(opts: RunOptions) -> SuiteReport``.

A suite reads its dataset in the documented format (``docs/evals.md``), reports progress through
``opts.progress(description, done, total)``, and raises ``SuiteInputError`` with a message that
names the file, the line and what is wrong when its input cannot be used (never a traceback).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from evals.report import SUITES, SuiteReport
from skycall.settings import Settings

REPO = Path(__file__).resolve().parent.parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"  # the team's shared clips and datasets, beside the checkout


class SuiteInputError(ValueError):
    """A dataset, knowledge folder or option the suite cannot use; the message says what to fix."""


def _no_progress(description: str, done: int, total: int) -> None:
    return None


@dataclass
class RunOptions:
    settings: Settings
    dataset: Path | None = None  # the suite's default when None
    kb: Path | None = None  # knowledge folder or `kb export` JSONL (rag, conversation); suite default when None
    out_dir: Path = Path("eval-reports")
    limit: int = 0  # only the first N items (0 = all)
    every: int = 1  # every Nth item (a sample spread over the file)
    ci: bool = False  # the small CI subset (CI_DATASET) unless --dataset is given
    llm_url: str | None = None  # an OpenAI-compatible endpoint already running; else the bundled LLM is started
    judge_url: str | None = None  # the ragas judge; default: the same endpoint as the LLM
    judge_model: str | None = None
    judge_key: str | None = None
    cache_dir: Path | None = None  # built knowledge indexes, synthesised speech
    params: dict[str, str] = field(default_factory=dict)  # suite-specific --set key=value
    progress: Callable[[str, int, int], None] = _no_progress

    def sample(self, items: list[Any]) -> list[Any]:
        if self.every > 1:
            items = items[:: self.every]
        if self.limit:
            items = items[: self.limit]
        return items

    def cache(self) -> Path:
        root = self.cache_dir or Path.home() / ".cache" / "skycall" / "evals"
        root.mkdir(parents=True, exist_ok=True)
        return root


def suite_module(name: str) -> ModuleType:
    if name not in SUITES:
        raise SuiteInputError(f"unknown suite {name!r}; the suites are: {', '.join(SUITES)}")
    return importlib.import_module(f"evals.suites.{name}")


def runner(name: str) -> Callable[[RunOptions], Coroutine[Any, Any, SuiteReport]]:
    run: Callable[[RunOptions], Coroutine[Any, Any, SuiteReport]] = suite_module(name).run
    return run
