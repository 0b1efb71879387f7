"""Search over streets, addresses, building names and devices: plain Python, no SQL.

The index is built once, with vectorised pandas string operations, from the City table, its
``street`` context layer and the device table; a query is folded the same way as the labels
(case, accents, ``ß``, ``str.``) and matched with ``str.contains``. User text never reaches a
database. Positions of buildings are computed only for the results.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely

if TYPE_CHECKING:
    from twin.scene.twin import Twin

KIND_ORDER = {"building": 0, "street": 1, "device": 2, "address": 3}
_HOUSE_NUMBER = r"^(.*?\D)\s*\d+\s*[a-zA-Z]?(?:\s*[-/]\s*\d+\s*[a-zA-Z]?)?$"
_ABBREV = r"str\.?(?=\s|$|\d)"


def fold(text: str) -> str:
    """Normalise text for matching: lower case, no accents, ``ß`` → ``ss``, ``str.`` → ``strasse``.

    Examples
    --------
    >>> fold("Bismarckstraße"), fold("bismarckstr. 3"), fold("Bürgerhof")
    ('bismarckstrasse', 'bismarckstrasse 3', 'burgerhof')
    """
    return str(fold_all(pd.Series([text], dtype=object)).iat[0])


def fold_all(texts: pd.Series) -> pd.Series:
    """Fold a series of texts like :func:`fold`, vectorised."""
    s = texts.astype(str).str.casefold().str.normalize("NFKD")
    s = s.str.encode("ascii", "ignore").str.decode("ascii")
    s = s.str.replace(r"\s+", " ", regex=True).str.strip()
    return s.str.replace(_ABBREV, "strasse", regex=True)


def street_of(address: str) -> str | None:
    """Return the street of an address (``"Bismarckstraße 12a"`` → ``"Bismarckstraße"``)."""
    m = re.match(_HOUSE_NUMBER, address.strip())
    return m.group(1).strip().rstrip(",") if m else None


class SearchIndex:
    """All searchable things of a twin, folded once.

    Parameters
    ----------
    twin : Twin
        The scene.
    """

    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        ox, oy = float(twin.origin[0]), float(twin.origin[1])
        b = twin.city.buildings
        parts = []
        rows = np.arange(len(b))
        for column, kind in (("name", "building"), ("address", "address")):
            has = b[column].notna().to_numpy()
            parts.append(
                pd.DataFrame(
                    {"label": b[column].to_numpy(dtype=object)[has], "kind": kind, "row": rows[has]}
                )
            )
        parts.append(self._streets(twin, ox, oy))
        devices = twin.devices
        if len(devices):
            names = devices["name"].astype(str)
            ids = devices["device"].astype(str)
            label = names.where(names == ids, names + " (" + ids + ")")
            parts.append(
                pd.DataFrame(
                    {
                        "label": label.to_numpy(dtype=object),
                        "kind": "device",
                        "device": ids.to_numpy(dtype=object),
                        "device_index": np.arange(len(devices)),
                    }
                )
            )
        table = pd.concat([p for p in parts if len(p)], ignore_index=True)
        for col in ("row", "device_index"):
            if col not in table:
                table[col] = np.nan
        for col in ("device", "x", "y"):
            if col not in table:
                table[col] = None if col == "device" else np.nan
        table["folded"] = fold_all(table["label"]) if len(table) else pd.Series(dtype=object)
        table["rank"] = table["kind"].map(KIND_ORDER).astype(int) if len(table) else []
        self.table = table

    @staticmethod
    def _streets(twin: Twin, ox: float, oy: float) -> pd.DataFrame:
        """Streets from the context layer, and from the buildings' addresses."""
        out: dict[str, tuple[float, float]] = {}
        ctx = twin.city.context
        if ctx is not None and len(ctx) and "name" in ctx:
            sel = ctx[(ctx["layer"] == "street") & ctx["name"].notna()]
            if len(sel):
                area = shapely.area(sel.geometry.to_numpy())
                biggest = sel.assign(_a=area).sort_values("_a").drop_duplicates("name", keep="last")
                p = shapely.point_on_surface(biggest.geometry.to_numpy())
                for name, x, y in zip(
                    biggest["name"], shapely.get_x(p), shapely.get_y(p), strict=True
                ):
                    out[str(name)] = (x - ox, y - oy)
        b = twin.city.buildings
        addr = b["address"].dropna().astype(str)
        if len(addr):
            street = addr.str.strip().str.extract(_HOUSE_NUMBER, expand=False)
            street = street.str.strip().str.rstrip(",").dropna()
            c = shapely.centroid(b.geometry.to_numpy()[street.index.to_numpy()])
            xy = (
                pd.DataFrame({"s": street.to_numpy(), "x": shapely.get_x(c), "y": shapely.get_y(c)})
                .groupby("s")[["x", "y"]]
                .mean()
            )
            for name, x, y in zip(xy.index, xy["x"], xy["y"], strict=True):
                out.setdefault(str(name), (x - ox, y - oy))
        return pd.DataFrame(
            {
                "label": list(out),
                "kind": "street",
                "x": [v[0] for v in out.values()],
                "y": [v[1] for v in out.values()],
            }
        )

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
            (City row or None), ``device`` (for devices), ``position`` (local x, y, z;
            None for a device without a known position); exact and prefix matches first,
            then by kind and label.
        """
        q = fold(text or "")
        t = self.table
        if not q or not len(t):
            return []
        hit = np.ones(len(t), dtype=bool)
        for word in q.split(" "):
            hit &= t["folded"].str.contains(word, regex=False).to_numpy()
        found = t[hit]
        if not len(found):
            return []
        labels = found["folded"]
        score = np.where(
            labels == q,
            0,
            np.where(
                labels.str.startswith(q),
                1,
                np.where((" " + labels).str.contains(" " + q, regex=False), 2, 3),
            ),
        )
        found = found.assign(score=score).sort_values(["score", "rank", "folded"]).head(limit)
        return [self._result(r) for r in found.itertuples(index=False)]

    def _result(self, r: object) -> dict:
        kind = r.kind  # type: ignore[attr-defined]
        out: dict = {"label": str(r.label), "kind": kind, "row": None}  # type: ignore[attr-defined]
        if kind in ("building", "address"):
            out["row"] = int(r.row)  # type: ignore[attr-defined]
            out["position"] = list(self.twin.building_position(out["row"]))
        elif kind == "street":
            out["position"] = [float(r.x), float(r.y), 0.0]  # type: ignore[attr-defined]
        else:
            out["device"] = str(r.device)  # type: ignore[attr-defined]
            pos = self.twin.device_positions()[int(r.device_index)]  # type: ignore[attr-defined]
            out["position"] = [float(v) for v in pos] if np.isfinite(pos).all() else None
        return out
