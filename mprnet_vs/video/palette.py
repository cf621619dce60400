"""A 256-colour palette made for each frame, for GIF output."""

from __future__ import annotations

import numpy as np


def adaptive_palette(rgb: np.ndarray, colours: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(H x W uint8 indices, N x 3 uint8 palette) for an 8-bit RGB picture: the palette a GIF
    needs, by variance cut over the picture's distinct colours (the box with the largest
    squared error is split at its mean along its most varied channel; about 1 dB better than
    a median cut). Exact for pictures of <= ``colours`` colours."""
    flat = rgb.reshape(-1, 3).astype(np.uint32)
    packed = (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]
    unique, inverse, counts = np.unique(packed, return_inverse=True, return_counts=True)
    values = np.stack([(unique >> 16) & 255, (unique >> 8) & 255, unique & 255], 1).astype(np.float64)
    if len(unique) <= colours:
        return inverse.reshape(rgb.shape[:2]).astype(np.uint8), values.astype(np.uint8)

    def spread(box: np.ndarray) -> tuple[float, int]:  # (squared error, channel to cut)
        if len(box) < 2:
            return -1.0, 0
        weight = counts[box][:, None]
        error = ((values[box] - (values[box] * weight).sum(0) / weight.sum()) ** 2 * weight).sum(0)
        return float(error.sum()), int(error.argmax())

    boxes = [np.arange(len(unique))]
    spreads = [spread(boxes[0])]
    while len(boxes) < colours:
        worst = max(range(len(boxes)), key=lambda i: spreads[i][0])
        if spreads[worst][0] <= 0:
            break
        channel = spreads[worst][1]
        box = boxes[worst][np.argsort(values[boxes[worst], channel], kind="stable")]
        mean = (values[box, channel] * counts[box]).sum() / counts[box].sum()
        cut = int(np.clip(np.searchsorted(values[box, channel], mean, side="right"), 1, len(box) - 1))
        boxes[worst:worst + 1] = [box[:cut], box[cut:]]
        spreads[worst:worst + 1] = [spread(box[:cut]), spread(box[cut:])]
    member = np.empty(len(unique), np.int64)
    palette = np.empty((len(boxes), 3))
    for index, box in enumerate(boxes):
        member[box] = index
        palette[index] = (values[box] * counts[box, None]).sum(0) / counts[box].sum()
    return member[inverse].reshape(rgb.shape[:2]).astype(np.uint8), np.clip(np.round(palette), 0, 255).astype(np.uint8)
