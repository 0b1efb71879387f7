"""A sensor database that is down at start-up: the twin starts, says so, and picks it up later.

The database is held for writing by another real process (as a running ``twin ingest``
would), so DuckDB refuses to open it; releasing the lock must bring live data without a
restart. Files that are not a database stay user errors (exit code 2, one line).
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from tests.app.conftest import free_port
from tests.sensors.conftest import wait_until
from twin.errors import StoreError

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "sensors" / "devices.toml"

#: Holds a twin database open for writing until its stdin closes.
LOCKER = (
    "import sys\n"
    "from twin.sensors.store import Store\n"
    "store = Store(sys.argv[1])\n"
    "print('locked', flush=True)\n"
    "sys.stdin.read()\n"
    "store.close()\n"
)


class Locker:
    """Another process holding the DuckDB file open for writing."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LOCKER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        line = self.proc.stdout.readline()  # blocks until the lock is held (or it died)
        assert line.strip() == b"locked", f"the locking process failed: {line!r}"

    def release(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


@pytest.fixture
def locked_db(tmp_path):
    db = tmp_path / "data" / "twin.duckdb"
    db.parent.mkdir()
    locker = Locker(db)
    yield db, locker
    locker.release()


def test_outage_classification(tmp_path):
    from twin.scene.outage import is_outage
    from twin.sensors.store import Store

    bad = tmp_path / "bad.duckdb"
    bad.write_text("not a database\n")
    with pytest.raises(StoreError) as info:
        Store(bad)
    assert not is_outage(info.value)  # waiting will not fix it
    assert is_outage(PermissionError(13, "Permission denied"))
    assert not is_outage(StoreError("no cause"))


def test_services_wait_for_a_locked_database(locked_db, caplog):
    from twin.scene.config import SceneConfig
    from twin.scene.services import start_services

    db, locker = locked_db
    cfg = replace(SceneConfig.demo(buildings=300), database=db)
    cfg.simulator = replace(cfg.simulator, history_hours=0.5)
    opened = []
    caplog.set_level(logging.DEBUG, logger="twin.scene")
    t0 = time.monotonic()
    services = start_services(cfg, start_feeds=True)
    try:
        assert time.monotonic() - t0 < 10
        services.on_open(lambda: opened.append(True))
        assert not services.database_open
        assert services.writer is None and services.simulator is None
        status = services.status()
        assert status["database"] is False
        with pytest.raises(StoreError, match="unavailable"):
            services.store.latest()
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and str(db) in warnings[0].getMessage()
        # still locked a while later: retried quietly (DEBUG), no second warning
        wait_until(lambda: services.retry.attempts >= 2, 10, "no retry")
        assert not services.database_open
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1

        locker.release()
        wait_until(lambda: services.database_open, 15, "the freed database was not opened")
        wait_until(lambda: opened == [True], 5, "on_open callbacks did not run")
        assert services.status()["database"] is True
        # the simulator asked for at start-up runs now and its readings reach the store
        assert services.simulator is not None
        wait_until(lambda: len(services.store.latest()) > 0, 30, "no readings were stored")
    finally:
        services.close()


def test_twin_recolours_when_the_database_opens(locked_db):
    from twin.app.cache import demo_city
    from twin.scene.config import SceneConfig
    from twin.scene.twin import Twin

    db, locker = locked_db
    cfg = replace(SceneConfig.demo(buildings=300), database=db)
    cfg.simulator = replace(cfg.simulator, history_hours=0.5)
    city, mesh = demo_city(buildings=300, seed=0, use_cache=False)
    with Twin.from_config(cfg, city=city, mesh=mesh) as twin:
        assert not twin.database_open
        assert twin.status()["database"] is False
        with pytest.raises(StoreError):
            twin.refresh()
        before = twin.painter.group_rgba.copy()
        locker.release()
        wait_until(lambda: twin.database_open, 15, "the database was not opened")
        assert twin.wait_ready(60)

        def coloured() -> bool:
            twin.refresh()
            return bool((twin.painter.group_rgba != before).any())

        wait_until(coloured, 30, "no building took a colour from the readings")


def test_not_a_database_is_a_user_error(tmp_path, capsys, monkeypatch):
    from twin.cli import main

    bad = tmp_path / "bad.duckdb"
    bad.write_text("not a database\n")
    scene = _scene(tmp_path, bad, buildings=200)
    port = free_port()
    # the page is served while the scene is built, so a server starts before the error is
    # found; under pytest trame reads its flags from TRAME_ARGS, not sys.argv
    monkeypatch.setenv("TRAME_ARGS", f"--server --port {port} --host 127.0.0.1")
    code = main(["serve", str(scene), "--server", "--port", str(port)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(bad) in err and "not a valid DuckDB database" in err


def _scene(folder: Path, db: Path, *, buildings: int, history_hours: float = 1.0) -> Path:
    scene = folder / "scene.toml"
    scene.write_text(
        f'title = "Locked database"\n'
        f"registry = {str(REGISTRY)!r}\n"
        f'default_quantity = "co2"\n'
        f"[city]\n"
        f"demo = {{ buildings = {buildings}, seed = 0 }}\n"
        f"[database]\n"
        f"path = {str(db)!r}\n"
        f"[simulator]\n"
        f"seed = 0\n"
        f"history_hours = {history_hours}\n",
        encoding="utf-8",
    )
    return scene


@pytest.mark.slow
@pytest.mark.browser
def test_browser_banner_until_the_database_opens(locked_db, tmp_path, browser):
    db, locker = locked_db
    scene = _scene(tmp_path, db, buildings=1500)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp_path / "server.log"
    cmd = [sys.executable, "-m", "twin", "serve", str(scene), "--server", "--port", str(port)]
    env = dict(os.environ, TWIN_CACHE_DIR=str(tmp_path / "cache"))
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:

        def answers() -> bool:
            assert proc.poll() is None, f"twin serve exited: {log.read_text()}"
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_until(answers, 120, "the server did not answer although only the database is down")
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto(url)
        banner = page.locator('[data-testid="banner"]')
        banner.wait_for(timeout=30000)
        assert "Sensordatenbank" in banner.inner_text()
        page.locator('[data-testid="view3d"] img').wait_for(timeout=30000)
        page.screenshot(path=str(tmp_path / "database-down.png"))

        locker.release()
        banner.wait_for(state="detached", timeout=30000)
        table = page.locator('[data-testid="sensor-table"]')
        deadline = time.monotonic() + 60
        values = table.locator("tr[data-device] td:nth-child(3)")
        while not any(re.search(r"[0-9]", v) for v in values.all_inner_texts()):
            assert time.monotonic() < deadline, "no readings in the sensor table"
            page.wait_for_timeout(200)
        page.screenshot(path=str(tmp_path / "database-up.png"))
        context.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert text.count("retrying in the background") == 1, text
    assert "Traceback" not in text, text


def test_database_folder_that_cannot_be_created_yet(tmp_path):
    """A folder that cannot be made now (a file stands in its place) is waited for."""
    from twin.scene.config import SceneConfig
    from twin.scene.services import start_services

    blocker = tmp_path / "share"
    blocker.write_text("the share is not mounted yet\n")
    cfg = replace(SceneConfig.demo(buildings=300), database=blocker / "twin.duckdb")
    services = start_services(cfg, start_feeds=False)
    try:
        assert not services.database_open
        with pytest.raises(StoreError, match="cannot create"):
            services.store.devices()
        blocker.unlink()  # the share appears
        wait_until(lambda: services.database_open, 15, "the database was not created")
        assert (blocker / "twin.duckdb").is_file()
        assert services.writer is not None and len(services.store.devices()) > 0
    finally:
        services.close()
