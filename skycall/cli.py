"""The ``skycall`` command line: serve, models fetch|verify|list, db upgrade, settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from skycall.evals_cli import app as evals_app
from skycall.kb_cli import app as kb_app
from skycall.logsetup import setup_logging
from skycall.provisioning.catalog import BundledFile, BundledModel
from skycall.settings import Settings

app = typer.Typer(help="skycall — an AI-first contact center for an airport hotline.", no_args_is_help=True)
models_app = typer.Typer(help="Assemble, verify and list the bundled model files.", no_args_is_help=True)
db_app = typer.Typer(help="Relational store maintenance.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(db_app, name="db")
app.add_typer(kb_app, name="kb")
app.add_typer(evals_app, name="evals")

console = Console(stderr=True)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        console.print("[red]invalid configuration:[/red]")
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            console.print(f"  {where}: {err['msg']}")
        raise typer.Exit(2) from None


@contextmanager
def _bytes_progress(verb: str, files: list[BundledFile]) -> Iterator[Callable[[BundledFile], Callable[[int], None]]]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(verb, total=sum(f.size for f in files))

        def for_file(f: BundledFile) -> Callable[[int], None]:
            progress.update(task, description=f"{verb} {f.target}")
            return lambda n: progress.advance(task, n)

        yield for_file
        progress.update(task, description=f"{verb} done")


def _select(names: list[str] | None) -> list[BundledModel]:
    from skycall.provisioning.store import select

    try:
        return select(names)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


@models_app.command("fetch")
def models_fetch(
    names: Annotated[list[str] | None, typer.Argument(help="Models to assemble (default: all).")] = None,
    force: Annotated[bool, typer.Option(help="Reassemble even files that verify.")] = False,
) -> None:
    """Assemble the bundled model files into the model cache (idempotent)."""
    from skycall.provisioning.store import ProvisioningError, fetch

    settings = _settings()
    models = _select(names)
    files = [f for m in models for f in m.files]
    try:
        with _bytes_progress("assembling", files) as progress:
            results = fetch(settings.model_dir, models, force=force, progress=progress)
    except ProvisioningError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    assembled = sum(1 for _, s in results if s == "assembled")
    console.print(
        f"{assembled} file(s) assembled, {len(results) - assembled} already in place, in {settings.model_dir}"
    )


@models_app.command("verify")
def models_verify(
    names: Annotated[list[str] | None, typer.Argument(help="Models to verify (default: all).")] = None,
) -> None:
    """Check every assembled file against its pinned sha256."""
    from skycall.provisioning.store import ModelMismatchError, verify

    settings = _settings()
    models = _select(names)
    try:
        with _bytes_progress("verifying", [f for m in models for f in m.files]) as progress:
            verify(settings.model_dir, models, progress=progress)
    except ModelMismatchError as exc:
        for p in exc.problems:
            console.print(f"[red]{p}[/red]")
        raise typer.Exit(1) from None
    console.print(f"all {sum(len(m.files) for m in models)} model files match their pinned sha256")


@models_app.command("list")
def models_list() -> None:
    """List the bundled models, their files and whether they are assembled."""
    from skycall.provisioning.store import file_status, resolve_paths

    settings = _settings()
    in_use = resolve_paths(settings).bundled_in_use
    table = Table(title=f"models in {settings.model_dir}")
    for col in ("model", "file", "size", "status", "used"):
        table.add_column(col)
    for m in _select(None):
        for f in m.files:
            table.add_row(
                m.name,
                f.target,
                f"{f.size / 1e6:,.1f} MB",
                file_status(settings.model_dir, f),
                "bundled" if m.name in in_use or m.name == "kokoro-zh" else "own path",
            )
    Console().print(table)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (also done at every server start)."""
    from skycall.storage import create_engine_for, migrate

    settings = _settings()
    engine = create_engine_for(settings.resolved_database_url())
    migrate(engine)
    console.print(f"schema up to date ({engine.dialect.name})")


users_app = typer.Typer(help="Staff accounts (agents, supervisors, editors, QA, admins).", no_args_is_help=True)
app.add_typer(users_app, name="users")


def _sessions() -> Any:
    from skycall.storage import create_engine_for, migrate, session_factory

    engine = create_engine_for(_settings().resolved_database_url())
    migrate(engine)
    return session_factory(engine)


@users_app.command("add")
def users_add(
    username: str,
    role: Annotated[str, typer.Option(help="admin, supervisor, agent, editor or qa")],
    display_name: Annotated[str, typer.Option(help="Name shown in the console.")] = "",
    department: Annotated[
        str, typer.Option(help="Department key from the ticket templates (e.g. lost_and_found): its tickets.")
    ] = "",
) -> None:
    """Create a staff account. The password is asked for (or read from SKYCALL_NEW_USER_PASSWORD)."""
    import os

    from console.auth import AuthError, SecurityRules, create_user

    password = os.environ.get("SKYCALL_NEW_USER_PASSWORD") or typer.prompt(
        "password", hide_input=True, confirmation_prompt=True
    )
    try:
        staff = create_user(
            _sessions(),
            username=username,
            password=password,
            role=role,
            display_name=display_name,
            department=department,
            rules=SecurityRules.from_settings(_settings()),
        )
    except AuthError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"created {staff.username} ({staff.role})")


@users_app.command("list")
def users_list() -> None:
    """List staff accounts and their roles."""
    from sqlalchemy import select

    from console.tables import User

    table = Table()
    for col in ("username", "role", "display name", "department", "active"):
        table.add_column(col)
    with _sessions()() as db:
        for u in db.scalars(select(User).order_by(User.username)):
            table.add_row(u.username, u.role, u.display_name, u.department, "yes" if u.active else "no")
    Console().print(table)


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (default: SKYCALL_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default: SKYCALL_PORT).")] = None,
) -> None:
    """Run the server: verify models, start the LLM server, ingest the knowledge base, serve HTTP."""
    import uvicorn

    from skycall.app import create_app
    from skycall.provisioning.store import ModelMismatchError, models_to_verify, verify

    settings = _settings()
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if overrides:
        settings = settings.model_copy(update=overrides)
    setup_logging(settings.log_level)
    if settings.verify_models:
        models = models_to_verify(settings, need_llm=settings.llm_base_url is None)
        try:
            with _bytes_progress("verifying", [f for m in models for f in m.files]) as progress:
                verify(settings.model_dir, models, progress=progress)
        except ModelMismatchError as exc:
            console.print("[red]refusing to start: model files do not match their pins[/red]")
            for p in exc.problems:
                console.print(f"[red]{p}[/red]")
            raise typer.Exit(2) from None
    uvicorn.run(
        create_app(settings, models_verified=True),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,  # keep our handlers (and their token redaction)
        ws_max_size=1 << 20,
    )


@app.command("settings")
def show_settings() -> None:
    """Print every setting with its current value (secrets masked) and description."""
    settings = _settings()
    table = Table(title="skycall settings (environment variables SKYCALL_*)")
    for col in ("variable", "value", "description"):
        table.add_column(col, overflow="fold")
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        shown = "****" if "key" in name and value is not None else str(value)
        table.add_row(f"SKYCALL_{name.upper()}", shown, field.description or "")
    Console().print(table)


def main() -> None:
    app()
