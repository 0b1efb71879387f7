"""Progress bars of the importers: a tqdm bar named after the file, or nothing.

Library code only logs; the CLI asks for bars (``progress=True``) when stderr is a terminal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class _NoBar:
    """Stands in for a tqdm bar when progress is off: ``update`` does nothing."""

    def update(self, n: float = 1) -> None:
        """Ignore progress."""

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def progress_bar(
    enabled: bool, path: str | Path, *, total: float | None = None, unit: str = "", **options: Any
) -> Any:
    """Return a progress bar for reading ``path``, usable as a context manager.

    Parameters
    ----------
    enabled : bool
        False gives an object whose ``update`` does nothing (no tqdm import).
    path : str or pathlib.Path
        The file read; its name labels the bar.
    total : float, optional
        The expected total (bytes, features); None for a counter without an end.
    unit : str
        Unit shown after the count (``" buildings"``, ``"B"``).
    **options
        Further :class:`tqdm.tqdm` options (``unit_scale=True``).

    Returns
    -------
    tqdm.tqdm or a stand-in
        Call ``update(n)`` as work is done; leaving the ``with`` block closes the bar.
    """
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=Path(path).name, **options)
