"""Helpers shared by the importer tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from twin.errors import GeodataError
from twin.geodata.city import City


def row(city: City, source_id: str) -> pd.Series:
    """The first row of ``city`` with the given ``source_id``."""
    b = city.buildings
    return b.loc[b["source_id"] == source_id].iloc[0]


def rejects(
    read: Callable[[Path], City], path: Path, content: str | bytes | None, pattern: str
) -> GeodataError:
    """Write ``content`` to ``path`` (None: leave it as it is), read it, expect the error.

    The message must match ``pattern`` (a regular expression) and be one line; the error
    is returned for further checks.
    """
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(GeodataError, match=pattern) as info:
        read(path)
    assert "\n" not in str(info.value)
    return info.value
