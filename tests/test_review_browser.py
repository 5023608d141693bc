"""The review page in a real browser: Debian's chromium, headless, driven by Playwright.

Browser builds cannot be downloaded here, so the system's chromium is launched
(`apt-get install chromium`; .ci/run installs it). The tests are skipped, saying why, only when
chromium or the playwright package cannot be found.
"""

from __future__ import annotations

import importlib.util
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagine.ledger.store import Ledger
from imagine.review.server import ReviewServer
from tests.helpers import Cli
from tests.review_helpers import HOSTILE_PROMPT, Started, make_renders, serve, stop

# Looked for here, imported by the browser fixture: every worker collects this module, one runs it.
if importlib.util.find_spec("playwright") is None:
    pytest.skip(
        "the playwright package is not installed (pip install -e .[dev])", allow_module_level=True
    )
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("no chromium on PATH (apt-get install chromium)", allow_module_level=True)

VIEWPORT = {"width": 1280, "height": 800}  # a laptop screen


def _expect(target: Any) -> Any:
    from playwright.sync_api import expect

    return expect(target)


@pytest.fixture(scope="module")
def browser(library: tuple[Path, Path]) -> Iterator[Any]:
    """One headless chromium for the module (each xdist worker starts its own). The renders
    are made first: Playwright's sync API keeps an event loop running in this thread, and the
    engine runs its own."""
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(home, project) with three simulated renders, shared by the module's tests; each test
    reviews takes of its own."""
    root = tmp_path_factory.mktemp("review")
    home, project = root / "home", root / "work"
    project.mkdir()
    make_renders(Cli(), project, env={"IMAGINE_HOME": str(home)})
    return home, project


@pytest.fixture
def server(library: tuple[Path, Path]) -> Iterator[ReviewServer]:
    home, project = library
    running = serve(home / "ledger.sqlite3", project, Started())
    yield running
    stop(running)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT)
    opened = context.new_page()
    yield opened
    context.close()


def _state(library: tuple[Path, Path], seq: int) -> str | None:
    with Ledger.open(library[0] / "ledger.sqlite3") as ledger:
        return ledger.resolve(f"@{seq}").review_state


def _card(page: Any, library: tuple[Path, Path], seq: int) -> Any:
    with Ledger.open(library[0] / "ledger.sqlite3") as ledger:
        job_id = ledger.resolve(f"@{seq}").id
    return page.locator(f'.take[data-job="{job_id}"]')


def _png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_page_renders_takes_with_posters_and_a_sensible_screenshot(
    page: Any, server: ReviewServer, browser: Any
) -> None:
    answer = page.goto(server.url)
    assert answer.status == 200
    assert page.locator(".take").count() == 3
    assert page.locator(".take .n").all_inner_texts() == [
        "take 1 of 1",
        "take 1 of 2",
        "take 2 of 2",
    ]
    text = page.inner_text("main")
    assert HOSTILE_PROMPT in text  # shown as text, not run as markup
    assert page.title().startswith("imagine review")
    assert page.locator("main img").count() == 0
    posters = page.eval_on_selector_all("video", "vs => vs.map(v => v.poster)")
    assert len(posters) == 3
    for poster in posters:
        assert page.request.get(poster).status == 200
    shot = page.screenshot(full_page=True)
    width, height = _png_size(shot)
    assert width == VIEWPORT["width"] and height >= 400
    assert _colours(browser, shot) > 50  # posters and text, not a blank page


def _colours(browser: Any, png: bytes) -> int:
    """How many distinct colours a screenshot has, counted by the browser on a blank page."""
    import base64

    blank = browser.new_page()
    try:
        return int(
            blank.evaluate(
                """async (src) => {
                    const img = new Image();
                    img.src = src;
                    await img.decode();
                    const canvas = new OffscreenCanvas(img.width, img.height);
                    const ctx = canvas.getContext('2d');
                    ctx.drawImage(img, 0, 0);
                    const data = ctx.getImageData(0, 0, img.width, img.height).data;
                    const seen = new Set();
                    for (let i = 0; i < data.length; i += 4 * 7) {
                        seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
                    }
                    return seen.size;
                }""",
                "data:image/png;base64," + base64.b64encode(png).decode(),
            )
        )
    finally:
        blank.close()


def test_clicking_approve_writes_the_ledger(
    page: Any, server: ReviewServer, library: tuple[Path, Path]
) -> None:
    page.goto(server.url)
    card = _card(page, library, 1)
    card.get_by_role("button", name="Approve").click()
    _expect(card).to_have_attribute("data-state", "approved")
    assert _state(library, 1) == "approved"
    home = library[0]
    listed = Cli().run("list", "--review", "approved", env={"IMAGINE_HOME": str(home)})
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == ["1"]
    page.reload()  # the page is drawn from the ledger
    _expect(_card(page, library, 1)).to_have_attribute("data-state", "approved")


def test_the_keyboard_moves_and_decides(
    page: Any, server: ReviewServer, library: tuple[Path, Path]
) -> None:
    page.goto(server.url)
    first = _card(page, library, 3)
    _expect(first).to_be_focused()
    page.keyboard.press("r")
    _expect(first).to_have_attribute("data-state", "rejected")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    second = _card(page, library, 2)
    _expect(second).to_be_focused()
    page.keyboard.press("a")
    _expect(second).to_have_attribute("data-state", "approved")
    assert (_state(library, 3), _state(library, 2)) == ("rejected", "approved")
    page.keyboard.press("u")
    _expect(second).to_have_attribute("data-state", "pending")
    page.keyboard.press("p")  # promote is not in this build: the page says so
    _expect(page.locator("#status")).to_contain_text("not here")


def test_without_the_token_or_outside_the_renders_nothing_is_served(
    page: Any, server: ReviewServer, library: tuple[Path, Path]
) -> None:
    assert page.goto(server.origin + "/").status == 403
    assert page.goto(server.origin + "/" + "x" * len(server.token) + "/").status == 403
    secret = library[1].parent / "secret.txt"
    secret.write_text("secret")
    for path in ("video/..%2F..%2Fsecret.txt", "%2e%2e/%2e%2e/secret.txt", "poster/..%2fsecret"):
        answer = page.request.get(server.url + path)
        assert answer.status in (403, 404), path
        assert b"secret" not in answer.body()


def test_the_browser_plays_a_video_served_in_ranges(
    page: Any, server: ReviewServer, library: tuple[Path, Path]
) -> None:
    with Ledger.open(library[0] / "ledger.sqlite3") as ledger:
        job = ledger.resolve("@2")
    data = Path(job.output_path).read_bytes()
    page.goto(server.url)
    part = page.request.get(server.url + "video/" + job.id, headers={"Range": "bytes=16-47"})
    assert part.status == 206
    assert part.headers["content-range"] == f"bytes 16-47/{len(data)}"
    assert part.body() == data[16:48]
    video = _card(page, library, 2).locator("video")
    duration = video.evaluate(
        """(v) => new Promise((done, fail) => {
            v.addEventListener('loadedmetadata', () => done(v.duration), {once: true});
            v.addEventListener('error', () => fail(String(v.error && v.error.message)), {once: true});
            v.preload = 'metadata';
            v.load();
        })"""
    )
    assert 0.5 < duration < 2.0  # a one-second render, read by the browser's own player
