"""The VapourSynth front end: the filters :func:`derain`, :func:`deblur` and :func:`denoise`
(:mod:`.filters`), batching inside VapourSynth's frame requests (:mod:`.batching`), clip format
conversion (:mod:`.formats`), the ``.vpy`` scripts' argument handling (:mod:`.script`) and
source checks (:mod:`.source`). The scripts themselves ship in ``scripts/``."""

from .filters import deblur, denoise, derain, restore_clip

__all__ = ["derain", "deblur", "denoise", "restore_clip"]
