"""The released MPRNet training recipe on current PyTorch, driven by a YAML config.

Loss: sum over the three stage outputs of Charbonnier + 0.05 x edge loss. Adam (0.9, 0.999, 1e-8)
at 2e-4, linear warm-up, then cosine decay to 1e-6. Random crops with one of the 8 flips/rotations.
Checkpoints use the published layout ({"state_dict", "epoch", "optimizer"}, plus "iteration"), so
every front end loads them, and a run resumes from its last checkpoint.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TextIO

import cv2
import torch
import yaml

from ..errors import InputError, PresetError, first_line
from ..engine.devices import resolve_device
from ..engine.options import MAX_BATCH, MAX_ITERATIONS, MAX_LOCAL_STATS, MAX_THREADS
from ..model import MPRNet, MPRNetConfig, use_local_statistics
from ..model.local_stats import patch_problem
from ..safe_output import atomic_output
from ..tasks import REGISTRY as TASK_REGISTRY, TASKS
from ..weights import LOCAL_STATS_KEY, build_model, extract_state_dict, load_model, read_checkpoint
from ..degrade import check_recipe
from .data import PairSource, numbered_batches
from .losses import MPRNetLoss

LAST = "last.pth"
# The lowest value of each numeric setting (lr must be above 0; threads 0 = torch's default).
_LOWEST = {"lr": 0.0, "min_lr": 0.0, "checkpoint_minutes": 0.0, "batch": 1, "iterations": 1, "warmup": 0, "seed": 0,
           "threads": 0, "workers": 0, "log_every": 1}
# The highest: a typo (patch 2560, batch 1600) must fail before it allocates gigabytes.
_HIGHEST = {"patch": MAX_LOCAL_STATS, "batch": MAX_BATCH, "iterations": MAX_ITERATIONS, "warmup": MAX_ITERATIONS,
            "threads": MAX_THREADS, "workers": 256}
TRAIN_PRECISIONS = ("fp32", "bf16")  # fp16 would need loss scaling; bf16 has fp32's range


@dataclass
class TrainConfig:
    task: str
    output: Path
    model: dict[str, Any] = field(default_factory=dict)
    clean: Path | None = None
    degraded: Path | None = None
    recipe: str | None = None
    scene: str | None = None  # a recipe applied to the clean crops, kept in the targets (PairSource)
    scales: tuple[float, ...] = (1.0,)
    patch: int = 64
    batch: int = 4
    iterations: int = 1000
    lr: float = 2e-4
    min_lr: float = 1e-6
    warmup: int = 100
    seed: int = 0
    threads: int = 0
    workers: int = 0  # processes that degrade batches ahead (0 = the training process does it)
    log_every: int = 50
    checkpoint_minutes: float = 3.0
    init: Path | None = None
    device: str | None = None  # None = CUDA when available, else the CPU
    precision: str = "fp32"  # or "bf16": autocast convolutions: ~2.4x the pixel rate on an AMX CPU (docs/benchmarks.md)

    def model_config(self) -> MPRNetConfig:
        try:
            config = MPRNetConfig(**self.model)
        except TypeError as exc:
            raise PresetError(f"model section: {exc}") from None
        for key, value in config.as_dict().items():
            if key == "bias":
                ok, allowed = isinstance(value, bool), "true or false"
            elif key in ("in_c", "out_c"):
                ok, allowed = value == 3 and _is_int(value), "3 (training and restoring are RGB)"
            elif key == "kernel_size":
                ok, allowed = _is_int(value) and value > 0 and value % 2 == 1, "an odd whole number"
            elif key == "reduction":
                ok, allowed = _is_int(value) and 1 <= value <= config.n_feat, "a whole number from 1 to n_feat"
            else:
                low = 0 if key == "num_cab" else 1
                ok, allowed = _is_int(value) and value >= low, f"a whole number >= {low}"
            if not ok:
                raise PresetError(f"model section: {key} must be {allowed}, got {value!r}")
        return config


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _section(raw: dict, name: str, origin: str) -> dict:
    value = raw.get(name) or {}
    if not isinstance(value, dict):
        raise PresetError(f"{origin}: '{name}' must be a mapping")
    return value


def _number(values: dict, key: str, kind: type, origin: Path) -> Any:
    value = values.get(key)
    if value is None:
        return next(f.default for f in fields(TrainConfig) if f.name == key)
    try:
        if isinstance(value, bool):
            raise TypeError(value)
        number = kind(float(value)) if kind is int else kind(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
        raise PresetError(f"{origin}: {key} must be a number, got {value!r}") from None
    if kind is int and number != float(value):
        raise PresetError(f"{origin}: {key} must be a whole number, got {value!r}")
    return number


def load_config(path: str | Path, **overrides: Any) -> TrainConfig:
    """Read a training YAML (layout in presets/train/*.yaml); ``overrides`` win (None = keep)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise PresetError(f"{path}: no such training config") from None
    except yaml.YAMLError as exc:
        raise PresetError(f"{path}: not valid YAML ({first_line(exc)})") from None
    if not isinstance(raw, dict):
        raise PresetError(f"{path}: expected a mapping at the top level")
    known = {"task", "model", "data", "train", "output", "init"}
    unknown = set(raw) - known
    if unknown:
        raise PresetError(f"{path}: unknown keys {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {"task": raw.get("task"), "output": raw.get("output"), "init": raw.get("init"),
                              "model": _section(raw, "model", str(path))}
    flat = {**_section(raw, "data", str(path)), **_section(raw, "train", str(path))}
    names = {f.name for f in fields(TrainConfig)} - {"task", "output", "init", "model"}
    bad = set(flat) - names
    if bad:
        raise PresetError(f"{path}: unknown data/train keys {', '.join(sorted(bad))}")
    values.update(flat)
    values.update({k: v for k, v in overrides.items() if v is not None})
    if overrides.get("init") is not None:
        values["model"] = {}  # fine-tuning from --init: the architecture is the checkpoint's
    if values["task"] not in TASKS:
        raise PresetError(f"{path}: task must be one of {', '.join(TASKS)}, got {values['task']!r}")
    if not values.get("output"):
        raise PresetError(f"{path}: 'output' (the run folder) is required")
    for key in ("output", "clean", "degraded", "init"):
        if values.get(key) is not None:
            if not isinstance(values[key], (str, os.PathLike)):
                raise PresetError(f"{path}: {key} must be a path, got {values[key]!r}")
            values[key] = Path(values[key]).expanduser()
    for key in ("recipe", "scene"):
        if values.get(key) is not None and not isinstance(values[key], str):
            raise PresetError(f"{path}: {key} must be a recipe string such as \"noise:sigma=25\", got {values[key]!r}")
    if values.get("scales") is not None:
        scales = values["scales"]
        if not (isinstance(scales, list) and scales
                and all(isinstance(s, (int, float)) and not isinstance(s, bool) and 0 < s < math.inf for s in scales)):
            raise PresetError(f"{path}: scales must be a list of numbers > 0 (e.g. [1.0, 0.5]), got {scales!r}")
        values["scales"] = tuple(float(s) for s in scales)
    for key in ("lr", "min_lr", "checkpoint_minutes"):  # YAML reads 2e-4 (no dot) as a string
        values[key] = _number(values, key, float, path)
    for key in ("patch", "batch", "iterations", "warmup", "seed", "threads", "workers", "log_every"):
        values[key] = _number(values, key, int, path)
    for key, low in _LOWEST.items():  # NaN fails too
        if not (values[key] >= low and values[key] < math.inf) or (key == "lr" and values[key] == 0):
            raise PresetError(f"{path}: {key} must be {'> 0' if key == 'lr' else f'>= {low}'}, got {values[key]}")
    for key, high in _HIGHEST.items():
        if values[key] > high:
            raise PresetError(f"{path}: {key} must be <= {high}, got {values[key]}")
    values["precision"] = str(values.get("precision") or "fp32").lower()
    if values["precision"] not in TRAIN_PRECISIONS:
        raise PresetError(f"{path}: precision must be one of {', '.join(TRAIN_PRECISIONS)}, got {values['precision']!r}")
    if values.get("device") is not None:
        try:
            values["device"] = str(resolve_device(str(values["device"])))
        except PresetError as exc:
            raise PresetError(f"{path}: {exc}") from None
    try:
        config = TrainConfig(**values)
    except TypeError as exc:
        raise PresetError(f"{path}: {exc}") from None
    if config.clean is None:
        raise PresetError(f"{path}: data.clean (folder of clean images) is required")
    if config.model:
        try:
            config.model_config()
        except PresetError as exc:
            raise PresetError(f"{path}: {exc}") from None
    if config.degraded is None and config.recipe is None:
        config.recipe = TASK_REGISTRY[config.task].recipe
    if config.recipe:
        check_recipe(config.recipe)
    if config.scene:
        if config.degraded is not None:
            raise PresetError(f"{path}: data.scene needs clean images degraded by a recipe, not data.degraded")
        check_recipe(config.scene)
    if config.patch % 8 or config.patch < 16:
        raise PresetError(f"{path}: patch must be a multiple of 8 and at least 16, got {config.patch}")
    return config


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then deliver them: an optimisation step cut
    in half (Adam's moments updated, the weights not) would be saved as a broken state."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    caught = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda signum, _frame: held.append(signum)) for sig in caught}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if held:
            signal.raise_signal(held[0])


def learning_rate(config: TrainConfig, iteration: int) -> float:
    """Linear warm-up to ``lr``, then cosine decay to ``min_lr`` at the last iteration."""
    if iteration < config.warmup:
        return config.lr * (iteration + 1) / config.warmup
    span = max(config.iterations - config.warmup, 1)
    progress = min((iteration - config.warmup) / span, 1.0)
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + math.cos(math.pi * progress))


def optimisation_step(model: MPRNet, optimizer: torch.optim.Optimizer, loss_fn: torch.nn.Module,
                      degraded: torch.Tensor, clean: torch.Tensor, precision: str) -> float:
    """One update on a batch already on the model's device: the three stages forward (autocast
    to bf16 when asked), the loss in fp32, backward, and the optimizer's step; returns the loss."""
    with torch.autocast(degraded.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        outputs = model.forward_stages(degraded, 3)
    loss = loss_fn([out.float() for out in outputs], clean)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def save_checkpoint(path: Path, payload: dict) -> None:
    """Write next to the target and rename, so a stop mid-write never leaves a broken checkpoint
    (nor a partial temporary file: an error or Ctrl-C deletes it)."""
    with atomic_output(path) as temp:
        torch.save(payload, temp)


def average_checkpoints(checkpoints: Sequence[str | Path], dest: str | Path, half: bool = True,
                        local_stats: int | None = None) -> Path:
    """The element-wise mean of checkpoints of one config, in the published layout without optimizer
    state (fp16 tensors unless ``half`` is off). Runs fine-tuned from a common start often average
    into a model better than each (a "model soup"); one checkpoint gives a compact copy of it.
    ``local_stats`` (the training crop) makes the copy run with local statistics by default."""
    if not checkpoints:
        raise InputError("no checkpoints to average")
    problem = None if local_stats is None else patch_problem(local_stats)
    if problem:  # before any checkpoint is read or folder made
        raise InputError(f"local_stats {problem}, got {local_stats!r}")
    raws = [read_checkpoint(Path(c).expanduser()) for c in checkpoints]  # each file read once
    models = [build_model(extract_state_dict(raw, str(c)), str(c)) for c, raw in zip(checkpoints, raws)]
    for path, model in zip(checkpoints, models):
        if model.config != models[0].config:
            raise InputError(f"{path}: its MPRNet config {model.config} differs from {checkpoints[0]}'s {models[0].config}")
    states = [m.state_dict() for m in models]
    state = {}
    for key, first in states[0].items():
        if first.is_floating_point():
            mean = sum(s[key].double() for s in states) / len(states)
            state[key] = mean.to(torch.float16 if half else first.dtype)
        else:
            state[key] = first
    epoch = max(int(raw.get("epoch", 0)) for raw in raws)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    payload = {"state_dict": state, "epoch": epoch, "optimizer": {}}
    if local_stats is not None:
        payload[LOCAL_STATS_KEY] = local_stats
    save_checkpoint(dest, payload)
    return dest


def export_model(checkpoint: str | Path, dest: str | Path, half: bool = True, local_stats: int | None = None) -> Path:
    """A compact published-layout copy (fp16 tensors, no optimizer state) for shipping."""
    return average_checkpoints([checkpoint], dest, half, local_stats)


class Trainer:
    def __init__(self, config: TrainConfig, log: TextIO | None = None) -> None:
        self.config = config
        self.log = log if log is not None else sys.stdout
        if config.output.exists() and not config.output.is_dir():
            raise InputError(f"{config.output}: the run folder is a file, not a folder")
        if config.threads:
            torch.set_num_threads(config.threads)
        cv2.setNumThreads(1)
        torch.manual_seed(config.seed)
        self.device = resolve_device(config.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # every batch has the same shape
        self.model = self._build_model().to(self.device, memory_format=torch.channels_last)
        self.model.train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, betas=(0.9, 0.999), eps=1e-8)
        self.loss_fn = MPRNetLoss().to(self.device)
        self.iteration = 0
        data = (
            PairSource.from_pairs(config.degraded, config.clean)
            if config.degraded is not None
            else PairSource.from_clean_folder(config.clean, config.recipe or "", config.scales, config.scene)
        )
        self.data = data.fitting(config.patch)
        if len(self.data.clean) < len(data.clean):
            print(f"left out {len(data.clean) - len(self.data.clean)} of {len(data.clean)} images (or scaled copies) "
                  f"smaller than the {data.crop_size(config.patch)}px crop", file=self.log, flush=True)
        config.output.mkdir(parents=True, exist_ok=True)
        self.last_path = config.output / LAST
        if self.last_path.is_file():
            self._resume()

    def _build_model(self) -> MPRNet:
        config = self.config
        if config.init is None:
            return MPRNet.from_config(config.model_config())
        model = load_model(config.init)  # fine-tuning: the architecture is the checkpoint's
        use_local_statistics(model, None)  # trained as released: each crop's own averages
        if config.model and model.config != config.model_config():
            raise PresetError(f"{config.init}: its architecture {model.config} differs from the config's model section")
        return model

    def _resume(self) -> None:
        raw = read_checkpoint(self.last_path)  # a damaged last.pth is named in a clear error
        model = build_model(extract_state_dict(raw, str(self.last_path)), str(self.last_path))
        if model.config != self.model.config:
            raise PresetError(f"{self.last_path}: holds a different architecture; use another output folder")
        self.model.load_state_dict(model.state_dict())
        if raw.get("optimizer"):  # load_state_dict moves the moments to the parameters' device
            self.optimizer.load_state_dict(raw["optimizer"])
        self.iteration = int(raw.get("iteration", raw.get("epoch", 0)))
        print(f"resuming {self.last_path} at iteration {self.iteration}", file=self.log, flush=True)

    def save(self) -> Path:
        save_checkpoint(self.last_path, {
            "state_dict": {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()},
            "epoch": self.iteration,
            "iteration": self.iteration,
            "optimizer": self.optimizer.state_dict(),
            "config": self.model.config.as_dict(),
        })
        return self.last_path

    def step(self, batch: tuple[torch.Tensor, torch.Tensor] | None = None) -> float:
        """One optimisation step on batch number ``self.iteration`` (made here unless given);
        returns its loss."""
        c = self.config
        lr = learning_rate(c, self.iteration)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        degraded, clean = batch if batch is not None else self.data.batch(c.seed, self.iteration, c.batch, c.patch)
        degraded = degraded.to(self.device, memory_format=torch.channels_last, non_blocking=True)
        clean = clean.to(self.device, non_blocking=True)
        loss = optimisation_step(self.model, self.optimizer, self.loss_fn, degraded, clean, c.precision)
        self.iteration += 1
        return loss

    @property
    def finished(self) -> bool:
        return self.iteration >= self.config.iterations

    def run(self, max_minutes: float | None = None) -> Path:
        """Train to the configured iteration count, or stop after ``max_minutes`` (a slice of a
        longer run on a shared or time-limited machine); either way last.pth is saved and resumable."""
        c = self.config
        start, last_save = time.monotonic(), time.monotonic()
        first, running, count = self.iteration, 0.0, 0
        stream = numbered_batches(self.data, c.seed, self.iteration, c.iterations, c.batch, c.patch,
                                  c.workers, pin_memory=self.device.type == "cuda")
        try:
            for batch in stream:
                with _signals_held():  # Ctrl-C between two steps, never in the middle of an update
                    running += self.step(batch)
                count += 1
                if self.iteration % c.log_every == 0 or self.finished:
                    rate = (self.iteration - first) / max(time.monotonic() - start, 1e-9)
                    eta = (c.iterations - self.iteration) / max(rate, 1e-9)
                    print(f"iter {self.iteration}/{c.iterations} loss {running / count:.4f} "
                          f"lr {learning_rate(c, self.iteration - 1):.2e} {rate:.2f} it/s eta {eta / 60:.0f} min",
                          file=self.log, flush=True)
                    running, count = 0.0, 0
                if max_minutes is not None and time.monotonic() - start >= max_minutes * 60:
                    break
                if time.monotonic() - last_save > c.checkpoint_minutes * 60:
                    self.save()
                    last_save = time.monotonic()
        except KeyboardInterrupt:
            if self.iteration > first:  # the steps since the last save are kept, and resumable
                print(f"interrupted at iteration {self.iteration}/{c.iterations}: saving {self.save()} to resume from",
                      file=self.log, flush=True)
            raise
        path = self.save()
        if self.finished:
            print(f"done: {path}", file=self.log, flush=True)
        else:
            print(f"stopped after {max_minutes} min at iteration {self.iteration}/{c.iterations}: "
                  f"run again to resume from {path}", file=self.log, flush=True)
        return path
