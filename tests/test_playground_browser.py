"""The playground in a real browser: Debian's Chromium, driven by Playwright, against `python main_fixed.py`
on the synthetic pack, on 127.0.0.1. Each step's screenshot is written to build/playground/.

`make browser-test` runs these (and fails when no browser is installed); in the rest of the suite they are
skipped, saying why, where Chromium is missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from faceswap.testing.clips import write_clip
from faceswap.testing.synthetic import BACKGROUND_BGR, draw_faces
from tests.servers import ROOT, service_process, wait_ready

CHROMIUM = Path(os.environ.get("FACESWAP_CHROMIUM", "/usr/bin/chromium"))
REQUIRED = os.environ.get("FACESWAP_BROWSER_TESTS") == "required"
SCREENSHOTS = ROOT / "build" / "playground"
KEY = "browser-test-key"
# Chromium as a test drives it: no sandbox (root in a container), nothing fetched from anywhere but the page.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Every swap waits this long: a clip job is still running when the test cancels it.
SLOW_SWAP = "slow_swap:0.2"


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed (it is in requirements-dev.txt)"
    if not CHROMIUM.is_file():
        return f"no Chromium at {CHROMIUM}: `apt-get install chromium`, then `make browser-test`"
    return None


MISSING = _missing()
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(MISSING is not None and not REQUIRED, reason=f"browser tests skipped: {MISSING}"),
]


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A one-face source, a two-face target, a picture with no face, a short clip and a long one."""
    folder = tmp_path_factory.mktemp("pictures")
    paths = {name: folder / name for name in ("source.png", "target.png", "empty.png")}
    cv2.imwrite(str(paths["source.png"]), draw_faces(480, 480, 1, seed=1)[0])
    cv2.imwrite(str(paths["target.png"]), draw_faces(800, 600, 2, seed=2)[0])
    cv2.imwrite(str(paths["empty.png"]), np.full((400, 600, 3), BACKGROUND_BGR, dtype=np.uint8))
    for name, frames in (("short.webm", 8), ("long.webm", 150)):
        paths[name] = folder / name
        write_clip(paths[name], "webm", frames=frames, size=(256, 192), faces=2, audio=False)
    return paths


def _service(model_dir: Path, **env: str) -> Iterator[str]:
    settings = {"FACESWAP_MODEL_DIR": str(model_dir), "FACESWAP_PROVIDERS": "cpu", **env}
    with service_process(settings, entry=True) as (url, _process):
        wait_ready(url, 120)
        yield url


@pytest.fixture(scope="module")
def service(model_dir: Path) -> Iterator[str]:
    """The service as `python main_fixed.py` runs it, on the synthetic pack, without a key."""
    yield from _service(model_dir, FACESWAP_FAILPOINTS=SLOW_SWAP)


@pytest.fixture(scope="module")
def keyed_service(model_dir: Path) -> Iterator[str]:
    """The same with FACESWAP_API_KEY set."""
    yield from _service(model_dir, FACESWAP_API_KEY=KEY)


@pytest.fixture(scope="module")
def browser_context() -> Iterator[Any]:
    """Debian's Chromium with a fresh profile, through Playwright (whose own browser download is not used)."""
    if MISSING is not None:
        pytest.fail(f"make browser-test needs a browser: {MISSING}")
    from playwright.sync_api import expect as playwright_expect
    from playwright.sync_api import sync_playwright

    playwright_expect.set_options(timeout=90_000)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 1000},
            accept_downloads=True,
        )
        context.set_default_timeout(90_000)
        yield context
        context.close()


@pytest.fixture
def page(browser_context: Any) -> Iterator[Any]:
    """A new tab; the test fails on any script error or console error the page logs."""
    tab = browser_context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    tab.on("console", lambda message: message.type == "error" and problems.append(message.text))
    yield tab
    tab.close()
    expected = [text for text in problems if "status of 4" in text or "status of 5" in text]
    assert [text for text in problems if text not in expected] == []


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def expect(locator: Any) -> Any:
    """Playwright's waiting assertions (wait_for_function evaluates a string: the page's CSP forbids it)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def open_playground(page: Any, url: str) -> None:
    page.goto(url + "/")
    page.wait_for_selector("#workspace:not([hidden])")
    page.wait_for_selector("#health[data-status='ready']")


def choose_pictures(page: Any, pictures: dict[str, Path], target: str = "target.png") -> None:
    page.set_input_files("#source-file", str(pictures["source.png"]))
    page.wait_for_selector("#source-picker .face")
    page.set_input_files("#target-file", str(pictures[target]))
    expect(page.locator("#target-note")).to_contain_text("found")


def sent_request(page: Any) -> dict[str, Any]:
    text = page.text_content("#request-body") or ""
    return json.loads(text.split("\n", 1)[1])


def test_pick_a_face_swap_and_see_the_result(page: Any, service: str, pictures: dict[str, Path]) -> None:
    open_playground(page, service)
    shot(page, "01-opened")
    choose_pictures(page, pictures)
    faces = page.locator("#target-picker .face")
    assert faces.count() == 2
    assert [faces.nth(i).get_attribute("aria-label") for i in range(2)] == ["target face 1", "target face 2"]
    faces.nth(1).click()
    faces.nth(0).click()
    assert faces.nth(0).get_attribute("aria-pressed") == "false"
    assert faces.nth(1).get_attribute("aria-pressed") == "true"
    shot(page, "02-face-2-picked")

    page.click("#swap-button")
    page.wait_for_selector("#result-section:not([hidden])")
    assert sent_request(page)["target_index"] == 2
    assert page.evaluate("document.querySelector('#compare-after').naturalWidth") == 800
    facts = page.inner_text("#result-facts")
    assert "1 in the source, 2 in the target" in facts and "swap (ms)" in facts
    page.focus("#compare-slider")
    for _ in range(20):
        page.keyboard.press("ArrowLeft")
    split = "getComputedStyle(document.querySelector('#compare')).getPropertyValue('--split')"
    assert page.evaluate(split) == "30%"
    shot(page, "03-result-before-after")

    with page.expect_download() as download:
        page.click("#download")
    saved = Path(download.value.path())
    assert download.value.suggested_filename == "faceswap-result.png"
    assert saved.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_options_come_from_the_schema_and_only_changes_are_sent(
    page: Any, service: str, pictures: dict[str, Path]
) -> None:
    open_playground(page, service)
    assert page.locator("[data-field='pixel_boost'] select").input_value() == ""  # unset: the swapper's side
    assert "Default: none." in page.inner_text("[data-field='pixel_boost']")
    assert "the swapper's own side" in page.inner_text("[data-field='pixel_boost']")
    choose_pictures(page, pictures)
    page.click("#pick-all")
    page.select_option("[data-field='output_format'] select", label="jpeg")
    page.check("[data-field='face_mask'] .use input")
    page.uncheck("[data-field='face_mask.types'] input[id$='-box']")
    page.check("[data-field='face_mask.types'] input[id$='-occlusion']")
    shot(page, "04-options")
    page.click("#swap-button")
    page.wait_for_selector("#result-section:not([hidden])")
    body = sent_request(page)
    assert body["target_index"] == "all" and body["output_format"] == "jpeg"
    assert body["face_mask"] == {"types": ["occlusion"]}
    assert "pixel_boost" not in body and "color_match" not in body, "defaults are not sent"
    assert page.get_attribute("#download", "download") == "faceswap-result.jpeg"


def test_an_option_the_service_gains_appears_without_a_change_to_the_page(page: Any, service: str) -> None:
    strength = {
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "default": 0.5,
        "description": "How strongly the source identity is applied.",
    }
    choice = {
        "anyOf": [{"type": "string", "enum": ["first_model", "second_model"]}, {"type": "null"}],
        "description": "Which model swaps.",
    }
    schema = swap_schema_with(service, identity_strength=strength, model_choice=choice)
    page.route("**/openapi.json", lambda route: route.fulfill(json=schema))
    open_playground(page, service)
    slider = page.locator("[data-field='identity_strength'] input[type=range]")
    assert slider.get_attribute("min") == "0" and slider.get_attribute("max") == "1"
    assert slider.input_value() == "0.5"
    assert "Default: 0.5." in page.inner_text("[data-field='identity_strength']")
    choices = page.locator("[data-field='model_choice'] option").all_inner_texts()
    assert choices == ["none", "first_model", "second_model"]
    assert page.get_by_label(re.compile("^Identity strength")).count() == 1
    shot(page, "05-new-options-from-the-schema")


def swap_schema_with(service: str, **fields: dict[str, Any]) -> dict[str, Any]:
    """The service's OpenAPI schema, its /swap body given `fields` more (as a newer service would have)."""
    schema = httpx.get(f"{service}/openapi.json").json()
    reference = schema["paths"]["/swap"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schema["components"]["schemas"][reference["$ref"].rsplit("/", 1)[1]]["properties"].update(fields)
    return schema


def test_several_source_photos_are_sent_as_one_identity_where_the_service_takes_them(
    page: Any, service: str, pictures: dict[str, Path]
) -> None:
    several = {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]}
    schema = swap_schema_with(service, source_images=several)
    page.route("**/openapi.json", lambda route: route.fulfill(json=schema))
    open_playground(page, service)
    assert page.get_attribute("#source-file", "multiple") is not None
    page.set_input_files("#source-file", [str(pictures["source.png"]), str(pictures["target.png"])])
    expect(page.locator("#source-note")).to_contain_text("2 photos of one person")
    page.set_input_files("#target-file", str(pictures["target.png"]))
    expect(page.locator("#target-note")).to_contain_text("found")
    with page.expect_request(lambda request: request.url.endswith("/swap")) as sent:
        page.click("#swap-button")
    body = sent.value.post_data_json
    assert len(body["source_images"]) == 2 and "source_image" not in body
    shot(page, "15-several-source-photos")


def test_scores_the_service_reports_per_face_are_shown(
    page: Any, service: str, pictures: dict[str, Path]
) -> None:
    def with_similarity(route: Any) -> None:
        answer = route.fetch()
        body = answer.json()
        for entry in body["swapped"]:
            entry["similarity_after"] = 0.8731
        route.fulfill(response=answer, json=body)

    page.route("**/swap", with_similarity)
    open_playground(page, service)
    choose_pictures(page, pictures)
    page.click("#swap-button")
    page.wait_for_selector("#swapped-wrap:not([hidden])")
    assert "similarity after" in page.inner_text("#swapped thead")
    assert page.inner_text("#swapped tbody") == "1\t1\t–\t0.873"


def test_an_error_shows_the_code_and_a_plain_sentence(
    page: Any, service: str, pictures: dict[str, Path]
) -> None:
    open_playground(page, service)
    choose_pictures(page, pictures, target="empty.png")
    assert "No face found in the target" in page.inner_text("#target-note")
    page.click("#swap-button")
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error-title") == "No face was found"
    assert page.inner_text("#error-code") == "NO_FACE"
    assert "target" in page.inner_text("#error-message").lower()
    assert re.search(r"HTTP 422 · request id \w+", page.inner_text("#error"))
    assert page.is_hidden("#result-section")
    shot(page, "06-error-no-face")


def test_a_clip_runs_as_a_job_with_progress_and_its_result(
    page: Any, service: str, pictures: dict[str, Path]
) -> None:
    open_playground(page, service)
    choose_pictures(page, pictures, target="short.webm")
    assert page.locator("#target-picker .face").count() == 2, "faces found on the clip's first frame"
    assert page.is_hidden("[data-field='swaps']")
    page.click("#swap-button")
    page.wait_for_selector("#progress-section:not([hidden])")
    expect(page.locator("#progress-text")).to_have_text(re.compile(r"^Frame [1-9]"))
    shot(page, "07-clip-progress")
    page.wait_for_selector("#result-video:not([hidden])")
    assert page.inner_text("#progress-text") == "Done."
    assert re.search(r"[1-8] of 8 had the face swapped", page.inner_text("#result-facts"))
    assert page.get_attribute("#download", "download") == "faceswap-result.webm"
    assert sent_request(page)["target_index"] == 1
    shot(page, "08-clip-result")


def test_a_clip_job_can_be_cancelled(page: Any, service: str, pictures: dict[str, Path]) -> None:
    open_playground(page, service)
    choose_pictures(page, pictures, target="long.webm")
    with page.expect_response(lambda response: response.url.endswith("/jobs")) as started:
        page.click("#swap-button")
    job_id = started.value.json()["id"]
    expect(page.locator("#progress-text")).to_have_text(re.compile(r"^Frame [1-9]"))
    assert page.is_visible("#cancel-button")
    shot(page, "09-clip-running")
    page.click("#cancel-button")
    expect(page.locator("#progress-text")).to_have_text(re.compile("^Cancelled"))
    assert page.is_hidden("#cancel-button") and page.is_enabled("#swap-button")
    assert httpx.get(f"{service}/jobs/{job_id}").json()["error_code"] == "JOB_NOT_FOUND"
    shot(page, "10-clip-cancelled")


def test_with_an_api_key_the_page_asks_for_it_and_keeps_it_in_the_tab(
    page: Any, keyed_service: str, pictures: dict[str, Path]
) -> None:
    page.goto(keyed_service + "/")
    page.wait_for_selector("#key-section:not([hidden])")
    assert page.is_hidden("#workspace") and page.is_hidden("#docs-link")
    shot(page, "11-key-asked")
    page.fill("#api-key", "not-the-key")
    page.click("#key-form button[type=submit]")
    expect(page.locator("#key-error")).to_contain_text("not accepted")
    shot(page, "12-key-refused")
    page.fill("#api-key", KEY)
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#workspace:not([hidden])")
    assert page.evaluate("sessionStorage.getItem('faceswap.apiKey')") == KEY
    assert page.evaluate("localStorage.length") == 0
    choose_pictures(page, pictures)
    assert page.locator("#target-picker .face").count() == 2, "/faces was called with the key"
    assert page.is_hidden("#docs-link"), "the browser manual is off when the service has a key"
    shot(page, "13-key-accepted")


def test_on_a_phone_sized_screen_with_the_keyboard_alone(
    browser_context: Any, service: str, pictures: dict[str, Path]
) -> None:
    page = browser_context.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    open_playground(page, service)
    choose_pictures(page, pictures)
    page.focus("#target-picker .face >> nth=0")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "target face 2"
    page.keyboard.press("Space")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    pressed = "[...document.querySelectorAll('#target-picker .face')].map((face) => face.ariaPressed)"
    assert page.evaluate(pressed) == ["false", "true"]
    page.focus("#swap-button")
    page.keyboard.press("Enter")
    page.wait_for_selector("#result-section:not([hidden])")
    assert page.evaluate("document.activeElement.id") == "result-title"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "nothing wider than the screen"
    shot(page, "14-phone-result")
    page.close()


# Every control named for assistive technology, and the contrast of text on its background (WCAG AA: 4.5).
AUDIT = """() => {
  const unnamed = [...document.querySelectorAll('#main input, #main select, #main button, #main a')]
    .filter((node) => !(node.labels?.length || node.getAttribute('aria-label')
                       || node.getAttribute('aria-labelledby') || node.textContent.trim()))
    .map((node) => node.outerHTML.slice(0, 80));
  const rgb = (text) => text.match(/[\\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => [r, g, b].map((v) => v / 255)
    .map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4))
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (node) => {
    for (let at = node; at; at = at.parentElement) {
      const colour = rgb(getComputedStyle(at).backgroundColor);
      if (colour.length < 4 || colour[3] > 0) return colour.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const node of document.querySelectorAll('#main *')) {
    const own = [...node.childNodes].some((child) => child.nodeType === 3 && child.textContent.trim());
    if (!own || node.closest('[hidden]') || node.closest('.stage, .compare')) continue;
    const [a, b] = [luminance(rgb(getComputedStyle(node).color)), luminance(background(node))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push(`${node.tagName}.${node.className}: ${ratio.toFixed(2)}`);
  }
  return {unnamed, low};
}"""


def test_every_control_is_named_and_text_has_enough_contrast(
    page: Any, service: str, pictures: dict[str, Path]
) -> None:
    open_playground(page, service)
    choose_pictures(page, pictures)
    page.check("[data-field='face_mask'] .use input")
    page.check("[data-field='face_enhancer'] .use input")
    page.click("#swap-button")
    page.wait_for_selector("#result-section:not([hidden])")
    audit = page.evaluate(AUDIT)
    assert audit == {"unnamed": [], "low": []}
