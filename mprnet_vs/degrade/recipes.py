"""Recipe strings (``"noise:sigma=25"``, ``"blurmix+jpeg:quality=70"``): parsing, range checks and
the registry of degradations. See :mod:`mprnet_vs.degrade` for every recipe and its ranges."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InputError
from . import jpeg, kernels, noise_models, rain_styles
from .classic import MAX_KERNEL, MAX_SET_LENGTH, Seed, _rng, add_noise, add_rain, motion_blur

DEGRADATIONS: dict[str, Callable[..., np.ndarray]] = {
    "rain": add_rain, "blur": motion_blur, "noise": add_noise,
    "rainmix": rain_styles.add_rain_mix, "blurmix": kernels.blur_mix, "noisemix": noise_models.add_noise_mix,
    "jpeg": jpeg.jpeg_compress, "veil": rain_styles.add_veil,
}
_RENAME = {"rain": {"width": "width_px"}}
# The values a recipe may give each numeric parameter (inclusive; see the module docstring):
# NaN, infinities and values outside these would give NaN images, huge kernels or numpy errors.
LIMITS: dict[str, dict[str, tuple[float, float]]] = {
    "rain": {"density": (0.0, 1.0), "angle": (-90.0, 90.0), "length": (1.0, 100.0), "width": (1.0, 10.0),
             "brightness": (0.0, 1.0), "blur": (0.0, 10.0)},
    "blur": {"length": (1.0, MAX_SET_LENGTH), "angle": (-360.0, 360.0), "noise": (0.0, 255.0), "max_length": (3.0, MAX_KERNEL)},
    "noise": {"sigma": (0.0, 255.0), "peak": (1.0, 1e6), "max_sigma": (0.0, 255.0), "skew": (0.0, 4.0)},
    **{name: {**limits, "chance": (0.0, 1.0)} for name, limits in (
        ("rainmix", rain_styles.LIMITS), ("blurmix", kernels.LIMITS), ("noisemix", noise_models.LIMITS),
        ("veil", rain_styles.VEIL_LIMITS))},
    "jpeg": jpeg.LIMITS,
}
# Words a recipe may give (any other is named in the error), and keys that take whole numbers.
CHOICES: dict[str, dict[str, tuple[str, ...]]] = {"rainmix": rain_styles.CHOICES, "blurmix": kernels.CHOICES,
                                                  "veil": rain_styles.VEIL_CHOICES}
INTEGERS: dict[str, tuple[str, ...]] = {"rainmix": rain_styles.INTEGERS}
# Recipes whose ``chance`` (the share of images degraded at all) is drawn here, before their own draws.
_CHANCE_OUTSIDE = ("rainmix", "blurmix", "noisemix", "veil")
_CHAIN = re.compile(r"\+(?=\s*[a-z])")  # "noisemix+jpeg": "+" before a name, not a signed number


def _check_value(recipe: str, name: str, key: str, value: str, number: Any) -> None:
    if key in LIMITS[name]:
        low, high = LIMITS[name][key]
        if not (isinstance(number, float) and low <= number <= high):  # NaN fails too
            raise InputError(f"recipe {recipe!r}: {key}={value!r} is not allowed; {key} must be a number from {low:g} to {high:g}")
        if key in INTEGERS.get(name, ()) and number != int(number):
            raise InputError(f"recipe {recipe!r}: {key}={value!r} is not allowed; {key} must be a whole number")
    choices = CHOICES.get(name, {}).get(key)
    if choices is not None and value not in choices:
        raise InputError(f"recipe {recipe!r}: {key}={value!r} is not allowed; choose one of {', '.join(choices)}")


def parse_recipe(recipe: str) -> tuple[str, dict[str, Any]]:
    """``"noise:sigma=25,kind=gaussian"`` -> ``("noise", {"sigma": 25.0, "kind": "gaussian"})``.
    One part only; :func:`parse_chain` splits ``a+b``."""
    name, _, rest = recipe.strip().partition(":")
    if name not in DEGRADATIONS:
        raise InputError(f"unknown degradation {name!r} in recipe {recipe!r}: choose one of {', '.join(DEGRADATIONS)}")
    params: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise InputError(f"recipe {recipe!r}: expected key=value, got {item!r}")
        key, value = key.strip(), value.strip()
        try:
            number: Any = float(value)
        except ValueError:
            number = value
        _check_value(recipe, name, key, value, number)
        target = _RENAME.get(name, {}).get(key, key)
        if target in params:
            raise InputError(f"recipe {recipe!r}: {key} is given twice")
        params[target] = number
    return name, params


def parse_chain(recipe: str) -> list[tuple[str, dict[str, Any]]]:
    """``"noisemix+jpeg:quality=60"`` -> one ``(name, params)`` per part, applied left to right."""
    parts = _CHAIN.split(recipe.strip())
    if any(not p.strip() for p in parts):
        raise InputError(f"recipe {recipe!r}: an empty part between '+' signs")
    return [parse_recipe(p) for p in parts]


def parse_alternatives(recipe: str) -> list[list[tuple[str, dict[str, Any]]]]:
    """``"rain|rainmix+jpeg"`` -> one parsed chain per alternative (``rain``, then ``rainmix+jpeg``):
    ``|`` binds looser than ``+``. A recipe without ``|`` gives one chain."""
    parts = recipe.strip().split("|")
    if any(not p.strip() for p in parts):
        raise InputError(f"recipe {recipe!r}: an empty alternative beside a '|'")
    return [parse_chain(p) for p in parts]


def degrade(img: np.ndarray, recipe: str, seed: Seed = None) -> np.ndarray:
    """Apply a recipe string (see :mod:`mprnet_vs.degrade`); float32 HxWx3 in [0, 1]. The parts
    of a chained recipe draw from one generator in turn, so the whole chain is seeded. With
    alternatives (``a|b``) the generator first picks one, each as likely (repeat one to weight
    it: ``a|a|b``); a recipe without ``|`` draws nothing for it, so its images never change."""
    rng = _rng(seed)
    chains = parse_alternatives(recipe)
    chain = chains[int(rng.integers(len(chains)))] if len(chains) > 1 else chains[0]
    return _apply_chain(img, recipe, chain, rng)


def _apply_chain(img: np.ndarray, recipe: str, chain: list[tuple[str, dict[str, Any]]],
                 rng: np.random.Generator) -> np.ndarray:
    out = img
    for name, params in chain:
        if name in _CHANCE_OUTSIDE and rng.random() >= params.pop("chance", 1.0):
            continue  # this part leaves the image clean: the model also learns to leave clean input alone
        try:
            out = DEGRADATIONS[name](out, rng, **params)
        except TypeError as exc:
            raise InputError(f"recipe {recipe!r}: {exc}") from None
    return out


def check_recipe(recipe: str) -> str:
    """Validate a recipe by running each of its alternatives once on a tiny image; returns it
    unchanged."""
    tiny = np.full((16, 16, 3), 0.5, np.float32)
    for chain in parse_alternatives(recipe):
        _apply_chain(tiny, recipe, chain, _rng(0))
    return recipe
