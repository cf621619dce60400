"""What an untagged YUV source is taken to be: one rule for every front end.

A stream that does not say its matrix is converted with a guess, and the VapourSynth filters and
``mprnet-vs restore`` must make the same guess, or one clip is restored in two colours. The rule
follows the primaries when they are tagged (they name the system the picture was made for),
else VapourSynth's own convention, the one vs-tools applies (``Matrix.from_res``) and most
VapourSynth scripts therefore assume: a frame no larger than 1024 x 576 on both sides is SD and
BT.601 (SMPTE 170M); anything larger is BT.709. (FFmpeg-based tools often split at 1280 x 720
instead, so an untagged 800x600 or 1024x720 clip may look different there.)
"""

from __future__ import annotations

MATRIX_BT709, MATRIX_SMPTE170M, MATRIX_BT2020_NCL = 1, 6, 9
PRIMARIES_BT709, PRIMARIES_BT470M, PRIMARIES_BT470BG, PRIMARIES_SMPTE170M, PRIMARIES_SMPTE240M, PRIMARIES_BT2020 = 1, 4, 5, 6, 7, 9
SD_LIMIT = (1024, 576)  # width, height: at most this on both sides is SD

MATRIX_LABELS = {MATRIX_BT709: "BT.709", MATRIX_SMPTE170M: "BT.601 (170m)", MATRIX_BT2020_NCL: "BT.2020"}


def guess_matrix(width: int, height: int, primaries: int | None = None) -> tuple[int, str]:
    """(H.273 matrix code, why) for an untagged YUV frame of ``width`` x ``height`` whose
    primaries code is ``primaries`` (None or 2 = not tagged either)."""
    if primaries == PRIMARIES_BT2020:
        return MATRIX_BT2020_NCL, "BT.2020 primaries"
    if primaries == PRIMARIES_BT709:
        return MATRIX_BT709, "BT.709 primaries"
    if primaries in (PRIMARIES_BT470M, PRIMARIES_BT470BG, PRIMARIES_SMPTE170M, PRIMARIES_SMPTE240M):
        return MATRIX_SMPTE170M, "BT.601 primaries"
    if width <= SD_LIMIT[0] and height <= SD_LIMIT[1]:
        return MATRIX_SMPTE170M, f"SD size {width}x{height}"
    return MATRIX_BT709, f"HD size {width}x{height}"
