"""The benchmark's pieces: the released code's schedule, MAC counts, and the bench command."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from conftest import TINY, deterministic_model, golden
from mprnet_vs.bench.macs import count_macs
from mprnet_vs.bench.released_way import forward_released_way
from mprnet_vs.cli import main
from mprnet_vs.model import MPRNetConfig


@pytest.mark.parametrize("name", ["derain", "deblur"])
def test_released_schedule_matches_golden(name):
    g = golden(name)
    model = deterministic_model(g["config"], g["weight_seed"])
    x = torch.from_numpy(g["input"])
    for stages in (1, 2, 3):
        out = forward_released_way(model, x, stages)
        np.testing.assert_allclose(out.numpy(), g["stages"][stages - 1], rtol=0, atol=1e-4)


def test_mac_counts():
    deblur = MPRNetConfig(n_feat=96, scale_unetfeats=48, scale_orsnetfeats=32)
    # The deblurring model's widely quoted cost: about 759 GMAC per 256 x 256 input.
    assert count_macs(deblur, 256, 256) == pytest.approx(759.4e9, rel=1e-3)
    # Fully convolutional: cost scales with pixels, and padding to a multiple of 8 counts.
    assert count_macs(TINY, 64, 64) * 4 == pytest.approx(count_macs(TINY, 128, 128), rel=1e-3)
    assert count_macs(TINY, 61, 64) == count_macs(TINY, 64, 64)
    assert count_macs(TINY, 64, 64, 1) < count_macs(TINY, 64, 64, 2) < count_macs(TINY, 64, 64, 3)


def test_bench_command_reports_engine_and_released_way(tmp_path, tiny_weights, capsys):
    out = tmp_path / "bench.json"
    code = main([
        "bench", "--task", "derain", "--weights", str(tiny_weights), "--resolution", "64x48",
        "--stages", "1", "3", "--precision", "fp32", "--batch", "1", "2", "--reps", "1", "--warmup", "0",
        "--device", "cpu", "--json", str(out),
    ])
    assert code == 0
    rows = json.loads(out.read_text())["rows"]
    names = [(r["name"], r["stages"], r["batch"]) for r in rows]
    assert names == [
        ("released way", 1, 1), ("engine", 1, 1), ("engine", 1, 2),
        ("released way", 3, 1), ("engine", 3, 1), ("engine", 3, 2),
    ]
    for row in rows:
        assert row["frames_per_second"] > 0 and row["peak_memory_mib"] > 0
        assert row["tflops"] == pytest.approx(2 * count_macs(TINY, 48, 64, row["stages"]) * row["frames_per_second"] / 1e12, rel=1e-6)
        if row["name"] == "engine":
            # Same weights, fp32: the batched schedule computes the released schedule's output.
            assert row["extra"]["psnr_vs_released_fp32_db"] > 90
            assert row["extra"]["speedup_vs_released"] > 0
    printed = capsys.readouterr().out
    assert "vs released" in printed and "device:" in printed


def test_bench_rejects_bad_resolution(capsys):
    assert main(["bench", "--resolution", "huge"]) == 2
    assert "'huge': expected WIDTHxHEIGHT, e.g. 320x240 (or one of 360p, 720p, 1080p, 4k)" in capsys.readouterr().err


@pytest.mark.parametrize("option", [["--reps", "0"], ["--warmup", "-1"], ["--video-frames", "0"], ["--resolution", "1x1"],
                                    ["--json", "."], ["--json", "no/such/folder/b.json"],
                                    ["--tile", "-8"], ["--overlap", "-1"], ["--batch", "1", "0"]])
def test_bench_refuses_bad_counts_sizes_and_json_paths_before_timing(option, tiny_weights, capsys):
    """Before: --reps 0 was an IndexError and 1x1 a torch traceback after the model was built;
    --json into a folder or a missing folder failed only after every measurement was taken."""
    assert main(["bench", "--weights", str(tiny_weights), "--device", "cpu", *option]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mprnet-vs bench: error: argument {option[0]}: ") and err.count("\n") == 1


def test_bench_json_is_strict_json_and_written_whole(tmp_path, tiny_weights, monkeypatch, capsys):
    """An engine output identical to the released way's has an infinite PSNR, which json.dumps
    wrote as the non-JSON `Infinity`; it is null now."""
    import mprnet_vs.bench.runner as runner

    monkeypatch.setattr(runner, "psnr", lambda a, b: math.inf)
    out = tmp_path / "bench.json"
    assert main(["bench", "--task", "denoise", "--weights", str(tiny_weights), "--resolution", "16x16", "--reps", "1",
                 "--warmup", "0", "--device", "cpu", "--precision", "fp32", "--json", str(out)]) == 0

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    rows = json.loads(out.read_text(), parse_constant=refuse)["rows"]
    assert [r["extra"].get("psnr_vs_released_fp32_db", "absent") for r in rows] == ["absent", None]
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]
