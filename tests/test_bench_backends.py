"""``mprnet-vs bench --backend ...``: every backend timed in one run, compared with torch."""

from __future__ import annotations

import json

import pytest

from mprnet_vs.cli import main


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_bench_times_each_backend_against_torch(tmp_path, tiny_weights, capsys):
    out = tmp_path / "bench.json"
    code = main([
        "bench", "--task", "derain", "--weights", str(tiny_weights), "--resolution", "40x32", "--stages", "2",
        "--precision", "fp32", "--reps", "1", "--warmup", "0", "--device", "cpu", "--no-released",
        "--backend", "torch", "onnxruntime", "openvino", "--threads", "1", "--json", str(out),
    ])
    assert code == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["name"] for r in rows] == ["torch", "onnxruntime", "openvino"]
    for row in rows:
        assert row["frames_per_second"] > 0 and row["extra"]["max_diff_vs_torch_fp32"] <= 1e-4
    assert rows[0]["extra"]["max_diff_vs_torch_fp32"] == 0 and rows[0]["extra"]["speedup_vs_torch"] == 1
    assert all(r["extra"]["psnr_vs_torch_fp32_db"] > 80 and r["extra"]["speedup_vs_torch"] > 0 for r in rows[1:])
    assert "vs torch fp32" in capsys.readouterr().out


def test_bench_with_a_gpu_only_backend_on_the_cpu_is_one_line(tiny_weights, capsys):
    code = main(["bench", "--weights", str(tiny_weights), "--resolution", "16x16", "--device", "cpu",
                 "--backend", "tensorrt", "--no-released"])
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert "'tensorrt' needs a CUDA GPU" in err and len(err.splitlines()) == 1
