"""The one description of the engine options (mprnet_vs.engine.options) is what every front end
offers: the Restorer's keywords, the VapourSynth filters' signature and help, the .vpy scripts'
-a keys, the CLI's flags and the README's table list exactly its options."""

from __future__ import annotations

import argparse
import inspect
import pydoc
import re
from pathlib import Path

import pytest

import mprnet_vs
from mprnet_vs.cli import build_parser
from mprnet_vs.engine import Restorer
from mprnet_vs.engine.options import ENGINE_OPTION_NAMES, ENGINE_OPTIONS, OPTIONS_BY_NAME, markdown_table
from mprnet_vs.errors import PresetError

ROOT = Path(__file__).resolve().parent.parent


def _clip_option_names() -> tuple[str, ...]:
    from mprnet_vs.vapoursynth.filters import CLIP_OPTIONS

    return tuple(option.name for option in CLIP_OPTIONS)


def test_restorer_keywords_are_the_engine_options():
    parameters = inspect.signature(Restorer).parameters
    keywords = tuple(name for name, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY)
    assert keywords == ENGINE_OPTION_NAMES
    for option in ENGINE_OPTIONS:
        assert parameters[option.name].default == option.default, option.name
        assert option.name in Restorer.__doc__ and option.help in Restorer.__doc__


@pytest.mark.parametrize("task", ["derain", "deblur", "denoise"])
def test_filter_signature_and_help_document_every_option(task):
    from mprnet_vs.vapoursynth.filters import FILTER_OPTIONS

    clip_filter = getattr(mprnet_vs, task)
    parameters = inspect.signature(clip_filter).parameters
    assert list(parameters)[0] == "clip"
    assert tuple(list(parameters)[1:]) == _clip_option_names()
    assert _clip_option_names()[: len(ENGINE_OPTIONS)] == ENGINE_OPTION_NAMES
    text = pydoc.render_doc(clip_filter)
    for option in (*ENGINE_OPTIONS, *FILTER_OPTIONS):
        assert re.search(rf"\b{option.name}\b", text) and option.help in " ".join(text.split()), option.name
    for option in (*ENGINE_OPTIONS, *FILTER_OPTIONS):  # the defaults the signature shows are the description's
        assert parameters[option.name].default == option.default


def test_an_unknown_filter_keyword_is_a_vs_error_naming_it():
    import vapoursynth as vs

    clip = vs.core.std.BlankClip(format=vs.RGBS, width=16, height=16, length=1)
    with pytest.raises(vs.Error, match=r"mprnet_vs.derain: unknown option 'tiel' \(did you mean tile\?\)"):
        mprnet_vs.derain(clip, tiel=8)


def test_vpy_keys_are_src_and_the_filter_options():
    from mprnet_vs.vapoursynth.script import SCRIPT_KEYS

    assert SCRIPT_KEYS == ("src", *_clip_option_names())


def _model_group(command: str) -> argparse._ArgumentGroup:
    parser = build_parser([command])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return next(g for g in sub._action_groups if g.title == "model")


def test_restore_flags_are_the_engine_options():
    flags = [action.option_strings[0] for action in _model_group("restore")._group_actions]
    assert flags == [option.flag for option in ENGINE_OPTIONS]
    helps = [action.help for action in _model_group("restore")._group_actions]
    assert helps == [option.help for option in ENGINE_OPTIONS]


def test_readme_table_is_the_description():
    from mprnet_vs.vapoursynth.filters import CLIP_OPTIONS

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- options table: ")[1].split("-->", 1)[1].split("<!-- end of options table -->")[0]
    assert block.strip() == markdown_table(CLIP_OPTIONS)
    names = re.findall(r"^\| `(\w+)` \|", block, flags=re.M)
    assert tuple(names) == _clip_option_names()


def test_choices_are_the_models_and_the_engines():
    from mprnet_vs.engine.options import PRECISIONS, STAGES
    from mprnet_vs.engine.precision import DTYPES
    from mprnet_vs.model import STAGE_CHOICES

    assert STAGES == STAGE_CHOICES
    assert set(PRECISIONS) == {"auto", *DTYPES}


def test_each_setting_is_validated_once_with_one_wording():
    """Python, a preset file and the command line give the same message for the same value."""
    from mprnet_vs.presets import check_value

    expected = "tile = -8 is not allowed; tile must be 0 (whole frame)"
    with pytest.raises(PresetError, match=re.escape(expected)):
        Restorer("derain", tile=-8, device="cpu")
    with pytest.raises(PresetError, match=re.escape(expected)):
        check_value("tile", -8, "my.yaml: profile 'x'")
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(expected)):
        from mprnet_vs.cli import option_type

        option_type(OPTIONS_BY_NAME["tile"])("-8")


@pytest.mark.parametrize("text, value", [("auto", "auto"), (" 512 ", 512), ("+8", 8)])
def test_text_parses_the_same_everywhere(text, value):
    assert OPTIONS_BY_NAME["tile"].parse(text) == value


@pytest.mark.parametrize("text", ["", "  ", "²", "--5", "big"])
def test_bad_text_is_refused_naming_the_option(text):
    with pytest.raises(PresetError, match=r"^tile"):
        OPTIONS_BY_NAME["tile"].parse(text)
