"""The kiosk's automatic camera tour: a pure state machine over bookmarks.

The tour holds no timer of its own: the caller passes the current time to :meth:`Tour.tick`
(e.g. from a periodic task) and gets the next :class:`~twin.scene.camera.Bookmark` when a stop
is due. Any user input pauses the tour; it resumes by itself after ``idle_resume`` seconds
without input. Time comes from ``clock`` (``time.monotonic``) unless given, so tests drive
it with plain numbers.

Examples
--------
>>> from twin.scene.camera import Bookmark
>>> stops = [Bookmark(n, (0, 0, 1), (0, 0, 0)) for n in "abc"]
>>> tour = Tour(stops, seconds_per_stop=10, idle_resume=60)
>>> tour.tick(0.0).name, tour.tick(5.0), tour.tick(10.0).name
('a', None, 'b')
>>> tour.user_input(11.0); tour.tick(30.0), tour.tick(71.0).name
(None, 'c')
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from twin.scene.camera import Bookmark


class Tour:
    """Cycle through bookmarks, pausing on user input.

    Parameters
    ----------
    bookmarks : sequence of Bookmark
        The stops, in order; the tour wraps around.
    seconds_per_stop : float
        How long the camera stays at each stop.
    idle_resume : float
        Seconds without user input after which a paused tour goes on.
    clock : callable
        Returns the current time in seconds when ``now`` is not passed.
    """

    def __init__(
        self,
        bookmarks: Sequence[Bookmark],
        *,
        seconds_per_stop: float = 12.0,
        idle_resume: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if seconds_per_stop <= 0:
            raise ValueError("seconds_per_stop must be positive")
        self.bookmarks = list(bookmarks)
        self.seconds_per_stop = float(seconds_per_stop)
        self.idle_resume = float(idle_resume)
        self.clock = clock
        self.index = -1
        self._due: float | None = None
        self._paused_until: float | None = None

    @property
    def current(self) -> Bookmark | None:
        """The stop shown now, or None before the first tick."""
        return self.bookmarks[self.index] if self.index >= 0 and self.bookmarks else None

    def paused(self, now: float | None = None) -> bool:
        """Whether user input holds the tour at ``now``."""
        now = self.clock() if now is None else now
        return self._paused_until is not None and now < self._paused_until

    def tick(self, now: float | None = None) -> Bookmark | None:
        """Advance when a stop is due.

        Parameters
        ----------
        now : float, optional
            The current time (default ``clock()``).

        Returns
        -------
        Bookmark or None
            The bookmark to fly to now, or None when nothing changes (not yet due, paused,
            or no bookmarks).
        """
        now = self.clock() if now is None else now
        if not self.bookmarks:
            return None
        if self._paused_until is not None:
            if now < self._paused_until:
                return None
            self._paused_until = None
            self._due = now  # resume: move on at once
        if self._due is not None and now < self._due:
            return None
        self.index = (self.index + 1) % len(self.bookmarks)
        self._due = now + self.seconds_per_stop
        return self.bookmarks[self.index]

    def user_input(self, now: float | None = None) -> None:
        """Note user input at ``now``: pause until ``idle_resume`` seconds have passed."""
        now = self.clock() if now is None else now
        self._paused_until = now + self.idle_resume

    def remaining(self, now: float | None = None) -> float:
        """Seconds until the next stop (or until the pause ends, when paused)."""
        now = self.clock() if now is None else now
        if self.paused(now):
            return float(self._paused_until - now)  # type: ignore[operator]
        return max(0.0, (self._due or now) - now)
