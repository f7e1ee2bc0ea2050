"""The page in a real browser: Debian's Chromium, headless, driven by Playwright against ``lookalike serve``.

Screenshots are written to ``$LOOKALIKE_ARTIFACTS/browser`` (default: the test's temporary folder);
the test prints where.
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import small_image_bytes

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if CHROMIUM is None:
        pytest.skip("no chromium on this machine (make test installs Debian's chromium when run as root)")
    home = tmp_path / "home"  # Chromium writes under ~/.config even with a temporary profile
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("LOOKALIKE_ARTIFACTS", tmp_path)) / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"browser screenshots in {folder}")
    return folder


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_compare_and_search_in_the_page(browser: Any, live_server: Any, built_index: Path, tmp_path: Path,
                                        viewport: str) -> None:
    server = live_server(["--index", str(built_index)])
    shots = artifacts(tmp_path)
    a, b, query = tmp_path / "a.png", tmp_path / "b.jpg", tmp_path / "query.jpg"
    a.write_bytes(small_image_bytes("astronaut.png", longest=200))
    b.write_bytes(small_image_bytes("astronaut.png", longest=200, fmt="JPEG"))
    query.write_bytes(small_image_bytes("chelsea.png", fmt="JPEG", longest=110))

    page = browser.new_page(viewport=VIEWPORTS[viewport])
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith((server.url, "blob:", "data:")) else outside.append(r.url))
    page.goto(server.url + "/")
    page.wait_for_function("() => document.getElementById('health').textContent.includes('images indexed')")
    assert page.text_content("#health") == "5 images indexed"

    # compare: two files, the scores shown, the difference picture and the match drawing loaded
    page.set_input_files("#file-a", str(a))
    page.set_input_files("#file-b", str(b))
    page.click("#compare-button")
    page.wait_for_selector("#compare-scores td[data-metric='ssim']")
    ssim = float(page.text_content("#compare-scores td[data-metric='ssim']") or "nan")
    assert 0.8 < ssim < 1.0
    psnr = float(page.text_content("#compare-scores td[data-metric='psnr']") or "nan")
    assert 25 < psnr < 60
    page.wait_for_function("() => document.getElementById('matches').complete && "
                           "document.getElementById('matches').naturalWidth > 0")
    assert page.evaluate("document.getElementById('difference').naturalWidth") > 0
    assert int(page.text_content("#match-summary dd[data-field='inliers']") or "0") > 10
    page.screenshot(path=str(shots / f"compare-{viewport}.png"), full_page=True)

    # search: the grid of thumbnails with percentages, largest first
    page.set_input_files("#file-q", str(query))
    page.select_option("#top", "10")
    page.click("#search-button")
    page.wait_for_selector("#results li")
    percentages = [float(t.rstrip("%")) for t in page.locator("#results .pct").all_text_contents()]
    assert len(percentages) == 5 and percentages == sorted(percentages, reverse=True) and percentages[0] > 70
    assert page.locator("#results .name").first.text_content() == "chelsea.png"
    page.wait_for_function("() => [...document.querySelectorAll('#results img')]"
                           ".every(i => i.complete && i.naturalWidth)")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[viewport]["width"]  # nothing wider than the screen
    page.screenshot(path=str(shots / f"search-{viewport}.png"), full_page=True)

    # keyboard: the first result is reachable by Tab and opens the pair's comparison with Enter
    page.locator("#results li button").first.focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#drop-b .drop-text').textContent.includes('from the index')")
    page.wait_for_selector("#compare-scores:not([hidden]) td[data-metric='ssim']")
    assert errors == [] and outside == []
    page.close()


def test_the_page_is_usable_with_the_keyboard(browser: Any, live_server: Any, tmp_path: Path) -> None:
    server = live_server([])
    page = browser.new_page(viewport=VIEWPORTS["phone"])
    page.goto(server.url + "/")
    page.wait_for_function("() => document.getElementById('health').textContent.length > 0 && "
                           "!document.getElementById('health').textContent.includes('connecting')")
    reached = []
    for _ in range(12):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
    assert {"file-a", "file-b", "metrics", "do-match", "compare-button", "file-q", "top", "kind"} <= set(reached)
    assert page.is_disabled("#search-button")  # no index served: search is off, and out of the tab order
    # without an image, the page says what to do (an alert), instead of failing silently
    page.focus("#compare-button")
    page.keyboard.press("Enter")
    assert page.text_content("#compare-error") == "choose two images first"
    # drag and drop: a file dropped on each zone, compared with the keyboard
    for zone, name, fmt in (("#drop-a", "camera.png", "PNG"), ("#drop-b", "camera.png", "JPEG")):
        data = base64.b64encode(small_image_bytes(name, fmt=fmt)).decode()
        dropped = page.evaluate_handle(
            "([data, name]) => { const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));"
            " const dt = new DataTransfer(); dt.items.add(new File([bytes], name)); return dt; }",
            [data, f"dropped-{fmt.lower()}"])
        page.dispatch_event(zone, "drop", {"dataTransfer": dropped})
    assert page.text_content("#drop-b .drop-text") == "dropped-jpeg"
    page.focus("#compare-button")
    page.keyboard.press("Enter")
    page.wait_for_selector("#compare-scores:not([hidden]) td[data-metric='ssim']")
    assert 0.8 < float(page.text_content("#compare-scores td[data-metric='ssim']") or "nan") < 1.0
    page.close()


def test_add_images_from_the_page_with_progress(browser: Any, live_server: Any, index_copy: Path, key_file: Path,
                                                tmp_path: Path) -> None:
    from tests.web.conftest import API_KEY, noise_png

    server = live_server(["--index", str(index_copy), "--allow-writes", "--api-key-file", str(key_file)])
    files = []
    for k in range(2):
        files.append(tmp_path / f"new-{k}.png")
        files[-1].write_bytes(noise_png(300 + k, size=80))
    page = browser.new_page(viewport=VIEWPORTS["phone"])
    page.goto(server.url + "/")
    page.wait_for_selector("#add-section:not([hidden])")  # shown because the server allows writes
    page.set_input_files("#file-add", [str(f) for f in files])
    page.fill("#api-key", "not the key")
    page.click("#add-button")
    page.wait_for_function("() => document.getElementById('add-status').textContent.includes('API key')")
    page.fill("#api-key", API_KEY)
    page.click("#add-button")
    page.wait_for_function("() => document.getElementById('add-status').textContent.startsWith('added')")
    assert page.text_content("#add-status") == "added 2 image(s); the index holds 7"
    assert page.evaluate("document.getElementById('add-progress').value") == 2  # from the job's events
    page.wait_for_function("() => document.getElementById('health').textContent === '7 images indexed'")
    page.screenshot(path=str(artifacts(tmp_path) / "add-phone.png"), full_page=True)
    page.close()


def test_a_search_shows_the_querys_label_when_the_index_is_labelled(browser: Any, live_server: Any, labelled: Path,
                                                                     tmp_path: Path) -> None:
    server = live_server(["--index", str(labelled / ".lookalike-index")])
    query = tmp_path / "query.jpg"
    query.write_bytes(small_image_bytes("coffee.jpg", fmt="JPEG", longest=100))
    page = browser.new_page(viewport=VIEWPORTS["phone"])
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url + "/")
    page.wait_for_function("() => document.getElementById('health').textContent.includes('images indexed')")
    page.set_input_files("#file-q", str(query))
    page.click("#search-button")
    page.wait_for_selector("#search-label:not([hidden])")
    assert (page.text_content("#search-label") or "").startswith("Label: cats and cups (")
    page.screenshot(path=str(artifacts(tmp_path) / "search-label-phone.png"), full_page=True)
    assert errors == []
    page.close()
