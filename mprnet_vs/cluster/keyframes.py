"""Where a video may be cut without changing a single decoded frame.

A cut before packet ``i`` (decode order) is safe when decoding from ``i`` on needs nothing
before it and yields exactly the frames the whole file yields from there: the packet is a
keyframe that resets the decoder (an H.264/HEVC IDR, not an open-GOP I/CRA frame whose leading
pictures look back), and the cut splits presentation order where it splits decode order (no
later packet is shown before it, no earlier one after it). Both are checked on the packets
alone, without decoding anything.
"""

from __future__ import annotations

from collections.abc import Iterator

# NAL unit types that start a picture the decoder can begin with, with nothing looking back.
H264_IDR = frozenset({5})
HEVC_IDR = frozenset({19, 20})  # IDR_W_RADL, IDR_N_LP (CRA and BLA may carry leading pictures)
HEVC_PICTURE_TYPES = range(0, 32)  # VCL NAL units; the first one in a packet tells its kind


def nal_length_size(codec: str, extradata: bytes | None) -> int | None:
    """Bytes of each NAL length prefix (avcC / hvcC layout), or None for Annex-B start codes."""
    if not extradata or extradata[0] != 1:
        return None
    if codec == "h264" and len(extradata) > 4:
        return (extradata[4] & 3) + 1
    if codec == "hevc" and len(extradata) > 21:
        return (extradata[21] & 3) + 1
    return None


def _nal_headers(data: bytes, length_size: int | None) -> Iterator[int]:
    """The first header byte of every NAL unit in one packet."""
    if length_size is not None:
        at = 0
        while at + length_size < len(data):
            size = int.from_bytes(data[at : at + length_size], "big")
            if size <= 0:
                return
            yield data[at + length_size]
            at += length_size + size
        return
    at = data.find(b"\x00\x00\x01")
    while at >= 0 and at + 3 < len(data):
        yield data[at + 3]
        at = data.find(b"\x00\x00\x01", at + 3)


def resets_decoder(codec: str, data: bytes, length_size: int | None) -> bool:
    """True when a keyframe packet of ``codec`` is one decoding can start at with nothing
    before it. For codecs other than H.264/HEVC a keyframe is taken at its word (VP8/VP9/AV1
    key frames refresh every reference; intra-only codecs have nothing to refer to); the
    ordering check of :func:`safe_cuts` catches open GOPs of MPEG-2/MPEG-4 part 2."""
    if codec == "h264":
        return any((header & 0x1F) in H264_IDR for header in _nal_headers(data, length_size))
    if codec == "hevc":
        for header in _nal_headers(data, length_size):
            kind = (header >> 1) & 0x3F
            if kind in HEVC_PICTURE_TYPES:
                return kind in HEVC_IDR
        return False
    return True


def safe_cuts(stamps: list[int], resets: list[bool]) -> list[int]:
    """Packet indexes (decode order, > 0) before which the stream may be cut: ``resets[i]``
    is true and every earlier packet is shown before ``stamps[i]``, every later one from it on."""
    count = len(stamps)
    shown_after = [0] * (count + 1)  # the smallest stamp from i on
    shown_after[count] = None  # type: ignore[call-overload]
    smallest: int | None = None
    for i in range(count - 1, -1, -1):
        smallest = stamps[i] if smallest is None else min(smallest, stamps[i])
        shown_after[i] = smallest
    cuts: list[int] = []
    largest_before: int | None = None
    for i in range(count):
        if i > 0 and resets[i] and largest_before is not None and largest_before < stamps[i] and shown_after[i] == stamps[i]:
            cuts.append(i)
        largest_before = stamps[i] if largest_before is None else max(largest_before, stamps[i])
    return cuts
