"""How a Twin is drawn: camera bookmarks, the kiosk tour, building tiles and the PyVista plotter.

:class:`ViewMixin` is mixed into :class:`~twin.scene.twin.Twin`; it expects the attributes
``mesh``, ``painter``, ``origin``, ``config``, ``bookmarks``, ``home``, ``_tiles`` and the
method ``refresh``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twin.errors import SceneError
from twin.scene.camera import Bookmark
from twin.scene.render import make_plotter, split_tiles
from twin.scene.tour import Tour


class ViewMixin:
    """Bookmarks, tour, tiles, plotter and ``show`` of a Twin."""

    mesh: Any
    painter: Any
    origin: Any
    config: Any
    bookmarks: list[Bookmark]
    home: Bookmark
    _tiles: dict[int, list[Any]]

    def tour(self, *, clock: Callable[[], float] | None = None) -> Tour:
        """Return a kiosk :class:`~twin.scene.tour.Tour` over the scene's tour (local coordinates).

        Parameters
        ----------
        clock : callable, optional
            Time source (default ``time.monotonic``).
        """
        local = [b.to_local(self.origin) for b in self.config.tour_bookmarks()]
        kwargs: dict[str, Any] = {} if clock is None else {"clock": clock}
        return Tour(
            local or [self.home],
            seconds_per_stop=self.config.tour.seconds_per_stop,
            idle_resume=self.config.tour.idle_resume,
            **kwargs,
        )

    def tiles(self, n: int) -> list[Any]:
        """Return the building mesh split into about ``n`` tiles, coloured in place (cached).

        Each tile has the cell arrays ``building`` (City row) and ``cell_id`` (cell of
        :attr:`mesh`) for picking. See :func:`twin.scene.render.split_tiles`.
        """
        if n not in self._tiles:
            for old in self._tiles.values():
                for part in old:
                    if part is not self.mesh:
                        self.painter.detach(part)
            parts = split_tiles(self.mesh, n)
            if parts != [self.mesh]:
                for part in parts:
                    self.painter.attach(part)
            self._tiles = {n: parts}  # keep one tiling: every tiling costs a colour update
        return self._tiles[n]

    def plotter(self, *, off_screen: bool | None = None, **kwargs: Any) -> Any:
        """Return a :class:`pyvista.Plotter` with the city, context, sensors and camera.

        See :func:`twin.scene.render.make_plotter` for the options.
        """
        return make_plotter(self, off_screen=off_screen, **kwargs)

    def show(
        self,
        *,
        camera: str | Bookmark | None = None,
        jupyter_backend: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Refresh the colours and render in a notebook or a window.

        Parameters
        ----------
        camera : str or Bookmark, optional
            A bookmark (or its name) to look from; the oblique overview by default.
        jupyter_backend : str, optional
            ``"static"`` (a picture), ``"trame"`` (interactive), ``"none"``, ...; see
            :meth:`pyvista.Plotter.show`.
        **kwargs
            Passed to :meth:`plotter` (``window_size``, ``tiles``, ...).

        Returns
        -------
        object
            What :meth:`pyvista.Plotter.show` returns (a widget or image in notebooks).
        """
        self.refresh()  # type: ignore[attr-defined]
        pl = self.plotter(**kwargs)
        if camera is not None:
            pl.camera_position = self.bookmark(camera).camera_position()
        return pl.show(jupyter_backend=jupyter_backend)

    def bookmark(self, name_or_bookmark: str | Bookmark) -> Bookmark:
        """Return a bookmark by name (or the given one) in local coordinates.

        Raises
        ------
        SceneError
            For an unknown name; the message lists the bookmarks.
        """
        if isinstance(name_or_bookmark, Bookmark):
            return name_or_bookmark.to_local(self.origin)
        for b in self.bookmarks:
            if b.name == name_or_bookmark:
                return b
        valid = ", ".join(b.name for b in self.bookmarks) or "none"
        raise SceneError(f"unknown bookmark {name_or_bookmark!r} (bookmarks: {valid})")
