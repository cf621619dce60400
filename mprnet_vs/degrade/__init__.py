"""Synthetic degradations for training and evaluation: rain, blur, noise and JPEG compression.

Every function takes an RGB image as float32 HxWx3 in [0, 1] (uint8/uint16 are converted) and a
seed or ``numpy.random.Generator``; the same seed gives the same result. Parameters left as
``None`` are drawn at random from the documented ranges, so one recipe covers a family of
degradations rather than a single look.

Recipes are short strings used by the CLI and the training configs; ``a+b`` applies ``a`` then
``b`` (one generator for the whole chain); ``a|b`` applies one of them, drawn per image, each as
likely (``|`` binds looser than ``+``: ``rain|rainmix+jpeg`` is ``rain`` or ``rainmix+jpeg``)::

    rain                      random rain (all parameters drawn)
    rain:density=0.02,angle=-10
    blur                      random motion blur (linear or trajectory kernel) + light noise
    blur:kind=linear,length=15
    blur:max_length=11        random motion blur, kernels no longer than 11 px
    noise                     Gaussian noise, sigma drawn from 0-50 (in 8-bit units)
    noise:sigma=25            Gaussian noise of sigma 25/255
    noise:max_sigma=55,skew=0.5  sigma drawn from 0-55, weak noise more often
    noise:kind=poisson,peak=30,sigma=5
    rainmix                   rain rendered many ways (blend, layers, drops, haze; all drawn)
    rainmix:blend=alpha,layers=2,tint=0.3
    veil                      rainmix's haze veil alone (strength, space, tint drawn); as a
                              training ``scene`` it is haze the model must keep
    blurmix                   line, hand-shake, defocus or Gaussian blur + light noise
    blurmix:kind=defocus,radius=4
    noisemix                  camera-like noise: sigma 0-55, shot noise, coloured, grainy
    noisemix:sigma=15,peak=50,channel_corr=0.3,grain=0.8
    jpeg:quality=60           saved as a JPEG of IJG quality 60 and decoded
    noisemix+jpeg:chance=0.3  camera noise, then JPEG (30-95) on 30 % of the images
    rainmix:chance=0.9        rain on 90 % of the images; 10 % stay clean (a model must leave
                              clean input alone: rainmix, blurmix, noisemix and jpeg take chance)
    rain|rain|rainmix         the shipped rain recipe on 2/3 of the images, rainmix on the rest

The first three are the shipped models' recipes; their draws never change, so the model cards'
numbers stay reproducible. The others were added to make models that generalise (issue 25).

Ranges
- rain: density 0.001-0.01 (streak seeds per pixel), angle -30..30 degrees from vertical,
  length 8-40 px, width 1-3 px, brightness 0.3-0.8, blur 0-1.5 px (Gaussian sigma); layered
  over the image with a screen blend, so streaks lighten and never exceed white.
- blur: kernels up to 25 px; "linear" (a line of length 3-25 px at any angle) or "trajectory"
  (a random camera-shake path, 7-25 px); then Gaussian noise of sigma 0-2/255. ``max_length``
  lowers the 25 px cap (3-25).
- noise: Gaussian sigma 0-50/255, or Poisson-Gaussian (photon count ``peak`` 10-100 at white,
  plus Gaussian read noise sigma 0-10/255). Results are clipped to [0, 1]. ``max_sigma`` moves
  the Gaussian's 50 cap; ``skew`` k draws sigma as max_sigma * u^(1+k), more often weak.
- rainmix: blend screen / add / alpha; 1-3 layers; density 0.0005-0.012; angle -35..35; length
  5-60 px; width 0.5-4 px; blur 0-2 px; opacity 0.2-0.9; tint 0-0.6; drops 0-0.1 of the frame
  and haze 0-0.3, each off in half the draws; composited on the sRGB values or in linear light
  (``space``) in half the draws each; streaks coloured by the scene's mean, or with
  ``colour=local`` by the light around them (:mod:`.rain_styles`).
- veil: strength 0-0.3, composited on the sRGB values or in linear light (``space``), tinted 0-0.6
  towards the scene's mean colour: rainmix's haze without the streaks (:mod:`.rain_styles`).
- blurmix: kind linear 30 % / shake 40 % / defocus 20 % / gaussian 10 %; length 3-25 (shake
  7-25); radius 1-8 px; spread 0.5-3 px; then noise sigma 0-3/255 (:mod:`.kernels`).
- noisemix: sigma 0-55/255; shot noise peak 4-400 (log-uniform, off in half the draws);
  channel_corr 0-0.6 and grain 0.3-1.2 px, each off in half the draws (:mod:`.noise_models`).
- jpeg: quality 30-95; chance 1 (:mod:`.jpeg`).

A recipe may set a value outside the drawn range, within what the degradation can do (anything
else is an InputError naming the recipe and the key): rain density 0-1, angle -90..90, length
1-100, width 1-10, brightness 0-1, blur 0-10; blur length 1-101 (longer than the drawn
range, for stress tests), angle -360..360, noise 0-255,
max_length 3-25; noise sigma 0-255, peak 1-1e6, max_sigma 0-255, skew 0-4; rainmix layers 1-3 (whole), density 0-0.1,
angle -90..90, length 1-150, width 0.5-10, blur 0-10, opacity 0-1, tint 0-1, drops 0-0.5, haze
0-0.9; blurmix length 1-101, radius 0.5-12, spread 0.3-8, noise 0-255, max_length 3-25; noisemix
sigma 0-255, peak 0 or 1-1e6, channel_corr 0-1, grain 0-3; veil strength 0-0.9, tint 0-1; jpeg quality
1-100, chance 0-1 (rainmix, blurmix, noisemix and veil take chance too).
"""

from .classic import (MAX_KERNEL, MAX_SET_LENGTH, Seed, add_noise, add_rain, as_float, blur_kernel, line_kernel,
                      motion_blur, rain_layer, to_dtype, to_uint8, trajectory_kernel)
from .jpeg import jpeg_bytes, jpeg_compress
from .kernels import blur_mix, defocus_kernel, gaussian_kernel, mixed_kernel, shake_kernel
from .noise_models import add_noise_mix, unit_noise_field
from .rain_styles import add_rain_mix, add_veil, streak_mask
from .recipes import (CHOICES, DEGRADATIONS, INTEGERS, LIMITS, check_recipe, degrade, parse_alternatives,
                      parse_chain, parse_recipe)

__all__ = [
    "MAX_KERNEL", "MAX_SET_LENGTH", "Seed", "add_noise", "add_rain", "as_float", "blur_kernel", "line_kernel",
    "motion_blur", "rain_layer", "to_dtype", "to_uint8", "trajectory_kernel", "jpeg_bytes", "jpeg_compress",
    "blur_mix", "defocus_kernel", "gaussian_kernel", "mixed_kernel", "shake_kernel", "add_noise_mix",
    "unit_noise_field", "add_rain_mix", "add_veil", "streak_mask", "CHOICES", "DEGRADATIONS", "INTEGERS", "LIMITS",
    "check_recipe", "degrade", "parse_alternatives", "parse_chain", "parse_recipe",
]
