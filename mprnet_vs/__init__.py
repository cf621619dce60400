"""MPRNet image restoration (Zamir et al., CVPR 2021) for VapourSynth, video files and photos."""

from __future__ import annotations

from typing import Any

from .errors import InputError, MprnetError, PresetError, WeightsError

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "MprnetError",
    "WeightsError",
    "PresetError",
    "InputError",
    "load_model",
    "Restorer",
    "derain",
    "deblur",
    "denoise",
]

# Everything heavier than the error types loads on first use, so `import mprnet_vs` (and so the
# command line's start) stays quick, torch-free and needs no VapourSynth core until a model or
# a filter is asked for; Ctrl-C during start-up then finds the command's signal handling in place.
_LAZY = {
    "load_model": ("mprnet_vs.weights", "load_model"),
    "Restorer": ("mprnet_vs.engine", "Restorer"),
    "derain": ("mprnet_vs.vapoursynth.filters", "derain"),
    "deblur": ("mprnet_vs.vapoursynth.filters", "deblur"),
    "denoise": ("mprnet_vs.vapoursynth.filters", "denoise"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module_name, attr = _LAZY[name]
        value = getattr(importlib.import_module(module_name), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mprnet_vs' has no attribute {name!r}")
