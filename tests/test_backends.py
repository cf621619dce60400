"""The engine's backends: the Restorer with onnxruntime and OpenVINO equals the torch backend
through padding, tiling, batching and odd sizes; the ONNX cache; the rule of "auto"; errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import write_checkpoint
from mprnet_vs.engine import Restorer
from mprnet_vs.engine.backends import BACKENDS, auto_backend, check_backend, onnx_cache
from mprnet_vs.errors import InputError, PresetError

CPU_BACKENDS = ["onnxruntime", "openvino"]


@pytest.fixture(scope="module", autouse=True)
def own_cache(tmp_path_factory):
    """Exported files go to a cache folder of this module's own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return write_checkpoint(tmp_path_factory.mktemp("backends") / "tiny.pth", seed=11)


def frames(batch: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize(
    ("shape", "tile", "overlap", "batch"),
    [((1, 37, 53), 0, 0, 1), ((3, 45, 67), 24, 8, 2), ((5, 16, 16), 0, 0, 2), ((2, 70, 41), 32, 12, 3)],
    ids=["odd-whole", "tiled-batched", "batched", "tiled-odd"],
)
def test_restorer_with_each_cpu_backend_equals_torch(checkpoint, backend, shape, tile, overlap, batch):
    x = frames(*shape, seed=sum(shape))
    options = dict(weights=checkpoint, device="cpu", tile=tile, overlap=overlap, batch=batch)
    expected = Restorer(**options).restore_tensor(x)
    restorer = Restorer(**options, backend=backend)
    assert restorer.backend.name == backend
    out = restorer.restore_tensor(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert float((out - expected).abs().max()) <= 1e-4


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_stages_and_numpy_images_through_a_backend(checkpoint, backend):
    image = np.random.default_rng(2).integers(0, 256, (29, 35, 3), dtype=np.uint8)
    for stages in (1, 2):
        expected = Restorer(weights=checkpoint, device="cpu", stages=stages).restore(image)
        got = Restorer(weights=checkpoint, device="cpu", stages=stages, backend=backend).restore(image)
        assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1  # 8-bit rounding of <= 1e-4


def test_exported_files_are_cached_and_reused(checkpoint):
    Restorer(weights=checkpoint, device="cpu", stages=3, backend="onnxruntime")
    files = sorted(onnx_cache.folder().glob("*.onnx"))
    stamps = [f.stat().st_mtime_ns for f in files]
    Restorer(weights=checkpoint, device="cpu", stages=3, backend="openvino")  # same file serves both
    assert sorted(onnx_cache.folder().glob("*.onnx")) == files
    assert [f.stat().st_mtime_ns for f in files] == stamps
    Restorer(weights=checkpoint, device="cpu", stages=3, local_stats=16, backend="onnxruntime")
    assert len(list(onnx_cache.folder().glob("*.onnx"))) == len(files) + 1  # another graph, another file


def test_local_statistics_through_a_backend_need_the_minimum_side(checkpoint):
    x = frames(1, 40, 48, seed=3)
    expected = Restorer(weights=checkpoint, device="cpu", local_stats=16).restore_tensor(x)
    restorer = Restorer(weights=checkpoint, device="cpu", local_stats=16, backend="onnxruntime")
    assert restorer.backend.min_side == 24
    assert float((restorer.restore_tensor(x) - expected).abs().max()) <= 1e-4
    tiled = Restorer(weights=checkpoint, device="cpu", local_stats=16, tile=16, overlap=4, backend="openvino")
    reference = Restorer(weights=checkpoint, device="cpu", local_stats=16, tile=24, overlap=4).restore_tensor(x)
    assert float((tiled.restore_tensor(x) - reference).abs().max()) <= 1e-4  # tiles raised to 24 px
    with pytest.raises(InputError, match="smaller than the 24 px"):
        restorer.restore_tensor(frames(1, 16, 48))


def test_auto_picks_by_the_documented_rule(checkpoint):
    assert auto_backend(torch.device("cpu"), local_stats=False) == "openvino"
    assert auto_backend(torch.device("cpu"), local_stats=True) == "torch"
    assert auto_backend(torch.device("cuda"), local_stats=False) == "torch"  # no tensorrt installed here
    assert Restorer(weights=checkpoint, device="cpu", backend="auto").backend.name == "openvino"
    assert Restorer(weights=checkpoint, device="cpu", backend="auto", local_stats=16).backend.name == "torch"


def test_backend_names_and_errors(checkpoint):
    assert BACKENDS == ("torch", "onnxruntime", "openvino", "tensorrt", "auto")
    assert check_backend(" OpenVINO ") == "openvino"
    with pytest.raises(PresetError, match="backend 'tflite' is unknown; choose one of torch, onnxruntime"):
        Restorer(weights=checkpoint, device="cpu", backend="tflite")
    with pytest.raises(PresetError, match="'tensorrt' needs a CUDA GPU"):
        Restorer(weights=checkpoint, device="cpu", backend="tensorrt")
    with pytest.raises(PresetError, match="cannot run precision bf16"):
        Restorer(weights=checkpoint, device="cpu", precision="bf16", backend="onnxruntime")


@pytest.mark.parametrize(("backend", "module", "extra"), [("openvino", "openvino", "openvino"), ("onnxruntime", "onnxruntime", "onnx")])
def test_missing_extra_is_one_line_naming_it(checkpoint, backend, module, extra):
    """The package hidden from a fresh interpreter, as on a machine without the extra."""
    code = (
        f"import sys; sys.modules[{module!r}] = None\n"
        "from mprnet_vs.engine import Restorer\n"
        "from mprnet_vs.errors import MissingDependency\n"
        "try:\n"
        f"    Restorer(weights={str(checkpoint)!r}, device='cpu', backend={backend!r})\n"
        "except MissingDependency as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().endswith(f"pip install mprnet-vs[{extra}]"), done.stderr
    assert len(done.stdout.strip().splitlines()) == 1


def test_fp16_through_onnxruntime_stays_near_fp32(checkpoint):
    x = frames(2, 24, 40, seed=9)
    expected = Restorer(weights=checkpoint, device="cpu").restore_tensor(x)
    half = Restorer(weights=checkpoint, device="cpu", precision="fp16", backend="onnxruntime")
    assert half.dtype == torch.float16
    out = half.restore_tensor(x)
    assert out.dtype == torch.float32 and 0 < float((out - expected).abs().max()) <= 1e-2


def test_an_in_memory_model_is_exported_without_being_changed(tiny_model):
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    x = frames(1, 32, 24, seed=4)
    expected = Restorer(weights=tiny_model, device="cpu").restore_tensor(x)
    got = Restorer(weights=tiny_model, device="cpu", backend="openvino").restore_tensor(x)
    assert float((got - expected).abs().max()) <= 1e-4
    assert all(torch.equal(v, before[k]) for k, v in tiny_model.state_dict().items())


def test_restorer_is_the_engine_the_front_ends_expect(checkpoint):
    from mprnet_vs.engine.protocol import Engine

    for backend in ("torch", "openvino"):
        assert isinstance(Restorer(weights=checkpoint, device="cpu", backend=backend), Engine)
    assert not isinstance(object(), Engine)


def test_auto_precision_widens_an_onnx_backend_after_an_overflow(checkpoint, monkeypatch):
    """Started in fp16 (as on CUDA), an output that is not finite makes "auto" redo the frame
    with the backend rebuilt in fp32 (the injected overflow stands in for a real one)."""
    import mprnet_vs.engine.restorer as restorer_module

    x = frames(1, 24, 32, seed=6)
    reference = Restorer(weights=checkpoint, device="cpu", precision="fp32").restore_tensor(x)
    monkeypatch.setattr(restorer_module, "initial_dtype", lambda precision, device: torch.float16)
    restorer = Restorer(weights=checkpoint, device="cpu", precision="auto", backend="onnxruntime")
    first = restorer.backend
    assert first.dtype == torch.float16
    run = first.run
    monkeypatch.setattr(first, "run", lambda runner, array: run(runner, array) * np.float32("inf"))
    with pytest.warns(RuntimeWarning, match="fp16 overflowed.*fp32"):
        out = restorer.restore_tensor(x)
    assert restorer.dtype == torch.float32 and restorer.backend.name == "onnxruntime" and restorer.backend is not first
    assert float((out - reference).abs().max()) <= 1e-4
