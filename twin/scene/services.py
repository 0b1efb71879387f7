"""Starting and stopping the data side of a scene: store, writer, simulator, MQTT ingests.

DuckDB allows one writing process, so the process showing the twin also runs the writer and
whatever feeds it (the in-process simulator of the demo, or MQTT ingests); the UI reads through
the same :class:`~twin.sensors.store.Store`.

A database that cannot be opened at start-up because of an outage (held by another process,
folder missing or unwritable; see :func:`twin.scene.outage.is_outage`) does not stop the
twin: :func:`start_services` returns services around a :class:`~twin.scene.outage.LateStore`
and retries in the background; once the database opens, the writer and the requested feeds
start and the ``on_open`` callbacks run.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from twin.errors import SceneError, StoreError
from twin.geodata.city import City
from twin.scene.config import FeedConfig, SceneConfig
from twin.scene.outage import LateStore, Retry, is_outage

log = logging.getLogger(__name__)


@dataclass
class Services:
    """The running data side of a scene.

    Attributes
    ----------
    store : twin.sensors.store.Store
        The sensor database.
    writer : twin.sensors.writer.Writer or None
        The background writer (None for a read-only store).
    registry : twin.sensors.registry.Registry or None
        The device registry.
    simulator : object or None
        The running in-process simulator (its handle).
    ingests : list
        Running MQTT ingests.
    temp_dir : pathlib.Path or None
        A temporary folder holding the demo database, removed on :meth:`close`.
    feeds_started : bool
        Whether both the simulator and the ingests were started by :meth:`start_feeds`
        (for a database still down: requested, to start as soon as it opens).
    simulator_requested, ingests_requested : bool
        The same for each part.
    has_simulator : bool
        Whether the scene has a simulator (started or not yet).
    retry : twin.scene.outage.Retry or None
        The thread opening a database that was down at start-up.
    """

    store: Any
    writer: Any = None
    registry: Any = None
    simulator: Any = None
    ingests: list[Any] = field(default_factory=list)
    temp_dir: Path | None = None
    feeds_started: bool = False
    simulator_requested: bool = False
    ingests_requested: bool = False
    has_simulator: bool = False
    retry: Retry | None = None
    cfg: SceneConfig | None = None
    _listeners: list[Callable[..., None]] = field(default_factory=list)
    _on_open: list[Callable[[], None]] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def database_open(self) -> bool:
        """Whether the sensor database is open (False while a retry waits for it)."""
        return getattr(self.store, "is_open", True)

    def add_listener(self, callback: Callable[..., None]) -> None:
        """Call ``callback(batch_info)`` after each commit, also of a writer started later."""
        with self._lock:
            self._listeners.append(callback)
            if self.writer is not None:
                self.writer.add_listener(callback)

    def on_open(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (on the retry thread) when a database that was down opens."""
        with self._lock:
            self._on_open.append(callback)

    def status(self) -> dict[str, Any]:
        """Return the health of the data side, for a banner in the UI.

        Returns
        -------
        dict
            ``database`` (True when a query succeeds), ``feeds`` (one dict per MQTT feed:
            ``url`` without credentials, ``connected``, ``refused``), ``simulator``
            (``running``, ``error``; None without simulator), ``writer`` (its counters,
            or None) and ``history_ready`` (see :attr:`history_ready`).
        """
        try:
            self.store.time_range()
            database = True
        except Exception:  # any failure means "not available right now"
            log.debug("the store does not answer", exc_info=True)
            database = False
        feeds = [
            {
                "url": getattr(getattr(ingest, "settings", None), "url", ""),
                "connected": bool(getattr(ingest, "connected", False)),
                "refused": getattr(ingest, "refused", None),
            }
            for ingest in self.ingests
        ]
        simulator = None
        if self.simulator is not None:
            error = getattr(self.simulator, "error", None)
            alive = getattr(self.simulator, "is_alive", None)
            simulator = {
                "running": bool(alive()) if alive is not None else True,
                "error": None if error is None else str(error),
            }
        return {
            "database": database,
            "feeds": feeds,
            "simulator": simulator,
            "writer": self.writer.stats() if self.writer is not None else None,
            "history_ready": self.history_ready,
        }

    @property
    def history_ready(self) -> bool:
        """Whether the simulator has handed its history backfill to the writer.

        True without a simulator (a real feed has no backfill) and once the simulator's
        ``backfilled`` event is set; False while the demo still writes its past hours, so
        the time slider does not yet reach back the whole history.
        """
        if self.simulator is None:  # True unless the scene's simulator is yet to start
            return not (self.has_simulator and not self.simulator_requested)
        event = getattr(self.simulator, "backfilled", None)
        return event is None or event.is_set()

    def start_feeds(
        self, cfg: SceneConfig, *, simulator: bool = True, ingests: bool = True
    ) -> bool:
        """Start the scene's simulator and MQTT ingests (each once; later calls do nothing).

        Parameters
        ----------
        cfg : SceneConfig
            The scene the services were opened for.
        simulator : bool
            Start the simulator (if the scene has one).
        ingests : bool
            Start the MQTT ingests (if the scene has feeds).

        Returns
        -------
        bool
            Whether anything was started (or, while the database is down, requested to start
            as soon as it opens) by this call.
        """
        with self._lock:
            todo = set()
            if simulator and not self.simulator_requested:
                todo.add("simulator")
            if ingests and not self.ingests_requested:
                todo.add("ingests")
            if not todo:
                return False
            if self.writer is None and self.database_open:
                raise SceneError(f"{cfg.path or 'scene'}: cannot start feeds without a writer")
            self.simulator_requested |= "simulator" in todo
            self.ingests_requested |= "ingests" in todo
            self.feeds_started = self.simulator_requested and self.ingests_requested
            if self.writer is not None:  # else they start when the database opens
                self._start_feeds(cfg, todo)
            return True

    def _start_feeds(self, cfg: SceneConfig, parts: set[str]) -> None:
        if "simulator" in parts and cfg.simulator is not None:
            self.simulator = _start_simulator(cfg, self.registry, self.writer)
        if "ingests" in parts:
            for feed in cfg.feeds:
                self.ingests.append(_start_ingest(feed, self.writer, self.registry))

    def open_store(self, store: Any) -> None:
        """Use the now open ``store``: start the writer, the requested feeds, the callbacks.

        The :class:`~twin.scene.outage.LateStore` standing in for it forwards to it from
        then on (last of all, so that queries reach a data side that is complete).

        Parameters
        ----------
        store : twin.sensors.store.Store
            The opened database.
        """
        assert self.cfg is not None
        with self._lock:
            if self.registry is not None:
                try:
                    store.upsert_devices(self.registry)
                except BaseException:
                    store.close()
                    raise
            self.writer = _writer(store, self.cfg)
            for callback in self._listeners:
                self.writer.add_listener(callback)
            requested = {
                name
                for name, wanted in (
                    ("simulator", self.simulator_requested),
                    ("ingests", self.ingests_requested),
                )
                if wanted
            }
            self._start_feeds(self.cfg, requested)
            if isinstance(self.store, LateStore):  # last: queries now reach a ready data side
                self.store.attach(store)
            else:
                self.store = store
            callbacks = list(self._on_open)
        for callback in callbacks:
            _quietly(callback, "announcing the opened database")

    def close(self) -> None:
        """Stop feeds, flush and stop the writer, close the store, remove a temp database."""
        if self.retry is not None:
            self.retry.stop()
            self.retry = None
        for ingest in self.ingests:
            _quietly(ingest.stop, "stopping an MQTT ingest")
        self.ingests.clear()
        if self.simulator is not None:
            _quietly(self.simulator.stop, "stopping the simulator")
            self.simulator = None
        if self.writer is not None:
            _quietly(self.writer.close, "closing the writer")
            self.writer = None
        if self.store is not None:
            _quietly(self.store.close, "closing the store")
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            self.temp_dir = None


def _quietly(fn: Any, what: str) -> None:
    try:
        fn()
    except Exception:  # closing must go on whatever one part does
        log.exception("error while %s", what)


def start_services(cfg: SceneConfig, *, start_feeds: bool = True) -> Services:
    """Open the store and writer of a scene and start its simulator or MQTT feeds.

    Parameters
    ----------
    cfg : SceneConfig
        The scene.
    start_feeds : bool
        Start the simulator and ingests (False opens only the store and writer).

    Returns
    -------
    Services
        Close it with :meth:`Services.close`. When the database is down (an outage, see
        :func:`~twin.scene.outage.is_outage`), its store is a
        :class:`~twin.scene.outage.LateStore` and a background retry opens it.

    Raises
    ------
    SceneError, RegistryError, StoreError
        For an invalid registry or a database file that is not a twin database.
    """
    from twin.sensors.registry import Registry

    temp_dir = None
    db = cfg.database
    if db is None:
        temp_dir = Path(tempfile.mkdtemp(prefix="twin-"))
        db = temp_dir / "twin.duckdb"
    registry = Registry.load(cfg.registry) if cfg.registry is not None else None
    services = Services(
        store=None,
        registry=registry,
        temp_dir=temp_dir,
        has_simulator=cfg.simulator is not None,
        cfg=cfg,
    )
    try:
        try:
            store = _open_store(db, cfg)
        except Exception as err:
            if not is_outage(err):
                raise
            log.warning("sensor database unavailable, retrying in the background: %s", err)
            services.store = LateStore(db, str(err))
            services.retry = Retry(
                lambda: services.open_store(_open_store(db, cfg)),
                what=f"the sensor database {db}",
            )
            services.retry.start()
        else:
            services.store = store
            services.open_store(store)
        if start_feeds:
            services.start_feeds(cfg)
    except BaseException:
        services.close()
        raise
    return services


def start_services_async(cfg: SceneConfig, *, start_feeds: bool = True) -> Future[Services]:
    """Run :func:`start_services` on a thread, while the caller loads the City.

    DuckDB and pyarrow release the GIL while they open the database and read the City's
    GeoParquet file, so doing both at once shortens the start-up on two cores.

    Parameters
    ----------
    cfg : SceneConfig
        The scene.
    start_feeds : bool
        As for :func:`start_services`.

    Returns
    -------
    concurrent.futures.Future
        Its ``result()`` is the :class:`Services` (or raises what :func:`start_services`
        raised).
    """
    future: Future[Services] = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(start_services(cfg, start_feeds=start_feeds))
        except BaseException as err:
            future.set_exception(err)

    threading.Thread(target=run, name="twin-open-services", daemon=True).start()
    return future


def _open_store(db: Path, cfg: SceneConfig) -> Any:
    """Create the database folder and open the store (errors as :func:`start_services`)."""
    from twin.sensors.store import Store

    try:
        db.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        where = f"{cfg.path}: database.path" if cfg.path else "database"
        raise StoreError(f"{where}: cannot create {db.parent} ({err})") from err
    return Store(db)


def _writer(store: Any, cfg: SceneConfig) -> Any:
    from twin.sensors.writer import Writer

    if not cfg.feeds:
        return Writer(store)
    from twin.sensors.ingest import ack_tokens

    # Ingests acknowledge MQTT messages only after the batch holding them is committed.
    return Writer(store, on_commit=ack_tokens)


def _start_simulator(cfg: SceneConfig, registry: Any, writer: Any) -> Any:
    from twin.sensors.simulator import Simulator

    if registry is None:
        raise SceneError(f"{cfg.path or 'scene'}: simulator: needs a registry of devices")
    sim_cfg = cfg.simulator
    assert sim_cfg is not None
    sim = Simulator(registry, seed=sim_cfg.seed, fmt=sim_cfg.format)
    handle = sim.run_in_process(
        writer, speedup=sim_cfg.speedup, history=timedelta(hours=sim_cfg.history_hours)
    )
    return handle if handle is not None and hasattr(handle, "stop") else sim


def _start_ingest(feed: FeedConfig, writer: Any, registry: Any) -> Any:
    from twin.sensors.ingest import Ingest

    url = feed.url
    if feed.username:
        parts = urlsplit(url)
        host = parts.netloc.rsplit("@", 1)[-1]
        url = urlunsplit(parts._replace(netloc=f"{quote(feed.username, safe='')}@{host}"))
    ingest = Ingest(
        writer,
        url=url,
        topics=feed.topics,
        fmt=feed.format,
        registry=registry,
        qos=feed.qos,
        client_id=feed.client_id,
        ca_file=feed.ca_file,
        password_file=feed.password_file,
    )
    ingest.start()
    log.info("ingesting %s from %s", ", ".join(feed.topics), feed.url)
    return ingest


def load_city(cfg: SceneConfig) -> City:
    """Load the City a scene names (a file) or generate the demo city.

    Parameters
    ----------
    cfg : SceneConfig
        The scene.

    Returns
    -------
    City
    """
    src = cfg.city
    if src.demo is not None:
        from twin.geodata.demo import generate_city

        return generate_city(buildings=src.demo["buildings"], seed=src.demo["seed"])
    if src.path is None:
        raise SceneError(f"{cfg.path or 'scene'}: city: no city file or demo given")
    if src.path.suffix == ".parquet":
        return City.load(src.path)
    from twin.geodata.io import read_city

    return read_city([src.path], crs=src.crs)
