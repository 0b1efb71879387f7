"""Local rendering (``--local-rendering``, vtk.js in Chromium): colour patches, picks, camera.

A real demo server (``python -m twin demo --local-rendering --server``) and Debian's
chromium via Playwright. The websocket frames the page receives are decoded (wslink chunks,
msgpack) to check what a colour update costs on the wire.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.app.test_browser import VIEW, _has_city, _server, _view_pixels

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: Arrays of the vtk.js scene: the colours of every coloured dataset, as lists of bytes.
COLOURS_JS = """
() => {
  const r = window.trame.refs && Object.values(window.trame.refs)[0];
  const v = r && r.$.provides.view;
  if (!v || !v.renderer) return null;
  const out = {};
  for (const a of v.renderer.getActors()) {
    const ds = a.getMapper() && a.getMapper().getInputData();
    const arr = ds && ds.getCellData().getArrayByName('colors');
    if (arr) out[a.get('remoteId').remoteId] = Array.from(arr.getData());
  }
  return out;
}
"""
CAMERA_JS = "() => Object.values(window.trame.refs)[0].getCamera()"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = _server(tmp_path_factory, "--local-rendering")
    yield s
    s.stop()


def _open(browser, server, frames: list | None = None):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    if frames is not None:

        def on_ws(ws):
            ws.on("framereceived", lambda p: frames.append((time.monotonic(), "in", p)))
            ws.on("framesent", lambda p: frames.append((time.monotonic(), "out", p)))

        page.on("websocket", on_ws)
    page.goto(server.url)
    page.locator(f"{VIEW} canvas").first.wait_for(timeout=60000)
    page.locator('[data-testid="timebar"][data-loading="false"]').wait_for(timeout=180000)
    page.wait_for_function("() => window.twinLocal && window.twinLocal.patches > 0", timeout=30000)
    deadline = time.monotonic() + 30
    while not _has_city(_view_pixels(page)) and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    return context, page


def _decode(frames) -> list[tuple[str, int, object]]:
    """Reassemble wslink's chunked msgpack frames: ``(direction, bytes, message)``."""
    import msgpack
    from wslink.chunking import UnChunker

    chunkers = {"in": UnChunker(), "out": UnChunker()}
    for u in chunkers.values():
        u.set_max_message_size(1 << 30)
    sizes: dict = {}
    out = []
    for _, direction, payload in frames:
        if not isinstance(payload, bytes | bytearray):
            out.append((direction, len(payload), payload))
            continue
        key = (direction, bytes(payload[:4]))
        sizes[key] = sizes.get(key, 0) + len(payload)
        message = chunkers[direction].process_chunk(bytes(payload))
        if message is not None:
            if isinstance(message, bytes | bytearray):
                message = msgpack.unpackb(message, strict_map_key=False)
            out.append((direction, sizes.pop(key), message))
    return out


def _kind(message) -> str:
    if not isinstance(message, dict):
        return "other"
    if message.get("method"):
        return str(message["method"])
    return str(message.get("id", "")).rsplit(":", 1)[0]


def test_colour_updates_send_only_the_changed_cells(browser, server, tmp_path):
    frames: list = []
    context, page = _open(browser, server, frames)
    try:
        colours = page.evaluate(COLOURS_JS)
        whole = sum(len(v) for v in colours.values())  # bytes of all colour arrays
        start = len(frames)
        before = page.evaluate("() => window.twinLocal.patches")
        page.wait_for_function(
            f"() => window.twinLocal.patches >= {before + 2}", timeout=120000
        )  # the live simulator publishes: two colour updates
        messages = _decode(frames[start:])
        kinds: dict[str, list[int]] = {}
        for direction, size, message in messages:
            kinds.setdefault(f"{direction}:{_kind(message)}", []).append(size)
        patches = kinds.get("in:publish:twin.local.colors", [])
        assert len(patches) >= 2, kinds.keys()
        # no re-sent scene, no array fetches, no full scene state, no camera pushes
        assert "out:viewport.geometry.array.get" not in kinds, kinds.keys()
        assert "in:publish:trame.vtk.delta" not in kinds, kinds.keys()
        states = [m for d, _, m in messages if _kind(m) == "publish:trame.state.topic"]
        assert not any(k.startswith("scene_") for m in states for k in (m.get("result") or {})), (
            "the full scene description went out again"
        )
        assert "in:publish:trame.actions.topic" not in kinds  # setCamera
        per_update = float(np.median(patches))
        (tmp_path / "bytes.txt").write_text(
            f"colour arrays {whole} B, median patch {per_update:.0f} B over {len(patches)}\n"
        )
        assert per_update < 0.1 * whole, (per_update, whole)
        page.screenshot(path=str(tmp_path / "local.png"))
    finally:
        context.close()


def test_patched_colours_equal_a_fresh_page(browser, server, tmp_path):
    """Colours patched into the browser for a while equal what a newly loaded page gets."""
    context, page = _open(browser, server)
    try:
        page.wait_for_function("() => window.twinLocal.patches >= 3", timeout=120000)
        fresh_context, fresh = _open(browser, server)
        try:
            deadline = time.monotonic() + 30
            while True:  # readings arrive all the time: compare at a quiet moment
                a, b = page.evaluate(COLOURS_JS), fresh.evaluate(COLOURS_JS)
                if a == b or time.monotonic() > deadline:
                    break
                page.wait_for_timeout(100)
            assert set(a) == set(b)
            diff = {k: int(np.sum(np.array(a[k]) != np.array(b[k]))) for k in a}
            assert a == b, diff
        finally:
            fresh_context.close()
    finally:
        context.close()


def test_quantity_switch_recolours_the_browser_view(browser, server, tmp_path):
    context, page = _open(browser, server)
    try:
        before_colours = page.evaluate(COLOURS_JS)
        before = _view_pixels(page, tmp_path / "co2.png")
        page.locator('[data-testid="quantity"]').click()
        page.get_by_role("option", name="Lärm").click()
        page.wait_for_function(
            "() => document.querySelector('[data-testid=legend-title]').innerText.includes('dB')",
            timeout=10000,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = _view_pixels(page)
            if np.any(np.abs(now - before) > 24, axis=2).mean() > 0.0005:
                break
            page.wait_for_timeout(100)
        _view_pixels(page, tmp_path / "noise.png")
        assert np.any(np.abs(now - before) > 24, axis=2).mean() > 0.0005, "no new colours"
        assert page.evaluate(COLOURS_JS) != before_colours
        page.locator('[data-testid="quantity"]').click()
        page.get_by_role("option", name="CO₂").click()
    finally:
        context.close()


def test_clicks_pick_glyphs_and_buildings_in_the_browser(browser, server, tmp_path):
    context, page = _open(browser, server)
    try:
        search = page.locator('[data-testid="search"] input')
        search.fill("Rathaus")
        search.press("Enter")
        card = page.locator('[data-testid="info-card"]')
        card.wait_for(timeout=10000)
        page.locator('[data-testid="info-card"] button').first.click()
        card.wait_for(state="detached", timeout=10000)
        page.wait_for_timeout(2500)  # the flight (pushed to the browser) ends on the roof
        box = page.locator(VIEW).bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.click(cx, cy)  # the CO₂ glyph on the roof's centre
        card.wait_for(timeout=10000)
        page.screenshot(path=str(tmp_path / "glyph.png"))
        text = card.inner_text()
        assert "CO₂ Rathaus, Ratssaal" in text and "ls-co2-rathaus-ratssaal" in text, text
        row = page.locator('[data-testid="sensor-table"] tr.twin-selected')
        assert row.get_attribute("data-device") == "ls-co2-rathaus-ratssaal"
        page.mouse.click(cx + 25, cy + 25)  # beside the glyph: the Rathaus itself
        page.wait_for_function(
            "() => document.querySelector('[data-testid=info-card]')"
            ".innerText.includes('demo/rathaus')",
            timeout=10000,
        )
        page.screenshot(path=str(tmp_path / "building.png"))
        # a drag rotates the camera; it does not pick
        page.mouse.move(cx - 200, cy)
        page.mouse.down()
        page.mouse.move(cx - 100, cy + 40, steps=8)
        page.mouse.up()
        page.wait_for_timeout(800)
        assert "demo/rathaus" in card.inner_text()
    finally:
        context.close()


def test_sensor_table_follows_the_browser_camera(browser, server, tmp_path):
    context, page = _open(browser, server)
    try:
        page.get_by_role("button", name="Ansicht zurücksetzen").click()
        count = "() => document.querySelectorAll('[data-testid=sensor-table] tr.twin-row').length"
        # the whole city comes into view: most sensors are listed (poll, the machine may be slow)
        page.wait_for_function(f"() => ({count})() >= 10", timeout=20000)
        page.wait_for_timeout(1000)  # let the flight settle; the count is re-read below
        everything = page.evaluate(count)
        assert everything >= 10
        box = page.locator(VIEW).bounding_box()
        # zoom into the empty south-west corner of the view with the mouse wheel
        page.mouse.move(box["x"] + 60, box["y"] + box["height"] - 60)
        for _ in range(15):
            page.mouse.wheel(0, -400)
            page.wait_for_timeout(40)
        page.wait_for_function(f"() => ({count})() < {everything}", timeout=10000)
        page.screenshot(path=str(tmp_path / "zoomed.png"))
        camera = page.evaluate(CAMERA_JS)
        page.wait_for_timeout(3500)  # colour updates and panel refreshes happen meanwhile
        after = page.evaluate(CAMERA_JS)
        np.testing.assert_allclose(after["position"], camera["position"], atol=1e-3)
        assert page.evaluate(count) < everything  # the server kept the browser's view
    finally:
        context.close()
