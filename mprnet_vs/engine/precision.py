"""Compute precision: fp32, fp16, bf16, or "auto" (reduced precision on CUDA, fp32 on the CPU)."""

from __future__ import annotations

import torch

from ..errors import PresetError, first_line

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
NAMES = {dtype: name for name, dtype in DTYPES.items()}


def initial_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The dtype to start with. "auto" on CUDA starts with fp16 (the most mantissa bits of the
    reduced types, and fast on every CUDA GPU); if its outputs are ever not finite the engine
    moves to :func:`fallback_dtype`. On the CPU "auto" is fp32: reduced types are slower there."""
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return DTYPES[precision]


def fallback_dtype(dtype: torch.dtype, device: torch.device) -> torch.dtype | None:
    """Where "auto" goes when ``dtype`` overflowed: fp16 -> bf16 (fp32's range) -> fp32 -> none."""
    if dtype == torch.float16:
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if dtype == torch.bfloat16:
        return torch.float32
    return None


def check_supported(dtype: torch.dtype, device: torch.device) -> None:
    """Fail at construction, not on the first frame, when ``device`` cannot run convolutions
    in ``dtype`` (old torch builds lack fp16 convolutions on the CPU)."""
    try:
        with torch.inference_mode():
            probe = torch.zeros(1, 1, 8, 8, device=device, dtype=dtype)
            weight = torch.zeros(1, 1, 3, 3, device=device, dtype=dtype)
            torch.nn.functional.conv2d(probe, weight, padding=1)
    except (RuntimeError, NotImplementedError) as exc:
        raise PresetError(
            f"precision {NAMES.get(dtype, dtype)} is not supported on {device} by this torch build ({first_line(exc)}); "
            "use precision='fp32' or 'auto'"
        ) from None
