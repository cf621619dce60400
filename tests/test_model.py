"""MPRNet against the released implementation's golden outputs, its key layout, and early exit."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from conftest import DATA, deterministic_model, golden
from mprnet_vs.model import MPRNet, MPRNetConfig, config_from_state_dict
from mprnet_vs.tasks import REGISTRY
from weight_rule import image


@pytest.mark.parametrize("name", ["tiny", "derain", "denoise", "deblur"])
def test_golden_outputs_at_every_stage(name):
    g = golden(name)
    model = deterministic_model(g["config"], g["weight_seed"])
    x = torch.from_numpy(g["input"])
    with torch.inference_mode():
        outputs = model.forward_stages(x, 3)
        for stages in (1, 2, 3):
            # forward(stages=s) alone must give the same image as the full run's stage s.
            alone = model(x, stages=stages)
            np.testing.assert_allclose(alone.numpy(), g["stages"][stages - 1], rtol=0, atol=1e-4)
    for stage, out in enumerate(outputs, start=1):
        np.testing.assert_allclose(out.numpy(), g["stages"][stage - 1], rtol=0, atol=1e-4, err_msg=f"stage {stage}")


def test_golden_input_follows_the_rule():
    g = golden("derain")
    z = np.load(DATA / "golden_derain.npz")
    assert np.array_equal(image(int(z["image_seed"]), g["input"].shape), g["input"])


@pytest.mark.parametrize("task", ["derain", "denoise", "deblur"])
def test_state_dict_names_and_shapes_equal_published(task):
    published = json.loads((DATA / f"keys_{task}.json").read_text())
    model = MPRNet(**published["config"])
    ours = [[name, list(t.shape)] for name, t in model.state_dict().items()]
    assert ours == published["keys"]
    assert len(ours) == 316


@pytest.mark.parametrize(
    "config",
    [
        MPRNetConfig(n_feat=16, scale_unetfeats=8, scale_orsnetfeats=8, num_cab=2),
        MPRNetConfig(n_feat=24, scale_unetfeats=12, scale_orsnetfeats=4, num_cab=3, reduction=8, bias=True),
        MPRNetConfig(n_feat=12, scale_unetfeats=6, scale_orsnetfeats=6, num_cab=1, reduction=2, kernel_size=5),
        MPRNetConfig(in_c=1, out_c=1, n_feat=8, scale_unetfeats=4, scale_orsnetfeats=4, num_cab=1, reduction=2),
    ],
)
def test_config_is_read_back_from_the_weights(config):
    model = MPRNet.from_config(config)
    assert config_from_state_dict(model.state_dict()) == config
    x = torch.rand(1, config.in_c, 16, 24)
    with torch.inference_mode():
        assert model(x).shape == x.shape


def test_published_configs_are_read_back():
    for task in ("derain", "denoise", "deblur"):
        published = json.loads((DATA / f"keys_{task}.json").read_text())
        state = {name: torch.zeros(shape) for name, shape in published["keys"]}
        config = config_from_state_dict(state)
        assert (config.n_feat, config.scale_unetfeats, config.scale_orsnetfeats) == (
            published["config"]["n_feat"],
            published["config"]["scale_unetfeats"],
            published["config"]["scale_orsnetfeats"],
        )
        assert (config.num_cab, config.reduction, config.kernel_size, config.bias) == (8, 4, 3, False)
        assert config == REGISTRY[task].published_config


def test_batch_elements_are_independent(tiny_model):
    """Stacking patches along the batch must not mix them: image i of a batch equals image i alone."""
    x = torch.rand(3, 3, 32, 40)
    with torch.inference_mode():
        together = tiny_model(x)
        alone = torch.cat([tiny_model(x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-5)


@pytest.mark.parametrize("shape", [(1, 3, 30, 32), (1, 3, 32, 36), (1, 3, 4, 8), (1, 4, 32, 32), (3, 32, 32)])
def test_bad_shapes_raise_value_error_naming_the_shape(tiny_model, shape):
    with pytest.raises(ValueError, match=str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")):
        tiny_model(torch.rand(shape))


def test_bad_stage_count(tiny_model):
    with pytest.raises(ValueError, match="stages"):
        tiny_model(torch.rand(1, 3, 16, 16), stages=4)


def test_early_exit_does_less_work(tiny_model):
    x = torch.rand(1, 3, 64, 64)
    flops = {}
    called = []
    hook = tiny_model.stage3_orsnet.register_forward_hook(lambda *a: called.append("orsnet"))
    hook2 = tiny_model.stage2_encoder.register_forward_hook(lambda *a: called.append("stage2"))
    try:
        for stages in (1, 2, 3):
            called.clear()
            counter = FlopCounterMode(display=False)
            with counter, torch.inference_mode():
                tiny_model(x, stages=stages)
            flops[stages] = counter.get_total_flops()
            assert ("stage2" in called) == (stages >= 2)
            assert ("orsnet" in called) == (stages == 3)
    finally:
        hook.remove()
        hook2.remove()
    assert 0 < flops[1] < flops[2] < flops[3]


def test_one_prelu_is_shared_by_every_block(tiny_model):
    slopes = {id(m.weight) for m in tiny_model.modules() if isinstance(m, torch.nn.PReLU)}
    assert len(slopes) == 1
