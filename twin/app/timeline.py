"""The time bar of the app: the slider over the stored history, play, and back to live.

A mixin of :class:`~twin.app.app.TwinApp` (it uses the app's ``twin``, ``state``,
``refresh`` and ``_update_panels``): the slider position ``time_pos`` runs from 0 (the
oldest stored reading) to :data:`TIME_STEPS` (live); any other position shows the city as of
that moment through the Twin's as-of queries.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from twin.scene.i18n import t

log = logging.getLogger(__name__)

#: Steps of the time slider over the stored history.
TIME_STEPS = 288
#: Seconds the play button needs for the whole history.
PLAY_SECONDS = 60.0


class TimelineMixin:
    """Time slider, play and live for :class:`~twin.app.app.TwinApp`."""

    twin: Any
    state: Any
    _starting: bool
    # provided by the app: refresh, _update_panels

    def _on_time(self, time_pos: float = TIME_STEPS, **_: Any) -> None:
        if self._starting:
            return
        s = self.state
        lo, hi = self._time_bounds()
        if lo is None or float(time_pos) >= TIME_STEPS:
            s.live = True
            s.playing = False
            self.twin.set_time(None)
            s.time_label = t("app.live", s.lang)
        else:
            s.live = False
            when = lo + (hi - lo) * float(time_pos) / TIME_STEPS
            self.twin.set_time(when)
            s.time_label = t("time.as_of", s.lang, time=time_stamp(when, s.lang))
        self.refresh(force=True)
        self._update_panels()

    def _time_bounds(self) -> tuple[datetime | None, datetime | None]:
        try:
            bounds = self.twin.time_range()
        except Exception as err:  # the database may be down: the banner says so
            log.warning("time range unavailable: %s", err)
            return None, None
        if bounds is None or bounds[1] <= bounds[0]:
            return None, None
        return bounds[0].to_pydatetime(), bounds[1].to_pydatetime()

    def go_live(self) -> None:
        """Leave the history and show the latest readings."""
        self.state.playing = False
        self.state.time_pos = TIME_STEPS

    def toggle_play(self) -> None:
        """Start or stop playing the stored history from the slider's position."""
        s = self.state
        if s.playing:
            s.playing = False
            return
        if s.time_pos >= TIME_STEPS:
            s.time_pos = 0
        s.playing = True

    def _play_step(self, seconds: float) -> None:
        """Advance a playing slider by ``seconds`` of wall time (stops at live)."""
        s = self.state
        if not s.playing:
            return
        s.time_pos = min(TIME_STEPS, float(s.time_pos) + TIME_STEPS * seconds / PLAY_SECONDS)
        if s.time_pos >= TIME_STEPS:
            s.playing = False


def time_stamp(when: datetime, lang: str) -> str:
    """Return ``when`` in local time as the time bar shows it.

    Parameters
    ----------
    when : datetime.datetime
        A timezone-aware moment.
    lang : {"de", "en"}
        ``"de"`` gives ``26.11. 14:05``, ``"en"`` gives ``Nov 26 14:05``.

    Returns
    -------
    str
        The day and the time of day.
    """
    return when.astimezone().strftime("%d.%m. %H:%M" if lang == "de" else "%b %d %H:%M")
