"""The simple view ("Einfache Ansicht") used as a senior would: German, keyboard only.

Chromium (Playwright) against ``python -m twin demo --server``: the switch is reached with
Tab and turned on with Space, a sensor is opened from the table with Enter, and the device
card must speak plainly (relative last message, "Messwerte", large charts with labelled
axes, no radio jargon). Screenshots go to ``tmp_path``.
"""

from __future__ import annotations

import re

import pytest

from tests.app.test_browser import VIEW, _server, _wait_for_frame

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FOCUSED = (
    "() => { const e = document.activeElement; const c = getComputedStyle(e);"
    " return [e.closest('[data-testid]')?.getAttribute('data-testid') || '',"
    " c.outlineStyle, parseFloat(c.outlineWidth), e.tagName]; }"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = _server(tmp_path_factory)
    yield s
    s.stop()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="de-DE")
    pg = context.new_page()
    pg.goto(server.url)
    _wait_for_frame(pg)
    pg.locator('[data-testid="timebar"][data-loading="false"]').wait_for(timeout=180000)
    yield pg
    context.close()


def _tab_to(page, testid: str, limit: int = 60) -> tuple:
    for _ in range(limit):
        page.keyboard.press("Tab")
        focus = page.evaluate(FOCUSED)
        if focus[0] == testid:
            return focus
    pytest.fail(f"Tab never reached {testid}")


def test_keyboard_only_senior_opens_a_device_card_in_plain_words(page, tmp_path):
    page.locator('[data-testid="title"]').click()  # start at the top, then keyboard only
    _, style, width, _ = _tab_to(page, "simple")
    assert style != "none" and width >= 3, "the focus on the switch must be seen"
    page.keyboard.press("Space")
    page.locator(".twin-simple").wait_for(timeout=10000)
    # plain words in the frame (the labels come from the server, a moment after the switch)
    page.get_by_role("button", name="Zurück zum Anfang").wait_for(timeout=10000)
    page.screenshot(path=str(tmp_path / "1-simple-view.png"))
    assert "Was wird gezeigt?" in page.locator('[data-testid="quantity"]').inner_text()
    legend = page.locator('[data-testid="legend"]').inner_text()
    assert "Alter Wert" in legend and "Veraltet" not in legend
    # on to the sensor table and open the first row with Enter
    _, style, width, tag = _tab_to(page, "sensor-table")
    assert tag == "TR" and style != "none" and width >= 3
    name = page.evaluate("() => document.activeElement.cells[0].innerText")
    page.keyboard.press("Enter")
    card = page.locator('[data-testid="info-card"]')
    card.wait_for(timeout=10000)
    page.wait_for_function(
        "n => document.querySelector('[data-testid=info-card]').innerText.includes(n)",
        arg=name.strip(),
        timeout=10000,
    )
    page.wait_for_timeout(500)
    page.screenshot(path=str(tmp_path / "2-device-card.png"))
    text = card.inner_text()
    assert "Messwerte" in text and "Sensoren" not in text
    seen = re.search(r"Letzte Meldung\s+(.+)", text)
    assert seen, text
    assert re.fullmatch(r"gerade eben|vor \d+ Minuten?|vor \d+ Stunden?", seen[1].strip()), seen[1]
    for jargon in ("RSSI", "SNR", "dBm", "DevEUI", "Kennung", "Batterie"):
        assert jargon not in text, jargon
    assert re.search(r"Funk-Empfang\s+[▮▯]{4} (sehr gut|gut|mittel|schwach)", text), text
    # large charts with readable axes: at least 400 px wide, a time axis in words
    charts = card.locator('[data-testid="chart"] svg')
    assert charts.count() >= 1
    box = charts.first.bounding_box()
    assert box["width"] >= 400 and box["height"] >= 170, box
    svg = charts.first.inner_html()
    assert "vor 24 Stunden" in svg and "jetzt" in svg
    sizes = page.evaluate(
        "() => [...document.querySelectorAll('[data-testid=chart] svg text')]"
        ".map(t => t.getBoundingClientRect().height)"
    )
    assert min(sizes) >= 16, sizes  # axis texts as large as body text, not 10 px
    # the card's own text is large
    size = page.evaluate(
        "() => parseFloat(getComputedStyle(document.querySelector("
        "'[data-testid=info-card] .twin-fields')).fontSize)"
    )
    assert size >= 20
    # the close button is reachable and answers Enter
    card.locator("button").first.focus()
    page.keyboard.press("Enter")
    card.wait_for(state="detached", timeout=10000)
    assert page.locator(f"{VIEW}").count() == 1
