"""Checking parsed TOML: typed getters that raise one-line errors naming file and key.

Used by :mod:`twin.scene.config`; every message reads ``<file>: <key>: <what was expected>``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from twin.errors import SceneError
from twin.scene.i18n import LANGUAGES


class Checker:
    """Typed access to parsed TOML that raises one-line :class:`SceneError` naming the key.

    Parameters
    ----------
    path : pathlib.Path
        The file being checked (named in every message; relative paths resolve against
        its folder).
    check_files : bool
        Require files named by :meth:`file` with ``must_exist`` to exist.
    """

    def __init__(self, path: Path, *, check_files: bool = True) -> None:
        self.path = path
        self.folder = path.parent
        self.check_files = check_files

    def error(self, key: str, message: str) -> SceneError:
        """Return the error ``<file>: <key>: <message>`` on one line (for ``raise``)."""
        text = f"{self.path}: {key}: {message}"
        return SceneError(text.replace("\r", "\\r").replace("\n", "\\n"))

    def table(self, data: Any, key: str) -> dict[str, Any]:
        """Return ``data`` if it is a TOML table, else raise."""
        if not isinstance(data, dict):
            raise self.error(key, f"expected a table, got {show(data)}")
        return data

    def known(self, data: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> None:
        """Raise on the first key of ``data`` not in ``allowed`` (typos never pass silently)."""
        for k in data:
            if k not in allowed:
                where = join_key(key, k)
                raise self.error(where, f"unknown key (valid: {', '.join(allowed)})")

    def string(self, data: Mapping[str, Any], key: str, name: str, default: Any = None) -> Any:
        """Return ``data[name]`` as a non-empty string, ``default`` when absent."""
        if name not in data:
            return default
        v = data[name]
        if not isinstance(v, str) or not v.strip():
            raise self.error(join_key(key, name), f"expected a non-empty string, got {show(v)}")
        return v

    def number(
        self,
        data: Mapping[str, Any],
        key: str,
        name: str,
        default: Any = None,
        *,
        positive: bool = False,
        integer: bool = False,
    ) -> Any:
        """Return ``data[name]`` as a finite number (an integer if asked), ``default`` if absent."""
        if name not in data:
            return default
        v = data[name]
        kind = "an integer" if integer else "a number"
        ok = isinstance(v, int) if integer else isinstance(v, int | float)
        if isinstance(v, bool) or not ok or (isinstance(v, float) and not math.isfinite(v)):
            raise self.error(join_key(key, name), f"expected {kind}, got {show(v)}")
        if positive and v <= 0:
            raise self.error(join_key(key, name), f"expected a positive number, got {v}")
        return v

    def numbers(self, v: Any, key: str, n: int | None, what: str) -> tuple[float, ...]:
        """Return ``v`` as a tuple of floats (exactly ``n`` of them unless None)."""
        if (
            not isinstance(v, list)
            or (n is not None and len(v) != n)
            or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)
        ):
            raise self.error(key, f"expected {what}, got {show(v)}")
        return tuple(float(x) for x in v)

    def strings(self, data: Mapping[str, Any], key: str, name: str) -> list[str] | None:
        """Return ``data[name]`` as a list of strings (one string is a list of one)."""
        if name not in data:
            return None
        v = data[name]
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
            raise self.error(join_key(key, name), f"expected a list of strings, got {show(v)}")
        return list(v)

    def labels(self, data: Mapping[str, Any], key: str, name: str) -> dict[str, str] | None:
        """Return a text per language: a string (for all) or a table ``{de, en}``."""
        if name not in data:
            return None
        v = data[name]
        if isinstance(v, str):
            return {"de": v, "en": v}
        where = join_key(key, name)
        v = self.table(v, where)
        self.known(v, where, LANGUAGES)
        for lang, text in v.items():
            if not isinstance(text, str):
                raise self.error(f"{where}.{lang}", f"expected a string, got {show(text)}")
        return dict(v)

    def file(self, data: Mapping[str, Any], key: str, name: str, *, must_exist: bool) -> Any:
        """Return ``data[name]`` as a path resolved against the file's folder."""
        v = self.string(data, key, name)
        if v is None:
            return None
        p = Path(v).expanduser()
        p = p if p.is_absolute() else (self.folder / p)
        if must_exist and self.check_files and not p.exists():
            raise self.error(join_key(key, name), f"file {p} does not exist")
        return p


def join_key(key: str, name: str) -> str:
    """Return the dotted key ``key.name`` (``name`` at the top level; odd names quoted)."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        name = repr(name)
    return f"{key}.{name}" if key else name


def show(v: Any) -> str:
    """Return a short text of a bad value for a message."""
    text = repr(v) if not isinstance(v, list | dict) else str(v)
    return text if len(text) <= 60 else text[:57] + "..."
