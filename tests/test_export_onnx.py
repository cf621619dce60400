"""ONNX export: one dynamic file per stage count runs in onnxruntime and OpenVINO equal to torch
at every size; metadata, fp16, static shapes, local statistics and the errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import openvino as ov
import pytest
import torch

from conftest import deterministic_model, write_checkpoint
from mprnet_vs.errors import InputError, UsageError
from mprnet_vs.cli import main
from mprnet_vs.export import export_onnx, read_metadata
from mprnet_vs.model import use_local_statistics

SIZES = [(1, 24, 40), (3, 56, 32)]  # (batch, height, width): two sizes and two batches, one file


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return write_checkpoint(tmp_path_factory.mktemp("export") / "tiny.pth")


@pytest.fixture(scope="module")
def exported(checkpoint) -> dict[str, Path]:
    """Dynamic files of the tiny model: fp32 for stages 1-3, fp16 (fp32 and fp16 I/O) for 3."""
    folder = checkpoint.parent
    files = {f"fp32-{s}": export_onnx(folder / f"s{s}.onnx", weights=checkpoint, stages=s).path for s in (1, 2, 3)}
    files["fp16"] = export_onnx(folder / "h.onnx", weights=checkpoint, fp16=True).path
    files["fp16-io"] = export_onnx(folder / "hio.onnx", weights=checkpoint, fp16=True, fp16_io=True).path
    return files


def torch_output(x: np.ndarray, stages: int, local_stats: int | None = None) -> np.ndarray:
    model = deterministic_model()
    if local_stats:
        use_local_statistics(model, local_stats)
    with torch.inference_mode():
        return model(torch.from_numpy(x), stages=stages).numpy()


def inputs(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    batch, height, width = shape
    return np.random.default_rng(seed).random((batch, 3, height, width), dtype=np.float32)


def run_ort(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def run_openvino(path: Path, x: np.ndarray) -> np.ndarray:
    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return compiled(x)[0]


@pytest.mark.parametrize("runtime", [run_ort, run_openvino], ids=["onnxruntime", "openvino"])
@pytest.mark.parametrize("stages", [1, 2, 3])
def test_one_dynamic_file_equals_torch_at_every_size_and_batch(exported, runtime, stages):
    for shape in SIZES:
        x = inputs(shape, seed=stages)
        got = runtime(exported[f"fp32-{stages}"], x)
        assert got.shape == x.shape
        assert np.abs(got - torch_output(x, stages)).max() <= 1e-4


def test_fp16_files_stay_within_1e_2_of_fp32_torch(exported):
    x = inputs(SIZES[1], seed=5)
    reference = torch_output(x, 3)
    assert np.abs(run_ort(exported["fp16"], x) - reference).max() <= 1e-2
    half = run_ort(exported["fp16-io"], x.astype(np.float16))
    assert half.dtype == np.float16 and np.abs(half.astype(np.float32) - reference).max() <= 1e-2


def test_metadata_and_weights_live_inside_the_file(exported, checkpoint):
    import hashlib

    path = exported["fp32-2"]
    meta = read_metadata(path)
    assert meta["stages"] == "2" and meta["size_multiple"] == "8" and meta["local_stats"] == "0"
    assert meta["checkpoint_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert '"n_feat": 16' in meta["config"] and meta["precision"] == "fp32" and meta["io"] == "fp32"
    model = onnx.load(str(path))
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    assert not list(path.parent.glob("*.data"))
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]
    assert read_metadata(exported["fp16-io"])["io"] == "fp16"


def test_static_file_has_fixed_dims_and_runs_at_its_size(checkpoint, tmp_path):
    path = export_onnx(tmp_path / "static.onnx", weights=checkpoint, static=(40, 24), batch=1).path
    dims = [d.dim_value for d in onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 24, 40]
    x = inputs((1, 24, 40), seed=2)
    assert np.abs(run_ort(path, x) - torch_output(x, 3)).max() <= 1e-4


def test_local_statistics_are_exact_from_the_recorded_minimum_side(checkpoint, tmp_path):
    """Windows for 16 px crops: the blocks' windows cover their whole input below 24 px."""
    result = export_onnx(tmp_path / "ls.onnx", weights=checkpoint, local_stats=16)
    assert result.min_side == 24 and read_metadata(result.path)["min_side"] == "24"
    for shape in [(1, 24, 24), (2, 40, 64)]:
        x = inputs(shape, seed=3)
        expected = torch_output(x, 3, local_stats=16)
        if shape[1] > 24:  # at the minimum a window is its block's whole input: global pooling
            assert not np.allclose(expected, torch_output(x, 3), atol=1e-4)  # local statistics matter
        assert np.abs(run_ort(result.path, x) - expected).max() <= 1e-4
    # A static file is traced at its own size, so it is exact even below that minimum.
    static = export_onnx(tmp_path / "ls16.onnx", weights=checkpoint, local_stats=16, static=(16, 16)).path
    x = inputs((1, 16, 16), seed=4)
    assert np.abs(run_ort(static, x) - torch_output(x, 3, local_stats=16)).max() <= 1e-4


def test_cli_exports_and_reports(checkpoint, tmp_path, capsys):
    target = tmp_path / "cli.onnx"
    assert main(["export", "--weights", str(checkpoint), "--stages", "1", "--batch", "1", "-o", str(target)]) == 0
    assert "wrote" in capsys.readouterr().out and read_metadata(target)["stages"] == "1"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--static", "41x24"], 2, "multiples of 8"),
        (["--fp16-io"], 2, "--fp16-io needs --fp16"),
        (["-o", "{ckpt}"], 2, "output is the input file"),
        (["-o", "{tmp}/missing/out.onnx"], 1, "does not exist"),
    ],
)
def test_cli_errors_are_one_line_and_write_nothing(checkpoint, tmp_path, capsys, args, code, message):
    words = ["export", "--weights", str(checkpoint), "-o", str(tmp_path / "out.onnx")]
    words += [a.format(ckpt=checkpoint, tmp=tmp_path) for a in args]
    before = checkpoint.read_bytes()
    assert main(words) == code
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.onnx").exists() and checkpoint.read_bytes() == before


def test_python_api_errors(checkpoint, tmp_path):
    with pytest.raises(UsageError, match="multiples of 8"):
        export_onnx(tmp_path / "a.onnx", weights=checkpoint, static=(64, 60))
    with pytest.raises(InputError, match="output is the input file"):
        export_onnx(checkpoint, weights=checkpoint)
    with pytest.raises(InputError, match="does not exist"):
        export_onnx(tmp_path / "no" / "a.onnx", weights=checkpoint)
    assert list(tmp_path.iterdir()) == []


def test_missing_extra_is_one_line_naming_it(checkpoint, tmp_path):
    """The export check needs onnxruntime: without it (hidden from this fresh interpreter) the
    command says which extra to install."""
    code = (
        "import sys; sys.modules['onnxruntime'] = None\n"
        "from mprnet_vs.cli import main\n"
        f"raise SystemExit(main(['export', '--weights', {str(checkpoint)!r}, '-o', {str(tmp_path / 'x.onnx')!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().endswith("pip install mprnet-vs[onnx]") and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.onnx").exists()
