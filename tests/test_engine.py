"""The engine: padding, tiling with blended overlaps, batching, precision, devices, model cache,
out-of-memory recovery, on a real (tiny, deterministic) MPRNet checkpoint."""

from __future__ import annotations

import shutil
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import mprnet_vs
from conftest import write_checkpoint
from mprnet_vs import InputError, MprnetError, PresetError, WeightsError
from mprnet_vs import weights as weights_module
from mprnet_vs.engine import Restorer, autotile, clear_model_cache, loaded_model_count
from mprnet_vs.engine.tiling import plan, starts
from mprnet_vs.model import MPRNetConfig

MICRO = MPRNetConfig(n_feat=4, scale_unetfeats=4, scale_orsnetfeats=4, num_cab=1, reduction=4)


@pytest.fixture(scope="module")
def micro_weights(tmp_path_factory) -> Path:
    """An even smaller network, for the full-HD frame that must only round-trip."""
    return write_checkpoint(tmp_path_factory.mktemp("micro") / "micro.pth", MICRO, seed=3)


def smooth_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A natural-looking float32 RGB image: smooth gradients and waves plus a little grain."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    y, x = y / max(height, 1), x / max(width, 1)
    img = np.stack(
        [0.5 + 0.3 * np.sin(6 * x + 2 * y), 0.5 + 0.3 * np.cos(5 * y + 1.0), 0.4 + 0.2 * np.sin(9 * x * y + 0.5)], -1
    )
    return np.clip(img + 0.04 * rng.standard_normal(img.shape), 0, 1).astype(np.float32)


def as_dtype(img: np.ndarray, dtype) -> np.ndarray:
    if dtype == np.uint8:
        return np.round(img * 255).astype(np.uint8)
    if dtype == np.uint16:
        return np.round(img * 65535).astype(np.uint16)
    return img.astype(dtype)


def batch_tensor(*images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


def direct(restorer: Restorer, x: torch.Tensor) -> torch.Tensor:
    """The network itself on ``x`` (sizes already multiples of 8), without the engine."""
    with torch.inference_mode():
        return restorer.model(x, stages=restorer.stages).float()


# --- shapes, dtypes, padding -----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("size", [(1, 1), (7, 5), (13, 21), (16, 24)])
def test_round_trip_keeps_shape_dtype_and_range(tiny_weights, size, dtype):
    restorer = Restorer(weights=tiny_weights, device="cpu")
    image = as_dtype(smooth_image(*size, seed=size[0]), dtype)
    before = image.copy()
    out = restorer.restore(image)
    assert out.shape == image.shape and out.dtype == image.dtype
    np.testing.assert_array_equal(image, before)  # input untouched
    if dtype == np.float32:
        assert out.min() >= 0.0 and out.max() <= 1.0
    assert not np.array_equal(out, image)  # something was actually restored


def test_full_hd_frame_is_padded_and_cropped_back(micro_weights):
    restorer = Restorer(weights=micro_weights, stages=1, tile=0, device="cpu")
    image = np.random.default_rng(1).integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    out = restorer.restore(image)
    assert out.shape == (1080, 1920, 3) and out.dtype == np.uint8


@pytest.mark.parametrize("size", [(13, 21), (7, 5), (1, 1)])
def test_padding_reflects_or_replicates_and_crops(tiny_weights, size):
    """The engine's output equals the network run on the image padded (bottom/right) to
    multiples of 8 with reflection where the axis is long enough, else edge replication."""
    restorer = Restorer(weights=tiny_weights, tile=0, device="cpu")
    image = smooth_image(*size, seed=5)
    h, w = size
    ph, pw = -h % 8, -w % 8
    padded = np.pad(image, ((0, 0), (0, pw), (0, 0)), mode="reflect" if pw < w else "edge")
    padded = np.pad(padded, ((0, ph), (0, 0), (0, 0)), mode="reflect" if ph < h else "edge")
    expected = direct(restorer, batch_tensor(padded))[0, :, :h, :w].clamp(0, 1).permute(1, 2, 0).numpy()
    np.testing.assert_allclose(restorer.restore(image), expected, atol=1e-6)


def test_uint8_output_is_rounded_float_output(tiny_weights):
    restorer = Restorer(weights=tiny_weights, device="cpu")
    image8 = as_dtype(smooth_image(24, 16), np.uint8)
    as_float = restorer.restore(image8.astype(np.float32) / 255)
    np.testing.assert_array_equal(restorer.restore(image8), np.round(as_float * 255).astype(np.uint8))


def test_float_input_out_of_range_is_clamped_not_modified(tiny_weights):
    restorer = Restorer(weights=tiny_weights, device="cpu")
    image = smooth_image(16, 16) * 1.6 - 0.3
    before = image.copy()
    out = restorer.restore(image)
    np.testing.assert_array_equal(image, before)
    np.testing.assert_allclose(out, restorer.restore(np.clip(image, 0, 1)), atol=1e-6)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((8, 8), np.uint8), "H x W x 3"),
        (np.zeros((8, 8, 4), np.uint8), "H x W x 3"),
        (np.zeros((0, 8, 3), np.uint8), "empty"),
        (np.zeros((8, 8, 3), np.int32), "dtype int32"),
        (np.full((8, 8, 3), np.nan, np.float32), "NaN"),
        ([[1, 2, 3]], "numpy array"),
    ],
)
def test_bad_images_raise_input_error(tiny_weights, bad, message):
    with pytest.raises(InputError, match=message):
        Restorer(weights=tiny_weights, device="cpu").restore(bad)


def test_restore_batch_refuses_mixed_sizes(tiny_weights):
    restorer = Restorer(weights=tiny_weights, device="cpu")
    with pytest.raises(InputError, match=r"images\[1\]"):
        restorer.restore_batch([smooth_image(16, 16), smooth_image(16, 24)])


# --- the tensor path -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64])
def test_restore_tensor_keeps_dtype_device_and_is_an_ordinary_tensor(tiny_weights, dtype):
    restorer = Restorer(weights=tiny_weights, device="cpu")
    x = batch_tensor(smooth_image(20, 12), smooth_image(20, 12, seed=1)).to(dtype)
    out = restorer.restore_tensor(x)
    assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    out.mul_(2)  # usable in place outside inference mode


def test_restore_tensor_checks_its_input(tiny_weights):
    restorer = Restorer(weights=tiny_weights, device="cpu")
    with pytest.raises(InputError, match="B x 3 x H x W"):
        restorer.restore_tensor(torch.zeros(3, 8, 8))
    with pytest.raises(InputError, match="float"):
        restorer.restore_tensor(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(InputError, match="empty"):
        restorer.restore_tensor(torch.zeros(0, 3, 8, 8))


def test_whole_frame_equals_the_network(tiny_weights):
    restorer = Restorer(weights=tiny_weights, tile=0, device="cpu")
    x = batch_tensor(smooth_image(32, 48))
    torch.testing.assert_close(restorer.restore_tensor(x), direct(restorer, x).clamp(0, 1), atol=0, rtol=0)


# --- tiling ----------------------------------------------------------------------------------


def test_tile_covering_the_frame_equals_whole_frame_exactly(tiny_weights):
    x = batch_tensor(smooth_image(45, 61))  # pads to 48 x 64
    whole = Restorer(weights=tiny_weights, tile=0, device="cpu").restore_tensor(x)
    for tile in (64, 1000):
        assert torch.equal(Restorer(weights=tiny_weights, tile=tile, overlap=16, device="cpu").restore_tensor(x), whole)


def test_tile_starts_shift_the_last_tile_inside():
    assert starts(96, 48, 16) == [0, 32, 48]
    assert starts(64, 64, 16) == [0]
    assert starts(200, 64, 8) == [0, 56, 112, 136]
    for length, tile, overlap in [(96, 48, 16), (200, 64, 8), (1088, 512, 32)]:
        positions = starts(length, tile, overlap)
        assert positions[-1] + tile == length and all(b - a <= tile - overlap for a, b in zip(positions, positions[1:]))


def test_blend_windows_cover_every_pixel_and_sum_smoothly():
    tiles = plan(96, 200, 64, 16, torch.device("cpu"))
    coverage = torch.zeros(96, 200)
    for t in tiles:
        coverage[t.y : t.y + t.height, t.x : t.x + t.width] += t.weight
        assert float(t.weight.min()) > 0
    assert float(coverage.min()) > 0.5
    # Where neighbours share exactly `overlap` pixels (rows 0-31 have one tile row; columns up to
    # the shifted last tile) the falling and rising ramps sum to 1.
    assert [t.x for t in tiles[:4]] == [0, 48, 96, 136] and sorted({t.y for t in tiles}) == [0, 32]
    assert torch.allclose(coverage[:32, :136], torch.ones(32, 136), atol=1e-6)
    assert not torch.allclose(coverage[:, 136:160], torch.ones(96, 24), atol=1e-3)


def test_overlap_is_blended_not_hard_cropped(tiny_weights):
    """In the shared columns the output is a strict mix of the two tiles' outputs, fading from
    the left tile to the right one. A hard crop would give one tile's pixels or the other's."""
    restorer = Restorer(weights=tiny_weights, tile=32, overlap=8, device="cpu")
    x = batch_tensor(smooth_image(32, 56))  # x-tiles start at 0 and 24; columns 24..31 shared
    out = restorer.restore_tensor(x)
    left, right = direct(restorer, x[..., 0:32]), direct(restorer, x[..., 24:56])
    torch.testing.assert_close(out[..., :24], left[..., :24].clamp(0, 1), atol=1e-6, rtol=0)
    torch.testing.assert_close(out[..., 32:], right[..., 8:].clamp(0, 1), atol=1e-6, rtol=0)
    a, b, mixed = left[..., 24:32], right[..., 0:8], out[..., 24:32]
    differ = (a - b).abs() > 1e-3
    share_of_left = ((mixed - b) / (a - b))[differ & (a.clamp(0, 1) == a) & (b.clamp(0, 1) == b)]
    assert share_of_left.numel() > 20
    assert float(share_of_left.min()) > 0.0 and float(share_of_left.max()) < 1.0
    per_column = [float(((mixed - b) / (a - b))[..., c][differ[..., c]].median()) for c in range(8)]
    assert per_column == sorted(per_column, reverse=True)  # fades left -> right


def test_blended_tiles_are_closer_to_whole_frame_than_hard_cropped(tiny_weights):
    x = batch_tensor(smooth_image(48, 64, seed=2))
    restorer = Restorer(weights=tiny_weights, tile=32, overlap=8, device="cpu")
    whole = Restorer(weights=tiny_weights, tile=0, device="cpu").restore_tensor(x)
    blended = restorer.restore_tensor(x)
    hard = torch.zeros_like(x)
    ys, xs = starts(48, 32, 8), starts(64, 32, 8)
    for i, y in enumerate(ys):  # each tile owns the pixels up to the middle of each overlap
        y0 = y if i == 0 else (ys[i - 1] + 32 + y) // 2
        y1 = y + 32 if i == len(ys) - 1 else (y + 32 + ys[i + 1]) // 2
        for j, x0_ in enumerate(xs):
            x0 = x0_ if j == 0 else (xs[j - 1] + 32 + x0_) // 2
            x1 = x0_ + 32 if j == len(xs) - 1 else (x0_ + 32 + xs[j + 1]) // 2
            tile_out = direct(restorer, x[..., y : y + 32, x0_ : x0_ + 32]).clamp(0, 1)
            hard[..., y0:y1, x0:x1] = tile_out[..., y0 - y : y1 - y, x0 - x0_ : x1 - x0_]
    assert float((blended - whole).pow(2).mean()) < float((hard - whole).pow(2).mean())


def test_odd_sized_frames_tile_and_crop(tiny_weights):
    restorer = Restorer(weights=tiny_weights, tile=16, overlap=4, device="cpu")
    for size in [(13, 21), (7, 5), (33, 47)]:
        out = restorer.restore(as_dtype(smooth_image(*size), np.uint16))
        assert out.shape == (*size, 3) and out.dtype == np.uint16


# --- batching --------------------------------------------------------------------------------


@pytest.mark.parametrize("tile", [0, 16])
def test_batch_n_equals_batch_1(tiny_weights, tile):
    images = [smooth_image(24, 40, seed=s) for s in range(5)]
    one = Restorer(weights=tiny_weights, batch=1, tile=tile, overlap=4, device="cpu").restore_batch(images)
    three = Restorer(weights=tiny_weights, batch=3, tile=tile, overlap=4, device="cpu").restore_batch(np.stack(images))
    assert len(one) == len(three) == 5
    for a, b in zip(one, three):
        np.testing.assert_allclose(a, b, atol=2e-5)


def test_restore_tensor_forwards_at_most_batch_images(tiny_weights, monkeypatch):
    restorer = Restorer(weights=tiny_weights, batch=2, tile=0, device="cpu")
    seen: list[int] = []
    forward = restorer.model.forward

    def counting(x, stages=3):
        seen.append(x.shape[0])
        return forward(x, stages)

    monkeypatch.setattr(restorer.model, "forward", counting)
    restorer.restore_tensor(torch.rand(5, 3, 16, 16))
    assert seen == [2, 2, 1]


def test_concurrent_calls_match_serial(tiny_weights):
    restorer = Restorer(weights=tiny_weights, tile=16, overlap=4, device="cpu")
    inputs = [batch_tensor(smooth_image(24, 24, seed=s)) for s in range(4)]
    serial = [restorer.restore_tensor(x) for x in inputs]
    results: dict[int, torch.Tensor] = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, restorer.restore_tensor(inputs[i]))) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        assert torch.equal(results[i], serial[i])


# --- out of memory ---------------------------------------------------------------------------


def test_out_of_memory_retries_with_smaller_tiles(tiny_weights, monkeypatch):
    x = batch_tensor(smooth_image(64, 64, seed=4))
    expected = Restorer(weights=tiny_weights, tile=32, overlap=16, device="cpu").restore_tensor(x)
    restorer = Restorer(weights=tiny_weights, tile=0, overlap=16, device="cpu")
    forward = restorer.model.forward
    sizes: list[int] = []

    def small_memory(x, stages=3):  # injects the error a GPU raises for inputs over 32 x 32
        sizes.append(x.shape[-1])
        if x.shape[-1] * x.shape[-2] > 32 * 32:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")
        return forward(x, stages)

    monkeypatch.setattr(restorer.model, "forward", small_memory)
    with pytest.warns(RuntimeWarning, match="out of memory.*32 px tiles"):
        out = restorer.restore_tensor(x)
    assert sizes[0] == 64 and restorer.tile_limit == 32
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reported once: the next frame goes straight to 32 px
        restorer.restore_tensor(x)


def test_out_of_memory_at_the_smallest_tile_fails_clearly(tiny_weights, monkeypatch):
    restorer = Restorer(weights=tiny_weights, tile=0, device="cpu")

    def no_memory(x, stages=3):
        raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    monkeypatch.setattr(restorer.model, "forward", no_memory)
    with pytest.raises(MprnetError, match="out of memory on cpu even with 32 px tiles"):
        restorer.restore_tensor(torch.rand(1, 3, 64, 64))


# --- auto tile -------------------------------------------------------------------------------


def test_auto_tile_uses_whole_frame_when_it_fits_else_the_largest_fitting_tile(tiny_weights, monkeypatch):
    x = batch_tensor(smooth_image(64, 96))
    whole = Restorer(weights=tiny_weights, tile=0, device="cpu").restore_tensor(x)
    assert torch.equal(Restorer(weights=tiny_weights, tile="auto", device="cpu").restore_tensor(x), whole)

    restorer = Restorer(weights=tiny_weights, tile="auto", overlap=8, device="cpu")
    per_pixel = autotile.bytes_per_pixel(restorer.model, 3, torch.float32, restorer.device)
    monkeypatch.setattr(autotile, "free_memory_bytes", lambda device: int(40 * 40 * per_pixel / autotile.SAFETY))
    chosen = autotile.choose_tile(64, 96, 1, per_pixel, restorer.device)
    assert chosen == 64  # the floor; 40 x 40 would fit, the engine never goes below MIN_TILE
    monkeypatch.setattr(autotile, "free_memory_bytes", lambda device: int(77 * 77 * per_pixel / autotile.SAFETY))
    assert autotile.choose_tile(64, 96, 1, per_pixel, restorer.device) == 72
    out = restorer.restore_tensor(x)
    torch.testing.assert_close(out, Restorer(weights=tiny_weights, tile=72, overlap=8, device="cpu").restore_tensor(x), atol=1e-6, rtol=0)
    assert not torch.equal(out, whole)


# --- precision -------------------------------------------------------------------------------


def test_precisions_on_cpu(tiny_weights):
    x = batch_tensor(smooth_image(24, 32))
    reference = Restorer(weights=tiny_weights, precision="fp32", device="cpu").restore_tensor(x)
    auto = Restorer(weights=tiny_weights, precision="auto", device="cpu")
    assert auto.dtype == torch.float32 and torch.equal(auto.restore_tensor(x), reference)
    bf16 = Restorer(weights=tiny_weights, precision="bf16", device="cpu")
    assert bf16.dtype == torch.bfloat16 and next(bf16.model.parameters()).dtype == torch.bfloat16
    out = bf16.restore_tensor(x)
    assert out.dtype == torch.float32 and float((out - reference).abs().mean()) < 0.02
    with pytest.raises(PresetError, match="precision"):
        Restorer(weights=tiny_weights, precision="fp8", device="cpu")


def test_auto_precision_moves_on_when_reduced_precision_overflows(tiny_weights, monkeypatch):
    """Forced to start in fp16 (as on CUDA), an overflowing output makes "auto" warn once and
    redo the frame in a wider type, giving the fp32 result."""
    import mprnet_vs.engine.restorer as restorer_module

    x = batch_tensor(smooth_image(16, 16))
    reference = Restorer(weights=tiny_weights, precision="fp32", device="cpu").restore_tensor(x)
    monkeypatch.setattr(restorer_module, "initial_dtype", lambda precision, device: torch.float16)
    restorer = Restorer(weights=tiny_weights, precision="auto", device="cpu")
    assert restorer.dtype == torch.float16
    forward = restorer.model.forward
    monkeypatch.setattr(restorer.model, "forward", lambda x, stages=3: forward(x, stages) * float("inf"))
    with pytest.warns(RuntimeWarning, match="fp16 overflowed.*fp32"):
        out = restorer.restore_tensor(x)
    assert restorer.dtype == torch.float32
    torch.testing.assert_close(out, reference, atol=1e-6, rtol=0)


# --- devices, weights, cache -----------------------------------------------------------------


def test_device_choices(tiny_weights):
    assert Restorer(weights=tiny_weights, device="cpu").device == torch.device("cpu")
    assert Restorer(weights=tiny_weights).device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(PresetError, match="'tpu'"):
        Restorer(weights=tiny_weights, device="tpu")
    if not torch.cuda.is_available():
        for device in ("cuda", "cuda:1", 0):
            with pytest.raises(PresetError, match="no CUDA GPU"):
                Restorer(weights=tiny_weights, device=device)


def test_one_checkpoint_is_loaded_once_across_users_and_threads(tmp_path):
    path = write_checkpoint(tmp_path / "shared.pth")
    clear_model_cache()
    made: list[Restorer] = []
    threads = [threading.Thread(target=lambda: made.append(Restorer(weights=path, device="cpu"))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 6 and loaded_model_count() == 1
    assert all(r.model is made[0].model for r in made)
    Restorer(weights=path, precision="bf16", device="cpu")  # another dtype is another model
    assert loaded_model_count() == 2
    write_checkpoint(path, seed=8)  # rewritten file: loaded afresh
    fresh = Restorer(weights=path, device="cpu")
    assert fresh.model is not made[0].model and loaded_model_count() == 3


def test_weights_resolution(tmp_path, monkeypatch, tiny_weights):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(weights_module.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(weights_module, "SHIPPED_DIR", tmp_path / "shipped")
    with pytest.raises(WeightsError, match="model_deraining.pth"):
        Restorer("derain", device="cpu")
    with pytest.raises(WeightsError, match="give a task"):
        Restorer(device="cpu")
    with pytest.raises(WeightsError, match="unknown task 'sharpen'"):
        Restorer("sharpen", weights=tiny_weights, device="cpu")
    with pytest.raises(WeightsError, match="no such checkpoint"):
        Restorer("derain", weights=tmp_path / "missing.pth", device="cpu")

    (tmp_path / "shipped").mkdir()
    shipped = shutil.copy(tiny_weights, tmp_path / "shipped" / "derain.pth")
    assert Restorer("derain", device="cpu").checkpoint == Path(shipped)

    published_dir = tmp_path / "published"
    published_dir.mkdir()
    published = write_checkpoint(published_dir / "model_deraining.pth", seed=9)
    monkeypatch.setenv(weights_module.WEIGHTS_ENV, str(published_dir))
    assert Restorer("derain", device="cpu").checkpoint == published  # published wins over shipped
    explicit = Restorer("derain", weights=tiny_weights, device="cpu")
    assert explicit.checkpoint == tiny_weights


def test_in_memory_model_is_used_without_changing_it(tiny_model):
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    restorer = Restorer(weights=tiny_model, precision="bf16", device="cpu")
    restorer.restore(smooth_image(16, 16))
    assert next(tiny_model.parameters()).dtype == torch.float32
    assert all(torch.equal(v, before[k]) for k, v in tiny_model.state_dict().items())


def test_package_exposes_restorer():
    assert mprnet_vs.Restorer is Restorer


# --- compile ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_compile_gives_the_same_output(tiny_weights):
    x = batch_tensor(smooth_image(16, 16))
    eager = Restorer(weights=tiny_weights, stages=1, device="cpu").restore_tensor(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # on machines without a compiler it falls back, warning
        compiled = Restorer(weights=tiny_weights, stages=1, compile=True, device="cpu")
        out = compiled.restore_tensor(x)
    torch.testing.assert_close(out, eager, atol=1e-4, rtol=0)
