"""Starting and stopping the data side of a scene: store, writer, simulator, MQTT ingests.

DuckDB allows one writing process, so the process showing the twin also runs the writer and
whatever feeds it (the in-process simulator of the demo, or MQTT ingests); the UI reads through
the same :class:`~twin.sensors.store.Store`.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from twin.errors import SceneError
from twin.geodata.city import City
from twin.scene.config import FeedConfig, SceneConfig

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
        Whether :meth:`start_feeds` ran.
    has_simulator : bool
        Whether the scene has a simulator (started or not yet).
    """

    store: Any
    writer: Any = None
    registry: Any = None
    simulator: Any = None
    ingests: list[Any] = field(default_factory=list)
    temp_dir: Path | None = None
    feeds_started: bool = False
    has_simulator: bool = False

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
            return not (self.has_simulator and not self.feeds_started)
        event = getattr(self.simulator, "backfilled", None)
        return event is None or event.is_set()

    def start_feeds(self, cfg: SceneConfig) -> bool:
        """Start the scene's simulator and MQTT ingests (once; later calls do nothing).

        Parameters
        ----------
        cfg : SceneConfig
            The scene the services were opened for.

        Returns
        -------
        bool
            Whether they were started by this call.
        """
        if self.feeds_started:
            return False
        if self.writer is None:
            raise SceneError(f"{cfg.path or 'scene'}: cannot start feeds without a writer")
        self.feeds_started = True
        if cfg.simulator is not None:
            self.simulator = _start_simulator(cfg, self.registry, self.writer)
        for feed in cfg.feeds:
            self.ingests.append(_start_ingest(feed, self.writer, self.registry))
        return True

    def close(self) -> None:
        """Stop feeds, flush and stop the writer, close the store, remove a temp database."""
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
        Close it with :meth:`Services.close`.
    """
    from twin.sensors.ingest import ack_tokens
    from twin.sensors.registry import Registry
    from twin.sensors.store import Store
    from twin.sensors.writer import Writer

    temp_dir = None
    db = cfg.database
    if db is None:
        temp_dir = Path(tempfile.mkdtemp(prefix="twin-"))
        db = temp_dir / "twin.duckdb"
    else:
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            where = f"{cfg.path}: database.path"
            raise SceneError(f"{where}: cannot create {db.parent} ({err})") from err
    registry = Registry.load(cfg.registry) if cfg.registry is not None else None
    store = Store(db)
    services = Services(
        store=store, registry=registry, temp_dir=temp_dir, has_simulator=cfg.simulator is not None
    )
    try:
        if registry is not None:
            store.upsert_devices(registry)
        # Ingests acknowledge MQTT messages only after the batch holding them is committed.
        services.writer = Writer(store, on_commit=ack_tokens if cfg.feeds else None)
        if start_feeds:
            services.start_feeds(cfg)
    except BaseException:
        services.close()
        raise
    return services


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
