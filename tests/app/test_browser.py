"""Real browser tests: Debian's chromium (Playwright) against ``python -m twin demo --server``.

Each module-scoped server runs the real demo (generated city, DuckDB store, in-process
simulator) on a free port; screenshots go to ``tmp_path`` and their pixels are analysed.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.app.conftest import BUILDINGS, free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VIEW = '[data-testid="view3d"]'


class Server:
    """``python -m twin demo --server`` on a port, restartable on the same port."""

    def __init__(self, port: int, cache: Path, log: Path, *extra: str) -> None:
        self.port, self.cache, self.log, self.extra = port, cache, log, extra
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return ["demo", "--buildings", str(BUILDINGS), *self.extra]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 120.0) -> None:
        env = dict(os.environ, TWIN_CACHE_DIR=str(self.cache), PYVISTA_OFF_SCREEN="true")
        cmd = [sys.executable, "-m", "twin", *self.command(), "--server", "--port", str(self.port)]
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited with {self.proc.returncode}: {self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.url, timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        pytest.fail(f"server did not answer within {timeout} s: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def _server(tmp_path_factory, *extra: str):
    folder = tmp_path_factory.mktemp("server")
    server = Server(free_port(), folder / "cache", folder / "server.log", *extra)
    server.start()
    return server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = _server(tmp_path_factory)
    yield s
    s.stop()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    pg.goto(server.url)
    _wait_for_frame(pg)
    # the demo simulator backfills 24 h of readings after start-up; the page says when done
    pg.locator('[data-testid="timebar"][data-loading="false"]').wait_for(timeout=180000)
    yield pg
    context.close()


def _view_pixels(page, path: Path | None = None) -> np.ndarray:
    from PIL import Image

    png = page.locator(VIEW).screenshot(path=str(path) if path else None)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


def _has_city(pixels: np.ndarray) -> bool:
    """Whether the view shows a rendered scene: many distinct colours, not one flat fill."""
    flat = pixels.reshape(-1, 3)
    distinct = len(np.unique(flat[:: max(1, len(flat) // 20000)], axis=0))
    return distinct > 150 and float(flat.std(axis=0).mean()) > 8.0


def _wait_for_frame(page, timeout: float = 60.0) -> np.ndarray:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.locator(f"{VIEW} img").count():
            pixels = _view_pixels(page)
            if _has_city(pixels):
                return pixels
        page.wait_for_timeout(250)
    pytest.fail("the 3D view never showed a rendered city")


def _changed(
    page, before: np.ndarray, *, timeout: float, min_fraction: float, threshold: int
) -> bool:
    """Whether the view differs from ``before`` (poll until ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = _view_pixels(page)
        diff = np.abs(now - before) > threshold if now.shape == before.shape else None
        if diff is not None and np.any(diff, axis=2).mean() >= min_fraction:
            return True
        page.wait_for_timeout(100)
    return False


def _wait_for_change(
    page,
    before: np.ndarray,
    *,
    timeout: float,
    min_fraction: float = 0.002,
    threshold: int = 24,
    path=None,
):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = _view_pixels(page)
        if now.shape == before.shape:
            changed = np.any(np.abs(now - before) > threshold, axis=2).mean()
            if changed >= min_fraction:
                return now
        page.wait_for_timeout(100)
    if path is not None:
        from PIL import Image

        Image.fromarray(before.astype(np.uint8)).save(path.with_name(path.stem + "-before.png"))
        Image.fromarray(now.astype(np.uint8)).save(path)
    pytest.fail(f"the view did not change within {timeout} s")


def _text(page, testid: str) -> str:
    return page.locator(f'[data-testid="{testid}"]').first.inner_text()


def test_page_shows_the_city_and_the_synthetic_label(page, tmp_path):
    pixels = _view_pixels(page, tmp_path / "overview.png")
    assert _has_city(pixels)
    assert "Synthetische Demo-Stadt (generiert, keine echten Daten)" in _text(
        page, "synthetic-label"
    )
    assert page.locator(f"{VIEW} img").count() == 1  # server-side rendering
    assert "ppm" in _text(page, "legend")


def test_search_then_click_opens_the_building_card(page, tmp_path):
    search = page.locator('[data-testid="search"] input')
    search.fill("Rathaus")
    search.press("Enter")
    page.locator('[data-testid="search-results"]').wait_for()
    page.locator('[data-testid="info-card"]').wait_for(timeout=10000)
    page.locator('[data-testid="info-card"] button').first.click()  # close it again
    page.locator('[data-testid="info-card"]').wait_for(state="detached", timeout=10000)
    page.wait_for_timeout(2500)  # the camera flight to the result ends
    box = page.locator(VIEW).bounding_box()
    # the flight looks at the roof centre, where the sensor glyph sits: click beside it
    page.mouse.click(box["x"] + box["width"] / 2 + 25, box["y"] + box["height"] / 2 + 25)
    card = page.locator('[data-testid="info-card"]')
    card.wait_for(timeout=10000)
    page.screenshot(path=str(tmp_path / "card.png"))
    assert "demo/rathaus" in card.inner_text()


def test_quantity_switch_changes_legend_and_colours(page, tmp_path):
    # look at the Rathaus (CO₂ sensor inside, no noise sensor)
    search = page.locator('[data-testid="search"] input')
    search.fill("Rathaus")
    search.press("Enter")
    page.locator('[data-testid="info-card"]').wait_for(timeout=10000)
    page.wait_for_timeout(2500)  # the camera flight ends
    before_legend = _text(page, "legend-title")
    assert "ppm" in before_legend
    before = _view_pixels(page, tmp_path / "co2.png")
    page.locator('[data-testid="quantity"]').click()
    page.get_by_role("option", name="Lärm").click()
    page.wait_for_function(
        "t => document.querySelector('[data-testid=legend-title]').innerText !== t",
        arg=before_legend,
        timeout=10000,
    )
    assert "dB" in _text(page, "legend-title")
    # the Rathaus loses its CO₂ colour: it has no noise sensor
    _wait_for_change(page, before, timeout=10, path=tmp_path / "unchanged.png")
    _view_pixels(page, tmp_path / "noise.png")
    page.locator('[data-testid="quantity"]').click()
    page.get_by_role("option", name="CO₂").click()


def test_time_slider_changes_colours(page, tmp_path):
    assert _text(page, "time-label") == "Live"
    # Temperature follows the time of day every day (heating schedules, the sun); CO₂ may be
    # flat for a whole night or weekend, so that a moment a day ago can look like now.
    page.locator('[data-testid="quantity"]').click()
    page.get_by_role("option", name="Temperatur").click()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=legend-title]').innerText.includes('°C')",
        timeout=10000,
    )
    page.get_by_role("button", name="Ansicht zurücksetzen").click()  # all sensors in view
    page.wait_for_timeout(2500)  # the camera flight ends
    before = _view_pixels(page)
    slider = page.locator('[data-testid="time-slider"]')
    box = slider.bounding_box()
    label = "Live"
    changed = False
    # 12, 18 and 6 hours back in the day of history: at least one is another part of the day
    for fraction in (0.5, 0.25, 0.75):
        page.mouse.click(box["x"] + box["width"] * fraction, box["y"] + box["height"] / 2)
        page.wait_for_function(
            "t => document.querySelector('[data-testid=time-label]').innerText !== t",
            arg=label,
            timeout=10000,
        )
        label = _text(page, "time-label")
        assert label.startswith("Stand:")
        if _changed(page, before, timeout=6, min_fraction=0.0002, threshold=12):
            changed = True
            break
    _view_pixels(page, tmp_path / "past.png")
    page.locator('[data-testid="live"]').click()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=time-label]').innerText === 'Live'",
        timeout=10000,
    )
    page.locator('[data-testid="quantity"]').click()
    page.get_by_role("option", name="CO₂").click()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=legend-title]').innerText.includes('ppm')",
        timeout=10000,
    )
    assert changed, f"no colour changed at 6, 12 or 18 hours ago (last: {label})"


def test_language_switch_changes_labels(page):
    assert "Sensoren" in _text(page, "sensor-table")
    page.locator('[data-testid="lang-en"]').click()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=synthetic-label]').innerText"
        ".startsWith('Synthetic demo city')",
        timeout=10000,
    )
    assert "Sensors in view" in _text(page, "sensor-table")
    assert _text(page, "title").startswith("Ludwigshafen digital twin")
    page.locator('[data-testid="lang-de"]').click()


def test_simple_view_enlarges_text(page, tmp_path):
    size = (
        "() => parseFloat(getComputedStyle("
        "document.querySelector('[data-testid=legend-title]')).fontSize)"
    )
    normal = page.evaluate(size)
    page.locator('[data-testid="simple"] input').click()
    page.wait_for_function(f"() => ({size})() > {normal}", timeout=10000)
    assert page.evaluate(size) >= 1.4 * normal
    page.screenshot(path=str(tmp_path / "simple.png"))
    page.locator('[data-testid="simple"] input').click()
    # leave the shared page as found: the next tests expect the normal view
    page.wait_for_function(f"() => ({size})() <= {normal}", timeout=10000)


def test_controls_have_accessible_names(page):
    for testid in ("quantity", "search", "play", "time-slider", "live", "lang-en", "simple"):
        el = page.locator(f'[data-testid="{testid}"]').first
        # Vuetify moves aria attributes of inputs onto the inner <input>
        inner = el.locator("input, [role=slider]")
        name = el.get_attribute("aria-label") or (
            inner.first.get_attribute("aria-label") if inner.count() else None
        )
        assert name, testid


def test_keyboard_focus_is_visible_and_enter_works(page, tmp_path):
    """Tab reaches the language buttons, the focus ring is drawn, Enter switches the language."""
    focused = (
        "() => { const e = document.activeElement; const c = getComputedStyle(e);"
        " return [e.closest('[data-testid]')?.getAttribute('data-testid') || '',"
        " c.outlineStyle, parseFloat(c.outlineWidth)]; }"
    )
    page.locator('[data-testid="title"]').first.click()  # start from the top of the page
    for _ in range(12):
        page.keyboard.press("Tab")
        testid, style, width = page.evaluate(focused)
        if testid == "lang-en":
            break
    else:
        pytest.fail("Tab never reached the English button")
    page.screenshot(path=str(tmp_path / "focus.png"))
    assert style != "none" and width >= 2, (style, width)  # Vuetify's own ring is a faint tint
    page.keyboard.press("Enter")
    page.wait_for_function(  # the table's English title, in the normal or the simple view
        "() => { const t = document.querySelector('[data-testid=sensor-table]').innerText;"
        " return t.includes('Sensors in view') || t.includes('Measuring devices'); }",
        timeout=10000,
    )
    page.locator('[data-testid="lang-de"]').click()


def test_space_on_a_table_row_shows_its_card_in_view(page, tmp_path):
    """Keyboard users pick a sensor with Space (or Enter) and see its card without scrolling."""
    page.locator('[data-testid="simple"] input').click()  # large text: the table is far down
    row = page.locator('[data-testid="sensor-table"] tr.twin-row').last
    row.scroll_into_view_if_needed()
    device = row.get_attribute("data-device")
    row.focus()
    page.keyboard.press("Space")
    card = page.locator('[data-testid="info-card"]')
    card.wait_for(timeout=10000)
    page.wait_for_function(
        "d => document.querySelector('[data-testid=info-card]').innerText.includes(d)",
        arg=device,
        timeout=10000,
    )
    page.screenshot(path=str(tmp_path / "row-card.png"))
    box, side = card.bounding_box(), page.locator(".twin-side").bounding_box()
    assert side["y"] <= box["y"] < side["y"] + side["height"] - 40, (box, side)
    page.locator('[data-testid="info-card"] button').first.click()
    page.locator('[data-testid="simple"] input').click()


def test_reconnects_after_server_restart(page, server, tmp_path):
    old_src = page.locator(f"{VIEW} img").get_attribute("src")
    server.stop()
    page.locator('[data-testid="offline-banner"]').wait_for(timeout=15000)
    server.start()
    page.wait_for_function(
        "() => !document.getElementById('twin-offline') && document.querySelector("
        "'[data-testid=view3d] img')",
        timeout=60000,
    )
    pixels = _wait_for_frame(page)
    assert page.locator(f"{VIEW} img").get_attribute("src") != old_src
    assert _has_city(pixels)
    page.screenshot(path=str(tmp_path / "reconnected.png"))


@pytest.fixture(scope="module")
def kiosk_server(tmp_path_factory):
    s = _server(tmp_path_factory, "--kiosk", "--tour-seconds", "4")
    yield s
    s.stop()


def test_kiosk_tour_advances_without_input(browser, kiosk_server, tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = context.new_page()
        page.goto(kiosk_server.url)
        _wait_for_frame(page)
        assert page.locator('[data-testid="quantity"]').count() == 0  # controls hidden
        caption = page.locator('[data-testid="caption"] h2')
        caption.wait_for(timeout=20000)
        first = caption.inner_text()
        page.wait_for_function(
            "t => document.querySelector('[data-testid=caption] h2').innerText !== t",
            arg=first,
            timeout=20000,
        )
        page.screenshot(path=str(tmp_path / "kiosk.png"))
        assert caption.inner_text() != first
    finally:
        context.close()


def test_local_rendering_draws_the_city_in_the_browser(browser, tmp_path_factory, tmp_path):
    server = _server(tmp_path_factory, "--local-rendering")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto(server.url)
        page.locator(f"{VIEW} canvas").first.wait_for(timeout=60000)
        deadline = time.monotonic() + 60
        pixels = _view_pixels(page)
        while not _has_city(pixels) and time.monotonic() < deadline:
            page.wait_for_timeout(500)
            pixels = _view_pixels(page)
        _view_pixels(page, tmp_path / "local.png")
        assert _has_city(pixels), "vtk.js drew no city"
        assert page.locator(f"{VIEW} img").count() == 0  # no server-side frames
    finally:
        context.close()
        server.stop()
