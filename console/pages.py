"""The staff console's pages: ``/console/<name>`` serves ``console/static/console/<name>.html``.

The pages are static (no data in the HTML; every data call carries the staff bearer token), so
serving them needs no sign-in. Their scripts and styles are also reachable next to them
(``/console/app.js`` is ``/static/console/app.js``), so a page may import its modules by a
relative path. Responses are ``no-cache``: a new release is picked up on the next load.
"""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

router = APIRouter(tags=["console pages"])
PAGES = ("login", "desk", "wallboard", "kb", "gaps", "calls", "reports", "users")
ASSET = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(js|css|svg|png)$")
_NO_CACHE = {"Cache-Control": "no-cache"}


def _folder() -> Path:
    return Path(str(files("console") / "static" / "console"))


@router.get("/console", include_in_schema=False)
def console_root() -> RedirectResponse:
    return RedirectResponse("/console/login", status_code=307)


@router.get("/console/{name}", include_in_schema=False)
def console_page(name: str) -> FileResponse:
    folder = _folder()
    if name in PAGES:
        path = folder / f"{name}.html"
    elif ASSET.match(name):
        path = folder / name
    else:
        raise HTTPException(404, f"there is no console page {name!r}; open one of {', '.join(PAGES)}")
    if not path.is_file():
        raise HTTPException(404, f"the console page {name!r} is not installed")
    return FileResponse(path, headers=_NO_CACHE)
