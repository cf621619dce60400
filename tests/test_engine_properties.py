"""Property tests of the engine (hypothesis): for any image size, sample type, tile, overlap and
batch, restoring keeps the shape and the type, stays within the valid range, leaves the input
alone, and batching never changes a result. Sizes are tiny so the whole file runs in seconds."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mprnet_vs.engine import Restorer
from mprnet_vs.engine.padding import crop, pad_to_multiple
from mprnet_vs.engine.tiling import plan

PROPERTIES = settings(
    max_examples=30,
    deadline=None,  # a loaded CPU makes single examples slow; the suite time is what matters
    derandomize=True,  # the same examples on every run: a failure here is reproducible
    database=None,  # write no .hypothesis folder into the checkout
    suppress_health_check=[HealthCheck.too_slow],
)

DTYPES = [np.uint8, np.uint16, np.float16, np.float32, np.float64]
sizes = st.integers(min_value=1, max_value=40)
tiles = st.one_of(st.just(0), st.integers(min_value=8, max_value=48))
contents = st.sampled_from(["noise", "zeros", "peak", "stripes"])


@pytest.fixture(scope="module")
def restorer_for(tiny_weights: Path):
    """Restorers by (tile, overlap, batch, stages), built once each (the model is shared)."""

    @cache
    def make(tile: int, overlap: int, batch: int, stages: int = 1) -> Restorer:
        return Restorer(weights=tiny_weights, tile=tile, overlap=overlap, batch=batch, stages=stages, device="cpu")

    return make


def image(height: int, width: int, dtype: type, content: str, seed: int) -> np.ndarray:
    """An H x W x 3 image of ``dtype`` spanning its valid range ([0, 1] for floats)."""
    rng = np.random.default_rng(seed)
    if content == "zeros":
        unit = np.zeros((height, width, 3))
    elif content == "peak":
        unit = np.ones((height, width, 3))
    elif content == "stripes":
        unit = np.broadcast_to((np.arange(width) % 2)[None, :, None], (height, width, 3)).astype(float)
    else:
        unit = rng.random((height, width, 3))
    if np.issubdtype(dtype, np.integer):
        return np.round(unit * np.iinfo(dtype).max).astype(dtype)
    return unit.astype(dtype)


def assert_valid(out: np.ndarray, like: np.ndarray) -> None:
    assert out.shape == like.shape and out.dtype == like.dtype
    if out.dtype.kind == "f":
        assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0


@PROPERTIES
@given(height=sizes, width=sizes, dtype=st.sampled_from(DTYPES), tile=tiles, overlap=st.integers(0, 24),
       content=contents, seed=st.integers(0, 2**16))
def test_restore_keeps_shape_dtype_and_range(restorer_for, height, width, dtype, tile, overlap, content, seed):
    picture = image(height, width, dtype, content, seed)
    before = picture.copy()
    out = restorer_for(tile, overlap, 1).restore(picture)
    assert_valid(out, picture)
    assert np.array_equal(picture, before)  # the input is never modified


@PROPERTIES
@given(count=st.integers(1, 4), batch=st.integers(1, 4), height=sizes, width=sizes, dtype=st.sampled_from(DTYPES),
       tile=tiles, overlap=st.integers(0, 16), seed=st.integers(0, 2**16))
def test_batching_never_changes_a_result(restorer_for, count, batch, height, width, dtype, tile, overlap, seed):
    pictures = [image(height, width, dtype, "noise", seed + i) for i in range(count)]
    batched = restorer_for(tile, overlap, batch).restore_batch(pictures)
    single = restorer_for(tile, overlap, 1)
    assert len(batched) == count
    for picture, out in zip(pictures, batched):
        assert_valid(out, picture)
        alone = single.restore(picture)
        if out.dtype.kind == "f":
            np.testing.assert_allclose(out.astype(np.float64), alone.astype(np.float64),
                                       atol=1e-3 if out.dtype == np.float16 else 2e-5)
        else:
            assert np.abs(out.astype(np.int64) - alone.astype(np.int64)).max() <= 1


@PROPERTIES
@given(count=st.integers(1, 3), height=sizes, width=sizes,
       dtype=st.sampled_from([torch.float16, torch.bfloat16, torch.float32, torch.float64]),
       tile=tiles, batch=st.integers(1, 3), scale=st.sampled_from([1.0, 3.0]), seed=st.integers(0, 2**16))
def test_restore_tensor_keeps_shape_dtype_and_range(restorer_for, count, height, width, dtype, tile, batch, scale, seed):
    generator = torch.Generator().manual_seed(seed)
    x = ((torch.rand(count, 3, height, width, generator=generator) - 0.3) * scale).to(dtype)  # also outside [0, 1]
    before = x.clone()
    out = restorer_for(tile, 8, batch).restore_tensor(x)
    assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
    assert torch.isfinite(out).all() and float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert torch.equal(x, before)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(height=st.integers(1, 60).map(lambda n: 8 * n), width=st.integers(1, 60).map(lambda n: 8 * n),
       tile=st.integers(0, 520), overlap=st.integers(0, 300))
def test_tiles_cover_every_pixel_inside_the_frame(height, width, tile, overlap):
    tiles = plan(height, width, tile, overlap, torch.device("cpu"))
    coverage = torch.zeros(height, width)
    for t in tiles:
        assert 0 <= t.y and t.y + t.height <= height and 0 <= t.x and t.x + t.width <= width
        assert t.height % 8 == 0 and t.width % 8 == 0  # what the network needs
        assert t.weight.shape == (t.height, t.width) and float(t.weight.min()) > 0.0
        coverage[t.y : t.y + t.height, t.x : t.x + t.width] += t.weight
    assert float(coverage.min()) > 0.0  # no pixel left out, so dividing by coverage is safe


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(count=st.integers(1, 3), height=st.integers(1, 30), width=st.integers(1, 30), seed=st.integers(0, 2**16))
def test_padding_to_multiples_of_8_crops_back_exactly(count, height, width, seed):
    x = torch.rand(count, 3, height, width, generator=torch.Generator().manual_seed(seed))
    padded = pad_to_multiple(x)
    assert padded.shape[-2] % 8 == 0 and padded.shape[-1] % 8 == 0
    assert padded.shape[-2] - height < 8 and padded.shape[-1] - width < 8
    assert torch.equal(crop(padded, height, width), x)
