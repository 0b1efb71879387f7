"""Binding sensors to buildings.

A device is attached to a row of the City table by, in order of precedence:

1. its explicit ``building`` id from the registry (``"demo/rathaus"``), matched against the
   City's ``id`` column, then its ``building`` column (a building drawn by its parts);
2. the footprint that contains its position;
3. the nearest footprint within ``max_distance`` metres.

Otherwise it stays unbound (``row == -1``). Positions (WGS 84 lat/lon) are projected into
the City's CRS with pyproj in one call; containment and nearest use one shapely STRtree query
each, so binding thousands of devices is a few milliseconds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import shapely

from twin.geodata.city import City

log = logging.getLogger(__name__)

#: How a device was bound, in the ``how`` column.
HOW = ("explicit", "inside", "nearest", "unbound")


def bind_devices(city: City, devices: pd.DataFrame, *, max_distance: float = 50.0) -> pd.DataFrame:
    """Attach devices to buildings of a City.

    Parameters
    ----------
    city : City
        The City; its buildings' CRS must be projected (metres).
    devices : pandas.DataFrame
        Columns ``device`` (id), ``lat``, ``lon`` (WGS 84, NaN when unknown) and optionally
        ``building`` (a City row id or None).
    max_distance : float
        Metres within which a device outside every footprint is bound to the nearest one.

    Returns
    -------
    pandas.DataFrame
        One row per device, in input order: ``device``, ``row`` (int, index into
        ``city.buildings``; -1 when unbound), ``distance_m`` (0 for explicit or contained,
        the distance for nearest, NaN when unbound), ``x``, ``y`` (the device's position in
        the City CRS; the building's representative point when the device has no position)
        and ``how`` (one of :data:`HOW`).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> b = gpd.GeoDataFrame({"id": ["a"], "height": [10.0]},
    ...                      geometry=[shapely.box(0, 0, 10, 10)], crs="EPSG:25832")
    >>> d = pd.DataFrame({"device": ["s1"], "lat": [np.nan], "lon": [np.nan], "building": ["a"]})
    >>> bind_devices(City(b), d)[["device", "row", "how"]].to_dict("records")
    [{'device': 's1', 'row': 0, 'how': 'explicit'}]
    """
    b = city.buildings
    n = len(devices)
    ids = devices["device"].astype(str).to_numpy()
    lat = pd.to_numeric(devices.get("lat", pd.Series(np.nan, index=devices.index)), errors="coerce")
    lon = pd.to_numeric(devices.get("lon", pd.Series(np.nan, index=devices.index)), errors="coerce")
    lat, lon = lat.to_numpy(dtype=float), lon.to_numpy(dtype=float)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    has_pos = np.isfinite(lat) & np.isfinite(lon)
    if has_pos.any() and b.crs is not None:
        tr = pyproj.Transformer.from_crs("EPSG:4326", b.crs, always_xy=True)
        x[has_pos], y[has_pos] = tr.transform(lon[has_pos], lat[has_pos])

    row = np.full(n, -1, dtype=np.int64)
    dist = np.full(n, np.nan)
    how = np.full(n, "unbound", dtype=object)

    # 1. explicit building ids
    if "building" in devices and len(b):
        want = devices["building"].to_numpy(dtype=object)
        by_id = pd.Series(np.arange(len(b)), index=b["id"].to_numpy())
        by_id = by_id[~by_id.index.duplicated()]
        by_building = pd.Series(np.arange(len(b)), index=b["building"].to_numpy())
        by_building = by_building[~by_building.index.duplicated()]
        named = np.array([isinstance(w, str) and w != "" for w in want], dtype=bool)
        if named.any():
            keys = want[named].astype(str)
            hit = by_id.reindex(keys).to_numpy(dtype=float, copy=True)
            miss = np.isnan(hit)
            hit[miss] = by_building.reindex(keys[miss]).to_numpy()
            found = ~np.isnan(hit)
            idx = np.flatnonzero(named)
            row[idx[found]] = hit[found].astype(np.int64)
            dist[idx[found]] = 0.0
            how[idx[found]] = "explicit"
            for dev, key in zip(ids[idx[~found]], keys[~found], strict=True):
                log.warning(
                    "device %s: building %r is not in the City; binding by position", dev, key
                )

    # 2./3. spatial: containment, then nearest within max_distance
    todo = np.flatnonzero((row < 0) & np.isfinite(x))
    if len(todo) and len(b):
        geoms = b.geometry.to_numpy()
        tree = shapely.STRtree(geoms)
        pts = shapely.points(x[todo], y[todo])
        inp, tgt = tree.query(pts, predicate="within")
        if len(inp):
            # Several hits (parts of one building): take the smallest footprint.
            area = shapely.area(geoms[tgt])
            order = np.lexsort((area, inp))
            inp, tgt = inp[order], tgt[order]
            first = np.unique(inp, return_index=True)[1]
            sel = todo[inp[first]]
            row[sel] = tgt[first]
            dist[sel] = 0.0
            how[sel] = "inside"
        rest = todo[row[todo] < 0]
        if len(rest):
            pts = shapely.points(x[rest], y[rest])
            (inp, tgt), d = tree.query_nearest(
                pts, max_distance=max_distance, return_distance=True, all_matches=False
            )
            sel = rest[inp]
            row[sel] = tgt
            dist[sel] = d
            how[sel] = "nearest"

    # Devices without a position sit on their building's representative point.
    nopos = ~np.isfinite(x) & (row >= 0)
    if nopos.any():
        rp = shapely.point_on_surface(b.geometry.to_numpy()[row[nopos]])
        x[nopos], y[nopos] = shapely.get_x(rp), shapely.get_y(rp)
    unbound = int((row < 0).sum())
    if unbound:
        log.info("%d of %d devices are not bound to a building", unbound, n)
    return pd.DataFrame({"device": ids, "row": row, "distance_m": dist, "x": x, "y": y, "how": how})


def device_table(
    registry: Iterable[Any] | None, key_of: Callable[[str, str | None], str | None]
) -> pd.DataFrame:
    """Turn a device registry into the table :func:`bind_devices` and the Twin use.

    Parameters
    ----------
    registry : iterable of twin.sensors.registry.Device, optional
        The devices (None gives an empty table).
    key_of : callable
        ``(quantity, unit) -> style key or None``.

    Returns
    -------
    pandas.DataFrame
        ``device``, ``name``, ``kind``, ``dev_eui``, ``lat``, ``lon``, ``building``,
        ``quantities`` (sorted list of the style keys the device measures).
    """
    cols = ["device", "name", "kind", "dev_eui", "lat", "lon", "building", "quantities"]
    rows = []
    for d in registry or ():
        keys = {key_of(q, getattr(spec, "unit", None)) for q, spec in d.quantities.items()}
        rows.append(
            {
                "device": d.device_id,
                "name": d.name or d.device_id,
                "kind": d.kind,
                "dev_eui": d.dev_eui,
                "lat": np.nan if d.lat is None else float(d.lat),
                "lon": np.nan if d.lon is None else float(d.lon),
                "building": d.building,
                "quantities": sorted(k for k in keys if k),
            }
        )
    return pd.DataFrame(rows, columns=cols)


def devices_from_store(known: pd.DataFrame, have: Iterable[str]) -> pd.DataFrame:
    """Return the devices of ``store.devices()`` missing from ``have``, as a device table.

    Parameters
    ----------
    known : pandas.DataFrame
        :meth:`twin.sensors.store.Store.devices` (``device``, ``name``, ``kind``,
        ``dev_eui``, ``lat``, ``lon``, ``building``).
    have : iterable of str
        Device ids already in the table.

    Returns
    -------
    pandas.DataFrame
        Columns as :func:`device_table`; ``quantities`` empty (known from readings only).
    """
    if not len(known):
        return pd.DataFrame(columns=["device"])
    new = known[~known["device"].astype(str).isin(set(have))]
    return pd.DataFrame(
        {
            "device": new["device"].astype(str).to_numpy(),
            "name": new["name"].fillna(new["device"]).astype(str).to_numpy(),
            "kind": new["kind"].to_numpy(dtype=object),
            "dev_eui": new["dev_eui"].to_numpy(dtype=object),
            "lat": pd.to_numeric(new["lat"], errors="coerce").to_numpy(),
            "lon": pd.to_numeric(new["lon"], errors="coerce").to_numpy(),
            "building": new["building"].to_numpy(dtype=object),
            "quantities": [[] for _ in range(len(new))],
        }
    )
