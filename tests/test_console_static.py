"""The console's pages and their scripts are served without sign-in (they hold no data), from
``console/static/console/``, not cached stale, and nothing else is reachable through the route."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from console.pages import PAGES
from skycall.app import create_app
from skycall.settings import Settings

STATIC = Path(__file__).resolve().parent.parent / "console" / "static" / "console"
MINE = ("login", "kb", "calls", "reports", "users")  # desk and wallboard are the desk engineer's


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    settings = Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("pages"))
    return TestClient(create_app(settings))


def test_console_root_goes_to_the_sign_in_page(client: TestClient) -> None:
    r = client.get("/console", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/console/login"


@pytest.mark.parametrize("name", MINE)
def test_each_page_is_served_with_its_script(client: TestClient, name: str) -> None:
    r = client.get(f"/console/{name}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-cache"
    assert 'href="/static/console/app.css"' in r.text
    script = re.search(r'<script type="module" src="(/static/console/[\w.-]+\.js)">', r.text)
    assert script is not None, "every page loads one ES module"
    js = client.get(script.group(1))
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]


def test_every_listed_page_exists() -> None:
    assert set(MINE) <= set(PAGES)
    assert sorted(p.stem for p in STATIC.glob("*.html")) == sorted(p for p in PAGES if (STATIC / f"{p}.html").is_file())


def test_modules_are_reachable_next_to_the_pages(client: TestClient) -> None:
    r = client.get("/console/app.js")  # a page may import "./app.js" relative to /console/<name>
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert "export async function api(" in r.text and "export function openSocket(" in r.text
    assert client.get("/console/app.css").headers["content-type"].startswith("text/css")


@pytest.mark.parametrize("name", ["nope", "kb.html", ".hidden.js", "missing.js", "app.py"])
def test_anything_else_is_a_404_with_a_message(client: TestClient, name: str) -> None:
    r = client.get(f"/console/{name}")
    assert r.status_code == 404
    assert "console page" in r.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/console/..%2Fauth.py", "/console/%2E%2E/auth.py", "/console/../console/auth.py"])
def test_no_way_out_of_the_folder(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404 and "staff_from_token" not in r.text
