"""Shared test fixtures: real third-party data, required system tools, offscreen rendering."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]
#: Real third-party files (see SOURCES.md there); never copied into the repository.
REALDATA = Path(os.environ.get("TWIN_REALDATA", ROOT.parent / "shared" / "realdata"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

os.environ.setdefault("PYVISTA_OFF_SCREEN", "true")

# Property tests explore new random examples on every local run (that is how they find bugs);
# on CI they replay a fixed set and have no per-example time limit, so that a red CI means a
# regression, not a new random find or a slow shared machine.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if IN_CI:
    settings.load_profile("ci")


def realdata_path(relative: str) -> Path:
    """Return a file of ``../shared/realdata``; skip the test when the folder is absent."""
    path = REALDATA / relative
    if not path.exists():
        if IN_CI:
            pytest.fail(f"real data file {path} is missing on CI")
        pytest.skip(f"real data {relative} not found in {REALDATA} (a fresh clone has none)")
    return path


def require_tool(name: str) -> str:
    """Return the path of a system tool; fail on CI, skip elsewhere, when it is missing."""
    path = shutil.which(name)
    if path is None:
        message = f"system tool {name!r} is not installed (apt-get install {name})"
        if IN_CI:
            pytest.fail(message + "; .ci/run must install it")
        pytest.skip(message)
    return path


@pytest.fixture
def realdata():
    """The :func:`realdata_path` function as a fixture."""
    return realdata_path


@pytest.fixture(autouse=True, scope="session")
def _offscreen():
    import pyvista

    pyvista.OFF_SCREEN = True
    yield
