"""Kiosk mode: the automatic camera tour and the client script that survives lost connections.

The tour itself is :class:`twin.scene.tour.Tour` (a pure state machine); this module drives
it from the app's periodic task and turns each stop into a smooth camera flight. The
reconnect script runs in the browser: when the websocket closes (server restart, network
drop) it shows a banner, probes the server every second and reloads the page as soon as the
server answers, so a wall screen comes back by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

#: Browser script: reload the page once the server is reachable again after the websocket
#: closed. Bounded work (one timer), no growing lists, so it can run for days.
RECONNECT_JS = r"""
(function () {
  if (window.__twinReconnect) { return; }
  window.__twinReconnect = true;
  var lost = false;
  function banner(show) {
    var el = document.getElementById('twin-offline');
    if (!el && show) {
      el = document.createElement('div');
      el.id = 'twin-offline';
      el.setAttribute('role', 'alert');
      el.setAttribute('data-testid', 'offline-banner');
      el.style.cssText = 'position:fixed;top:0;left:0;right:0;z-index:99999;padding:12px;' +
        'background:#b71c1c;color:#fff;font:bold 18px sans-serif;text-align:center';
      el.textContent = (document.documentElement.lang === 'en')
        ? 'Connection lost - reconnecting...'
        : 'Verbindung unterbrochen - verbinde neu...';
      document.body.appendChild(el);
    }
    if (el) { el.style.display = show ? 'block' : 'none'; }
  }
  function probe() {
    fetch(window.location.href, { cache: 'no-store' })
      .then(function (r) { if (r.ok) { window.location.reload(); } else { later(); } })
      .catch(later);
  }
  function later() { setTimeout(probe, 1000); }
  function onLost() {
    if (lost) { return; }
    lost = true;
    banner(true);
    later();
  }
  function hook() {
    var c = window.trame && window.trame.client;
    if (!c || !c.onConnectionClose) { setTimeout(hook, 250); return; }
    c.onConnectionClose(onLost);
  }
  hook();
  setInterval(function () {
    var c = window.trame && window.trame.client;
    if (c && c.isConnected && !c.isConnected() && window.trame.state) { onLost(); }
  }, 2000);
})();
"""


@dataclass
class Flight:
    """A camera flight between two camera poses, sampled by elapsed time.

    Parameters
    ----------
    start, end : tuple of three 3-tuples
        ``(position, focal_point, view_up)`` at the start and the end.
    t0 : float
        Start time (monotonic seconds).
    duration : float
        Length of the flight in seconds.
    """

    start: tuple
    end: tuple
    t0: float
    duration: float = 1.5

    def at(self, now: float) -> tuple[tuple, bool]:
        """Camera pose at time ``now`` and whether the flight is over.

        Parameters
        ----------
        now : float
            Monotonic time in seconds.

        Returns
        -------
        tuple
            ``((position, focal_point, view_up), done)``; the pose eases in and out.
        """
        u = 1.0 if self.duration <= 0 else min(max((now - self.t0) / self.duration, 0.0), 1.0)
        s = u * u * (3.0 - 2.0 * u)
        pose = tuple(
            tuple(float(v) for v in (1 - s) * np.asarray(a, float) + s * np.asarray(b, float))
            for a, b in zip(self.start, self.end, strict=True)
        )
        return pose, u >= 1.0


class KioskTour:
    """Drive a :class:`twin.scene.tour.Tour` and produce camera flights and captions.

    Parameters
    ----------
    tour : twin.scene.tour.Tour
        The tour state machine over the scene's bookmarks.
    caption : callable
        ``caption(bookmark) -> str`` in the current language.
    """

    def __init__(self, tour, caption: Callable[[object], str]) -> None:
        self.tour = tour
        self.caption = caption
        self.current = None
        self.stops = 0

    def tick(self, now: float):
        """Advance the tour; return the bookmark to fly to, or None.

        Parameters
        ----------
        now : float
            Monotonic time in seconds.

        Returns
        -------
        Bookmark or None
            The new stop when the tour moved on.
        """
        bookmark = self.tour.tick(now)
        if bookmark is not None:
            self.current = bookmark
            self.stops += 1
        return bookmark

    def user_input(self, now: float) -> None:
        """Pause the tour after user input; it resumes after the idle time.

        Parameters
        ----------
        now : float
            Monotonic time in seconds.
        """
        self.tour.user_input(now)
