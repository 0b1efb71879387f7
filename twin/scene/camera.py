"""Camera bookmarks and the default oblique view.

A :class:`Bookmark` is a named camera (position, focal point, view up) with a caption in
German and English. Scene files may give its coordinates in the City's CRS (absolute,
``crs = "city"``, the default) or in the local rendering frame (``crs = "local"``);
:meth:`Bookmark.to_local` turns the former into the latter by subtracting the City origin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class Bookmark:
    """A named camera position.

    Parameters
    ----------
    name : str
        Identifier (``"rathaus"``), used by the tour's ``order``.
    position, focal_point, view_up : tuple of float
        The camera, as in :attr:`pyvista.Camera.position` etc.
    caption : dict
        Caption per language, ``{"de": ..., "en": ...}``.
    crs : {"city", "local"}
        Whether position and focal point are absolute City coordinates or local ones.
    quantity : str or None
        A quantity to show while the tour stands here (None keeps the current one).
    """

    name: str
    position: Vec3
    focal_point: Vec3
    view_up: Vec3 = (0.0, 0.0, 1.0)
    caption: dict[str, str] = field(default_factory=dict)
    crs: str = "city"
    quantity: str | None = None

    def caption_in(self, lang: str = "de") -> str:
        """Return the caption in ``lang`` (German, then the name, as fallbacks)."""
        return self.caption.get(lang) or self.caption.get("de") or self.name

    def to_local(self, origin: Sequence[float]) -> Bookmark:
        """Return this bookmark in local coordinates (absolute minus ``origin``)."""
        if self.crs == "local":
            return self
        o = np.asarray(origin, dtype=float)[:3]
        return replace(
            self,
            position=tuple(float(v) for v in np.asarray(self.position) - o),
            focal_point=tuple(float(v) for v in np.asarray(self.focal_point) - o),
            crs="local",
        )

    def camera_position(self) -> list[Vec3]:
        """Return ``[position, focal_point, view_up]`` (``Plotter.camera_position``)."""
        return [self.position, self.focal_point, self.view_up]


def default_camera(
    bounds: Sequence[float], *, azimuth: float = -35.0, elevation: float = 40.0
) -> Bookmark:
    """Return an oblique view onto the centre of ``bounds``, framing the whole extent.

    Parameters
    ----------
    bounds : sequence of float
        ``(xmin, xmax, ymin, ymax, zmin, zmax)`` in local coordinates (as ``mesh.bounds``).
    azimuth : float
        Compass direction the camera looks from, degrees clockwise from south (negative =
        from the south-west).
    elevation : float
        Degrees above the horizon.

    Returns
    -------
    Bookmark
        Named ``"home"``, in local coordinates.
    """
    xmin, xmax, ymin, ymax, zmin, _zmax = (float(b) for b in bounds)
    centre = np.array([(xmin + xmax) / 2, (ymin + ymax) / 2, zmin])
    extent = max(xmax - xmin, ymax - ymin, 1.0)
    distance = 0.85 * extent
    az, el = np.radians(azimuth), np.radians(elevation)
    # From the south (negative y), rotated by the azimuth, raised by the elevation.
    direction = np.array([np.sin(az) * np.cos(el), -np.cos(az) * np.cos(el), np.sin(el)])
    position = centre + distance * direction
    return Bookmark(
        name="home",
        position=tuple(float(v) for v in position),
        focal_point=tuple(float(v) for v in centre),
        view_up=(0.0, 0.0, 1.0),
        caption={"de": "Übersicht", "en": "Overview"},
        crs="local",
    )


def look_at(target: Sequence[float], *, distance: float = 400.0, name: str = "target") -> Bookmark:
    """Return an oblique camera looking at a local point from the south-west (for search results).

    Parameters
    ----------
    target : sequence of float
        Local ``(x, y, z)`` to look at.
    distance : float
        Distance of the camera from the target, metres.
    name : str
        Name of the bookmark.
    """
    t = np.asarray(target, dtype=float)
    direction = np.array([-0.45, -0.6, 0.66])
    direction /= np.linalg.norm(direction)
    return Bookmark(
        name=name,
        position=tuple(float(v) for v in t + distance * direction),
        focal_point=tuple(float(v) for v in t),
        crs="local",
    )
