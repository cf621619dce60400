"""The restoration engine every front end uses: :class:`Restorer` plus the shared model cache."""

from .cache import clear_model_cache, loaded_model_count
from .devices import device_name, resolve_device
from .restorer import OOM_ERRORS, Restorer

__all__ = ["Restorer", "loaded_model_count", "clear_model_cache", "resolve_device", "device_name", "OOM_ERRORS"]
