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


def bad_input_test(
    read: Callable[[Path], City], cases: dict[str, tuple[str, str | bytes | None, str]]
) -> Callable:
    """A test over ``cases`` (``{case: (file name, content, pattern)}``), one run per case.

    Assign it to a ``test_...`` name in a test module; each case writes its file under
    ``tmp_path`` and expects :func:`rejects` to hold.
    """

    @pytest.mark.parametrize("case", sorted(cases))
    def test(tmp_path: Path, case: str) -> None:
        name, content, pattern = cases[case]
        rejects(read, tmp_path / name, content, pattern)

    return test
