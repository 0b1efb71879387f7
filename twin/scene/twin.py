"""The Twin: one City mesh coloured live by sensor readings, shared by app, CLI and notebooks.

A :class:`Twin` holds the City, its mesh (built once), the sensor store and the binding of
devices to buildings. :meth:`Twin.refresh` reads the latest readings (or the readings as of a
chosen time), turns them into one colour per building and writes them into the mesh's
``colors`` cell array in place; the renderer then uploads only the colours.

Examples
--------
>>> from twin.scene import Twin, SceneConfig               # doctest: +SKIP
>>> twin = Twin.from_config(SceneConfig.demo(buildings=2000))  # doctest: +SKIP
>>> twin.set_quantity("co2"); twin.refresh()                # doctest: +SKIP
True
>>> twin.building_card(twin.search("Rathaus")[0]["row"])    # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyvista as pv
import shapely

from twin.errors import SceneError, StoreError
from twin.geodata.city import City
from twin.scene import cards, search
from twin.scene.binding import bind_devices, device_table, devices_from_store
from twin.scene.camera import Bookmark, default_camera
from twin.scene.config import SceneConfig
from twin.scene.dataside import DataSideMixin
from twin.scene.painter import BuildingPainter, building_groups
from twin.scene.picking import PickingMixin
from twin.scene.render import context_meshes, glyph_mesh, glyph_positions
from twin.scene.services import Services, load_city, start_services_async
from twin.scene.styles import Style, color_codes, legend, style_key, with_registry
from twin.scene.values import annotate, per_building, per_device, to_utc
from twin.scene.view import ViewMixin

log = logging.getLogger(__name__)

#: Columns of :meth:`Twin.readings`.
READING_COLUMNS = ("device", "quantity", "time", "value", "unit", "text", "key", "num", "age_s")
#: Colour of sensor glyphs that do not measure the shown quantity.
IDLE_GLYPH_RGB = (84, 94, 110)


class Twin(DataSideMixin, ViewMixin, PickingMixin):
    """A City mesh coloured by live sensor data.

    Parameters
    ----------
    city : City
        The City.
    store : twin.sensors.store.Store
        The sensor database.
    config : SceneConfig, optional
        Styles, bookmarks, default quantity (default: :meth:`SceneConfig.demo`'s look).
    mesh : pyvista.PolyData, optional
        The City mesh if already built (e.g. from a cache); built with
        :func:`twin.mesh.build_mesh` otherwise.
    registry : twin.sensors.registry.Registry, optional
        The devices to bind (positions, explicit buildings, quantities).
    services : Services, optional
        Running writer/simulator/ingests, stopped by :meth:`close`.

    Attributes
    ----------
    city, mesh, store, config, registry
        As given.
    binding : pandas.DataFrame
        One row per device: ``device``, ``row``, ``distance_m``, ``x``, ``y``, ``how``
        (see :func:`~twin.scene.binding.bind_devices`).
    devices : pandas.DataFrame
        The device table: ``device``, ``name``, ``kind``, ``dev_eui``, ``lat``, ``lon``,
        ``building``, ``quantities`` (list of style keys).
    quantity : str
        The style key shown.
    time : pandas.Timestamp or None
        The moment shown; None is live.
    """

    def __init__(
        self,
        city: City,
        store: Any,
        *,
        config: SceneConfig | None = None,
        mesh: Any = None,
        registry: Any = None,
        services: Services | None = None,
    ) -> None:
        self.city = city
        self.store = store
        self.config = config or SceneConfig.demo()
        self.registry = registry
        self._services = services
        self.styles: dict[str, Style] = with_registry(
            self.config.styles, registry, self.config.style_fields
        )
        if mesh is None:
            from twin.mesh import build_mesh

            mesh = build_mesh(city)
        self.mesh = mesh
        self.origin = np.asarray(city.origin, dtype=float)
        self.group_of_row, self.first_row = building_groups(city.buildings["building"])
        self.painter = BuildingPainter(self.mesh, self.group_of_row)
        b = city.buildings
        top = (b["ground_z"] + b["height"].fillna(0.0)).to_numpy(dtype=float) - self.origin[2]
        self.group_top = np.zeros(self.painter.n_groups)
        np.maximum.at(self.group_top, self.group_of_row, top)
        self.context = context_meshes(city.context, self.origin)
        self.bookmarks: list[Bookmark] = [b.to_local(self.origin) for b in self.config.bookmarks]
        bounds = mesh.bounds if mesh.n_cells else (-500, 500, -500, 500, 0, 10)
        self.home = default_camera(bounds)
        self._keys: dict[tuple[str, str], str | None] = {}
        self.devices = device_table(self.registry, self.key_of)
        self.glyphs = pv.PolyData()
        self.glyph_painter: BuildingPainter | None = None
        self._search: search.SearchIndex | None = None
        self._search_lock = threading.Lock()
        self._bind()
        self._tree: shapely.STRtree | None = None
        self._tiles: dict[int, list[Any]] = {}
        self._new_data = threading.Event()
        self._lock = threading.RLock()
        self.quantity = self.config.default_quantity
        self.time: pd.Timestamp | None = None
        self.values = pd.DataFrame()  # per-device values of the shown quantity (last refresh)
        if services is not None:
            services.add_listener(lambda *_: self._new_data.set())
            services.on_open(self._new_data.set)  # a database that was down opened
        self.sync_devices()

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_config(
        cls,
        cfg: SceneConfig,
        *,
        city: City | None = None,
        mesh: Any = None,
        start_feeds: bool = True,
        services: Any = None,
    ) -> Twin:
        """Load (or generate) the City, build the mesh, start the data side, bind devices.

        Parameters
        ----------
        cfg : SceneConfig
            The scene (:func:`~twin.scene.config.load_scene` or :meth:`SceneConfig.demo`).
        city : City, optional
            The City if already loaded (e.g. from a cache); otherwise read from
            ``cfg.city.path`` or generated from ``cfg.city.demo``.
        mesh : pyvista.PolyData, optional
            Its mesh, if already built.
        start_feeds : bool
            Start the simulator and MQTT ingests now. False opens only the store and the
            writer; call :meth:`start_feeds` once the first frame is shown (the demo
            simulator's history backfill otherwise competes with the first render for the
            CPU).
        services : Services or concurrent.futures.Future, optional
            The data side if already started, or being started on a thread by
            :func:`~twin.scene.services.start_services_async` (the demo opens its database
            while the City is read from the cache). By default it is started here, on a
            thread while the City loads.

        Returns
        -------
        Twin
            Call :meth:`close` (or use it as a context manager) to stop the feeds. When the
            database is down at start-up (locked by another process, folder missing), the
            twin is returned all the same: queries fail with :class:`StoreError` (the UI
            shows a banner) until a background retry opens it; see
            :func:`~twin.scene.services.start_services`.
        """
        if services is None:
            services = start_services_async(cfg, start_feeds=start_feeds)
        if city is None:
            try:
                city = load_city(cfg)
            except BaseException:
                _close_services(services)
                raise
        if isinstance(services, Future):
            services = services.result()
        try:
            twin = cls(
                city,
                services.store,
                config=cfg,
                mesh=mesh,
                registry=services.registry,
                services=services,
            )
            if services.database_open:
                twin.refresh()
        except BaseException:
            services.close()
            raise
        return twin

    def _bind(self) -> None:
        """Bind the device table to buildings and (re)build the sensor glyphs in place."""
        self.binding = bind_devices(self.city, self.devices, max_distance=self.config.max_distance)
        self._device_index = pd.Series(np.arange(len(self.devices)), index=self.devices["device"])
        glyphs = glyph_mesh(self.device_positions())
        # Replace the content, not the object: a plotter showing it sees the new glyphs.
        self.glyphs.copy_from(glyphs, deep=False)
        self.glyph_painter = (
            BuildingPainter(
                self.glyphs,
                np.arange(len(self.devices)),
                neutral=IDLE_GLYPH_RGB,
                index_array="device",
            )
            if self.glyphs.n_cells
            else None
        )
        with self._search_lock:  # a background build finishes first, then is dropped
            self._search = None

    def sync_devices(self) -> bool:
        """Add devices the store knows but the registry did not (e.g. new ones on a feed).

        They are bound by the position the network reported, if any; devices without a
        position and building stay unbound and get no glyph.

        Returns
        -------
        bool
            Whether devices were added.
        """
        try:
            known = self.store.devices()
        except Exception:  # the database may be unavailable; refresh reports that
            log.debug("store.devices() failed", exc_info=True)
            return False
        added = devices_from_store(known, self.devices["device"])
        if not len(added):
            return False
        frames = [f for f in (self.devices, added) if len(f)]
        self.devices = pd.concat(frames, ignore_index=True)
        self._bind()
        log.info("%d devices not in the registry found in the store", len(added))
        return True

    def device_index(self, device: str) -> int | None:
        """Return the row of ``device`` in :attr:`devices` (and :attr:`binding`), or None."""
        i = self._device_index.get(device)
        return None if i is None else int(i)

    def device_positions(self) -> np.ndarray:
        """Return the local ``(n, 3)`` glyph positions: above the bound roof, or at ground level."""
        top = self.group_top[self.group_of_row]
        return glyph_positions(self.binding, self.origin, top)

    # ------------------------------------------------------------------ state

    def set_quantity(self, quantity: str) -> None:
        """Show ``quantity`` (a style key such as ``"co2"``; store names are mapped).

        Raises
        ------
        SceneError
            If no style exists for it.
        """
        key = quantity if quantity in self.styles else style_key(quantity, self.styles)
        if key is None:
            raise SceneError(
                f"unknown quantity {quantity!r} (valid: {', '.join(sorted(self.styles))})"
            )
        self.quantity = key

    def set_time(self, t: datetime | str | float | pd.Timestamp | None) -> None:
        """Show the city as of ``t`` (UTC if naive); None returns to live."""
        self.time = None if t is None else to_utc(t)

    @property
    def style(self) -> Style:
        """The style of the shown quantity."""
        return self.styles[self.quantity]

    def quantities(self, lang: str = "de") -> list[dict[str, str]]:
        """Return the measured quantities: ``key``, ``label``, ``unit``, in style order."""
        present = {k for ks in self.devices["quantities"] for k in ks}
        present |= set(self._store_quantities())
        return [
            {"key": k, "label": s.label(lang), "unit": s.unit}
            for k, s in self.styles.items()
            if k in present
        ]

    def _store_quantities(self) -> list[str]:
        """Return the style keys of the quantities in the store."""
        try:
            q = self.store.quantities()
        except Exception:  # the database may be unavailable; the UI shows that elsewhere
            log.debug("store.quantities() failed", exc_info=True)
            return []
        units = q["unit"] if "unit" in q else [None] * len(q)
        keys = (
            self.key_of(str(n), None if pd.isna(u) else str(u))
            for n, u in zip(q["quantity"], units, strict=True)
        )
        return [k for k in keys if k]

    def key_of(self, quantity: str, unit: str | None = None) -> str | None:
        """Return the style key of a store quantity name and unit (cached).

        A reading whose unit the style does not accept (an energy meter in kWh against
        the power style in kW) gets no style.
        """
        k = (quantity, unit or "")
        if k not in self._keys:
            key = style_key(quantity, self.styles)
            if key is not None and not self.styles[key].accepts(unit):
                key = None
            self._keys[k] = key
        return self._keys[k]

    # ------------------------------------------------------------------ colouring

    def readings(self) -> pd.DataFrame:
        """Return the latest reading per device and quantity at the shown time.

        Returns
        -------
        pandas.DataFrame
            The store's rows plus ``key`` (style key), ``num`` (numeric value, text values
            mapped through the style), ``age_s`` (seconds before the shown time). Empty
            while a database that was down at start-up is not open yet (:meth:`refresh`
            raises then, so the UI says why).
        """
        if not self.database_open:
            return pd.DataFrame({c: [] for c in READING_COLUMNS})
        df = self.store.latest() if self.time is None else self.store.as_of(self.time)
        ref = self.time if self.time is not None else pd.Timestamp.now(tz="UTC")
        return annotate(df, key_of=self.key_of, styles=self.styles, ref=ref)

    def refresh(self) -> bool:
        """Recompute the colours of buildings and sensor glyphs from the store.

        Buildings with a fresh reading of the shown quantity take its colour (several
        devices in one building: their mean); readings older than the style's ``max_age``
        are grey; buildings whose devices measure the quantity but have no reading are
        drawn in the no-data colour; all others stay neutral. Colours are written into the
        mesh's ``colors`` array in place.

        Returns
        -------
        bool
            Whether any colour changed.

        Raises
        ------
        StoreError
            When the database does not answer (the colours stay as they were).
        """
        if not self.database_open:
            raise StoreError(f"{self.store.path}: sensor database unavailable; retrying")
        with self._lock:
            if self._new_data.is_set():
                self._new_data.clear()
                self.sync_devices()
            style = self.style
            df = self.readings()
            df = df[df["key"] == self.quantity] if len(df) else df
            value, stale, seen = per_device(
                df, self._device_index, len(self.devices), style.max_age
            )
            measures = seen | np.array(
                [self.quantity in ks for ks in self.devices["quantities"]], dtype=bool
            ).reshape(len(self.devices))
            self.values = pd.DataFrame(
                {
                    "device": self.devices["device"].to_numpy(),
                    "value": value,
                    "stale": stale,
                    "measures": measures,
                }
            )
            rows = self.binding["row"].to_numpy()
            sel = measures & (rows >= 0)
            groups, gval, gstale = per_building(
                self.group_of_row[rows[sel]], value[sel], stale[sel]
            )
            changed = self.painter.paint_codes(groups, color_codes(gval, style, gstale))
            if self.glyph_painter is not None:
                codes = color_codes(value, style, stale)
                on = np.flatnonzero(measures)
                changed |= self.glyph_painter.paint_codes(on, codes[on])
            return changed

    def legend(self, lang: str = "de") -> dict:
        """Return the legend of the shown quantity (see :func:`twin.scene.styles.legend`)."""
        return legend(self.style, lang)

    # ------------------------------------------------------------------ cards, search

    def building_card(self, row: int, lang: str = "de") -> dict:
        """Return what the UI shows about a building (see :func:`cards.building_card`)."""
        return cards.building_card(self, int(row), lang)

    def device_card(self, device: str, lang: str = "de") -> dict:
        """Return what the UI shows about a sensor (see :func:`cards.device_card`)."""
        return cards.device_card(self, device, lang)

    def sensors_table(
        self, lang: str = "de", *, devices: Sequence[str] | None = None
    ) -> list[dict]:
        """Return one row per device for the sensor table (see :func:`cards.sensors_table`)."""
        return cards.sensors_table(self, lang, devices=devices)

    def search(self, text: str, *, limit: int = 10) -> list[dict]:
        """Find streets, addresses, buildings and devices (see :class:`search.SearchIndex`)."""
        with self._search_lock:
            if self._search is None:
                self._search = search.SearchIndex(self)
            index = self._search
        return index.find(text, limit=limit)

    def prepare_search(self, *, background: bool = True) -> threading.Thread | None:
        """Build the search index now, in a daemon thread by default.

        The index (folding every name, address and street) takes about a second for 20,000
        buildings, so it is not built in the constructor; call this after the first frame is
        shown. A :meth:`search` while it is being built waits for it.

        Parameters
        ----------
        background : bool
            Build in a daemon thread (returned) instead of the calling one.

        Returns
        -------
        threading.Thread or None
            The thread, or None when built in the caller.
        """

        def build() -> None:
            with self._search_lock:
                if self._search is None:
                    self._search = search.SearchIndex(self)

        if not background:
            build()
            return None
        thread = threading.Thread(target=build, name="twin-search-index", daemon=True)
        thread.start()
        return thread


def _close_services(services: Services | Future) -> None:
    """Close services (waiting for them if still being started); errors are dropped."""
    if isinstance(services, Future):
        try:
            services = services.result()
        except Exception:  # already failed: nothing is open
            return
    services.close()
