"""An untagged YUV source gets the same matrix in the VapourSynth filter and in `mprnet-vs restore`
(one rule, mprnet_vs.untagged): before, vspipe took an 800x600 clip as BT.709 and the command line
as BT.601."""

from __future__ import annotations

from pathlib import Path

import pytest
import vapoursynth as vs

from mprnet_vs.cli import main
from mprnet_vs.untagged import MATRIX_BT709, MATRIX_SMPTE170M, guess_matrix
from mprnet_vs.vapoursynth.formats import color_info
from test_video import make_clip

LABELS = {MATRIX_BT709: "BT.709", MATRIX_SMPTE170M: "BT.601"}


@pytest.mark.parametrize(
    "width, height, expected",
    [(800, 600, MATRIX_BT709), (1024, 576, MATRIX_SMPTE170M), (1280, 720, MATRIX_BT709), (720, 480, MATRIX_SMPTE170M)],
)
def test_both_front_ends_guess_alike(tmp_path: Path, tiny_weights: Path, capsys, width: int, height: int, expected: int):
    source = make_clip(tmp_path / "untagged.mkv", size=(width, height), frames=1)

    # VapourSynth: the file as bestsource delivers it, through the filter's own colour reading.
    clip = vs.core.bs.VideoSource(source=str(source))
    assert clip.get_frame(0).props.get("_Matrix", 2) == 2  # really untagged
    vs_matrix = color_info(clip, None, "test").matrix

    # The command line: the same file restored, and the matrix its report says it assumed.
    out = tmp_path / "out.mkv"
    code = main(["restore", str(source), "-o", str(out), "--weights", str(tiny_weights), "--device", "cpu",
                 "--tile", "0", "--stages", "1"])
    assert code == 0
    said = capsys.readouterr().out
    assert f"colour matrix not tagged: assumed {LABELS[expected]}" in said, said

    assert vs_matrix == expected == guess_matrix(width, height)[0]


def test_tagged_primaries_decide_before_the_size():
    assert guess_matrix(640, 480, primaries=1)[0] == MATRIX_BT709
    assert guess_matrix(1920, 1080, primaries=6)[0] == MATRIX_SMPTE170M
    assert guess_matrix(3840, 2160, primaries=9)[0] == 9
