"""The kiosk tour state machine, driven by explicit times (no sleeping)."""

from __future__ import annotations

import pytest

from twin.scene.camera import Bookmark
from twin.scene.tour import Tour


def stops(n: int = 3) -> list[Bookmark]:
    return [Bookmark(f"s{i}", (0.0, 0.0, 100.0), (float(i), 0.0, 0.0)) for i in range(n)]


def test_advances_when_due_and_wraps():
    tour = Tour(stops(3), seconds_per_stop=10, idle_resume=60)
    assert tour.current is None
    assert tour.tick(100.0).name == "s0"
    assert tour.tick(105.0) is None and tour.current.name == "s0"
    assert tour.remaining(105.0) == pytest.approx(5.0)
    assert tour.tick(110.0).name == "s1"
    assert tour.tick(120.0).name == "s2"
    assert tour.tick(130.0).name == "s0"  # wraps around


def test_user_input_pauses_and_idle_resumes():
    tour = Tour(stops(3), seconds_per_stop=10, idle_resume=60)
    tour.tick(0.0)
    tour.user_input(5.0)
    assert tour.paused(5.0)
    for now in (10.0, 20.0, 64.9):  # would have advanced without the input
        assert tour.tick(now) is None
    assert tour.current.name == "s0"
    tour.user_input(50.0)  # more input extends the pause
    assert tour.tick(100.0) is None
    assert tour.paused(109.0)
    assert tour.tick(110.0).name == "s1"  # resumes at once after 60 s idle
    assert not tour.paused(110.0)
    assert tour.tick(115.0) is None and tour.tick(120.0).name == "s2"


def test_uses_its_clock_when_no_time_is_given():
    now = [0.0]
    tour = Tour(stops(2), seconds_per_stop=3, idle_resume=5, clock=lambda: now[0])
    assert tour.tick().name == "s0"
    now[0] = 3.0
    assert tour.tick().name == "s1"
    tour.user_input()
    now[0] = 7.9
    assert tour.tick() is None
    now[0] = 8.0
    assert tour.tick().name == "s0"


def test_empty_tour_and_bad_period():
    assert Tour([], seconds_per_stop=5).tick(0.0) is None
    with pytest.raises(ValueError):
        Tour(stops(), seconds_per_stop=0)
