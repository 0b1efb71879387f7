"""Scene: scene files, binding sensors to buildings, colour styles, the live twin object.

The main entry points (imported lazily, so ``import twin.scene`` stays cheap):

- :class:`~twin.scene.twin.Twin`: the City mesh coloured live by sensor readings;
- :func:`~twin.scene.config.load_scene` and :class:`~twin.scene.config.SceneConfig`;
- :func:`~twin.scene.binding.bind_devices`;
- :mod:`~twin.scene.styles` (:class:`Style`, :data:`DEFAULT_STYLES`, :func:`colors`,
  :func:`legend`), :mod:`~twin.scene.i18n` (:func:`t`), :class:`~twin.scene.tour.Tour`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Twin": "twin.scene.twin",
    "SceneConfig": "twin.scene.config",
    "load_scene": "twin.scene.config",
    "bind_devices": "twin.scene.binding",
    "Style": "twin.scene.styles",
    "DEFAULT_STYLES": "twin.scene.styles",
    "colors": "twin.scene.styles",
    "legend": "twin.scene.styles",
    "t": "twin.scene.i18n",
    "Tour": "twin.scene.tour",
    "Bookmark": "twin.scene.camera",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'twin.scene' has no attribute {name!r}")
