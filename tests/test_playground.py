"""The playground's files: served at / and /playground without the key, strictly, and only when on.

What the page does in a browser is tested in test_playground_browser.py; these need no browser.
"""

import re

import pytest
from fastapi.testclient import TestClient

from faceswap.config import Settings
from faceswap.errors import ErrorCode
from faceswap.http.app import create_app
from faceswap.http.playground import CONTENT_SECURITY_POLICY, STATIC, load_assets
from tests.conftest import derive

KEY = "playground-test-key"


def client_for(settings: Settings) -> TestClient:
    """A client of the app, its lifespan (and so the model load) not started: the files need none."""
    return TestClient(create_app(settings))


def script_text() -> str:
    return "\n".join(path.read_text() for path in sorted(STATIC.glob("*.js")))


@pytest.mark.parametrize("path", ["/", "/playground"])
def test_the_page_is_served_at_the_root_and_at_playground(settings: Settings, path: str) -> None:
    response = client_for(settings).get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>Face swap playground</title>" in response.text


def test_every_file_is_served_with_its_type_and_a_strict_policy(settings: Settings) -> None:
    client = client_for(settings)
    kinds = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
    for path in load_assets():
        response = client.get(path)
        assert response.status_code == 200, path
        suffix = ".html" if path in ("/", "/playground") else path[path.rindex(".") :]
        assert response.headers["content-type"].startswith(kinds[suffix]), path
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"


def test_the_policy_allows_this_origin_only_and_no_inline_script(settings: Settings) -> None:
    policy = dict(part.split(" ", 1) for part in CONTENT_SECURITY_POLICY.split("; "))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'" and policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    page = (STATIC / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", page), "inline scripts would be refused by the policy"
    assert " style=" not in page and "<style" not in page
    assert not re.search(r"\bon[a-z]+=", page), "inline handlers would be refused by the policy"


def test_an_unchanged_file_is_answered_304(settings: Settings) -> None:
    client = client_for(settings)
    first = client.get("/playground/playground.js")
    again = client.get("/playground/playground.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_every_file_the_page_loads_is_served() -> None:
    assets = load_assets()
    page = (STATIC / "index.html").read_text()
    linked = re.findall(r'(?:src|href)="(playground/[^"]+)"', page)
    imported = re.findall(r'from "\./([^"]+)"', script_text())
    assert linked and imported
    for name in [*linked, *(f"playground/{module}" for module in imported)]:
        assert f"/{name}" in assets, name
    served = {path.rsplit("/", 1)[1] for path in assets if path.startswith("/playground/")}
    used = {name.rsplit("/", 1)[1] for name in linked} | set(imported)
    assert served == used, "a file in static/ that the page never loads"


def test_the_page_calls_only_routes_of_the_public_api(settings: Settings) -> None:
    schema = create_app(settings).openapi()
    routes = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    calls = re.findall(r'call\("([A-Z]+)", [`"]([^`"$]+)', script_text())
    calls += re.findall(r'send\("([A-Z]+)", "([^"]+)"', script_text())
    assert {path for _, path in calls} >= {"openapi.json", "faces", "swap", "jobs", "jobs/", "health"}
    for method, path in calls:
        if path == "openapi.json":
            continue
        template = "/jobs/{job_id}" if path == "jobs/" else f"/{path}"
        assert (method, template) in routes, (method, path)


def test_the_page_and_its_files_need_no_key_but_every_call_it_makes_does(settings: Settings) -> None:
    client = client_for(derive(settings, api_key=KEY))
    for path in load_assets():
        assert client.get(path).status_code == 200, path
    for path in ("/openapi.json", "/jobs/anything"):
        assert client.get(path).status_code == 401, path
    assert client.post("/faces", json={}).status_code == 401
    assert client.post("/swap", json={}).status_code == 401
    assert client.get("/docs").status_code == 401, "the browser manual is off with a key"
    authorized = client.get("/openapi.json", headers={"Authorization": f"Bearer {KEY}"})
    assert authorized.status_code == 200


def test_the_key_is_kept_in_the_tab_only() -> None:
    text = script_text()
    assert "sessionStorage" in text
    assert "localStorage" not in text and "document.cookie" not in text


def test_playground_false_turns_the_page_off(settings: Settings) -> None:
    client = client_for(derive(settings, playground=False))
    for path in ("/", "/playground", "/playground/playground.js"):
        assert client.get(path).status_code == 404, path
    keyed = client_for(derive(settings, playground=False, api_key=KEY))
    assert keyed.get("/").status_code == 401, "with the page off, nothing is open but the probes"


def test_the_page_is_left_out_of_the_api_schema(settings: Settings) -> None:
    paths = create_app(settings).openapi()["paths"]
    assert not {"/", "/playground"} & set(paths)
    assert not [path for path in paths if path.startswith("/playground")]


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACESWAP_PLAYGROUND", "false")
    assert Settings().playground is False
    monkeypatch.delenv("FACESWAP_PLAYGROUND")
    assert Settings().playground is True


def test_the_page_writes_what_the_service_returns_as_text_only() -> None:
    text = script_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in text, sink


def test_every_error_code_has_a_heading_in_plain_words() -> None:
    titles = set(re.findall(r"^  ([A-Z_]+): \"", (STATIC / "api.js").read_text(), re.M))
    assert {code.value for code in ErrorCode} <= titles
