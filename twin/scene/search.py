"""Search over streets, addresses, building names and devices: plain Python, no SQL.

The index is built once from the City table, its ``street`` context layer and the device
table; a query is folded the same way as the labels (case, accents, ``ß``, ``str.``) and
matched with vectorised pandas string operations. User text never reaches a database.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely

if TYPE_CHECKING:
    from twin.scene.twin import Twin

KIND_ORDER = {"building": 0, "street": 1, "device": 2, "address": 3}
_HOUSE_NUMBER = re.compile(r"^(.*?\D)\s*\d+\s*[a-zA-Z]?(?:\s*[-/]\s*\d+\s*[a-zA-Z]?)?$")
_ABBREV = re.compile(r"str\.?(?=\s|$|\d)")


def fold(text: str) -> str:
    """Normalise text for matching: lower case, no accents, ``ß`` → ``ss``, ``str.`` → ``strasse``.

    Examples
    --------
    >>> fold("Bismarckstraße"), fold("bismarckstr. 3"), fold("Ludwigsplatz")
    ('bismarckstrasse', 'bismarckstrasse 3', 'ludwigsplatz')
    """
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"\s+", " ", text).strip()
    return _ABBREV.sub("strasse", text)


def street_of(address: str) -> str | None:
    """Return the street of an address (``"Bismarckstraße 12a"`` → ``"Bismarckstraße"``)."""
    m = _HOUSE_NUMBER.match(address.strip())
    return m.group(1).strip().rstrip(",") if m else None


class SearchIndex:
    """All searchable things of a twin, folded once.

    Parameters
    ----------
    twin : Twin
        The scene.
    """

    def __init__(self, twin: Twin) -> None:
        ox, oy = float(twin.origin[0]), float(twin.origin[1])
        b = twin.city.buildings
        entries: list[dict] = []
        geoms = b.geometry.to_numpy()
        centre = shapely.point_on_surface(geoms) if len(b) else np.array([])
        cx = shapely.get_x(centre) - ox if len(b) else np.array([])
        cy = shapely.get_y(centre) - oy if len(b) else np.array([])
        top = twin.group_top[twin.group_of_row] if len(b) else np.array([])

        def building_entry(i: int, label: str, kind: str) -> dict:
            return {
                "label": label,
                "kind": kind,
                "row": int(i),
                "position": [float(cx[i]), float(cy[i]), float(top[i])],
            }

        names = b["name"].to_numpy(dtype=object)
        for i in np.flatnonzero(pd.notna(names)):
            entries.append(building_entry(i, str(names[i]), "building"))
        addresses = b["address"].to_numpy(dtype=object)
        streets: dict[str, list[int]] = {}
        for i in np.flatnonzero(pd.notna(addresses)):
            entries.append(building_entry(i, str(addresses[i]), "address"))
            street = street_of(str(addresses[i]))
            if street:
                streets.setdefault(street, []).append(int(i))
        street_pos: dict[str, list[float]] = {}
        ctx = twin.city.context
        if ctx is not None and len(ctx) and "name" in ctx:
            sel = ctx[(ctx["layer"] == "street") & ctx["name"].notna()]
            for name, g in sel.groupby("name"):
                geom = g.geometry.to_numpy()[int(np.argmax(shapely.area(g.geometry.to_numpy())))]
                p = shapely.point_on_surface(geom)
                street_pos[str(name)] = [p.x - ox, p.y - oy, 0.0]
        for street, rows in streets.items():
            if street not in street_pos:
                street_pos[street] = [float(cx[rows].mean()), float(cy[rows].mean()), 0.0]
        for street, pos in street_pos.items():
            entries.append({"label": street, "kind": "street", "row": None, "position": pos})
        positions = twin.device_positions()
        for i, (dev, name) in enumerate(
            zip(twin.devices["device"], twin.devices["name"], strict=True)
        ):
            label = str(name) if str(name) == str(dev) else f"{name} ({dev})"
            entries.append(
                {
                    "label": label,
                    "kind": "device",
                    "device": str(dev),
                    "row": None,
                    "position": (
                        [float(v) for v in positions[i]]
                        if np.isfinite(positions[i]).all()
                        else None
                    ),
                }
            )
        self.entries = entries
        self.folded = pd.Series([fold(e["label"]) for e in entries], dtype=object)
        self.kind_rank = np.array([KIND_ORDER[e["kind"]] for e in entries], dtype=np.int64)

    def find(self, text: str, *, limit: int = 10) -> list[dict]:
        """Return the best matches of ``text``.

        Parameters
        ----------
        text : str
            What the user typed; every word must occur (in any order).
        limit : int
            Maximum number of results.

        Returns
        -------
        list of dict
            ``label``, ``kind`` (``street``, ``building``, ``device``, ``address``), ``row``
            (City row or None), ``device`` (for devices), ``position`` (local x, y, z);
            exact and prefix matches first, then by kind and label.
        """
        q = fold(text or "")
        if not q or not len(self.folded):
            return []
        hit = np.ones(len(self.folded), dtype=bool)
        for word in q.split(" "):
            hit &= self.folded.str.contains(word, regex=False).to_numpy()
        idx = np.flatnonzero(hit)
        if not len(idx):
            return []
        labels = self.folded.to_numpy()[idx]
        exact = np.array([lab == q for lab in labels])
        prefix = np.array([lab.startswith(q) for lab in labels])
        word = np.array([(" " + q) in (" " + lab) for lab in labels])
        score = np.where(exact, 0, np.where(prefix, 1, np.where(word, 2, 3)))
        order = np.lexsort((labels, self.kind_rank[idx], score))
        return [dict(self.entries[i]) for i in idx[order][:limit]]
