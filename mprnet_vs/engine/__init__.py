"""The restoration engine every front end uses: :class:`Restorer`, the shared model cache, and
the one description of the engine's options (:mod:`.options`, importable without torch)."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Restorer", "loaded_model_count", "clear_model_cache", "resolve_device", "device_name", "OOM_ERRORS"]

# Loaded on first use, so `mprnet_vs.engine.options` (the CLI's parser) needs no torch.
_LAZY = {
    "Restorer": "restorer", "OOM_ERRORS": "restorer",
    "loaded_model_count": "cache", "clear_model_cache": "cache",
    "resolve_device": "devices", "device_name": "devices",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
