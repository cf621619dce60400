"""Loading MPRNet checkpoints safely, and finding them by task.

A checkpoint is read with torch's weights-only unpickler, so a file that would need to run code
to load is refused instead of executed. The architecture is read off the tensor shapes.
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .errors import PresetError, WeightsError
from .model import MPRNet, config_from_state_dict, use_local_statistics
from .model.local_stats import patch_problem
from .tasks import TASKS, check_task, get as get_task

PUBLISHED_AT = "https://github.com/swz30/MPRNet (links in its README, under each task's 'pretrained model')"
WEIGHTS_ENV = "MPRNET_VS_WEIGHTS"
SHIPPED_DIR = Path(__file__).resolve().parent / "models"

Source = str | os.PathLike | Mapping[str, Any]


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/mprnet-vs``, default ``~/.cache/mprnet-vs``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mprnet-vs"


def search_dirs() -> list[Path]:
    """Where published checkpoints are looked for, in order."""
    dirs = []
    if os.environ.get(WEIGHTS_ENV):
        dirs.append(Path(os.environ[WEIGHTS_ENV]).expanduser())
    dirs.append(cache_dir())
    return dirs


def find_published(task: str) -> Path | None:
    """The published checkpoint for ``task`` if the user has put it where we look, else None."""
    name = get_task(task).published_file
    for folder in search_dirs():
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def published_path(task: str) -> Path:
    """Like :func:`find_published`, but a missing file raises an error saying where to put it."""
    found = find_published(task)
    if found is not None:
        return found
    name = get_task(task).published_file
    places = " or ".join(str(d / name) for d in search_dirs())
    raise WeightsError(
        f"no published checkpoint for task {task!r}: put {name} at {places} "
        f"(set {WEIGHTS_ENV} to choose the folder); the authors publish it at {PUBLISHED_AT}"
    )


def shipped_path(task: str) -> Path | None:
    """The small model we trained and ship inside the package for ``task``, if present."""
    candidate = SHIPPED_DIR / f"{check_task(task)}.pth"
    return candidate if candidate.is_file() else None


def resolve_weights(task: str | None, weights: str | os.PathLike | None) -> Path:
    """The checkpoint an engine loads: ``weights`` when given, else the task's published
    checkpoint if found, else the model shipped for it. Neither found raises the WeightsError
    that says where to put the published file."""
    if weights is not None:
        if not isinstance(weights, (str, os.PathLike)):
            raise WeightsError(f"weights must be a checkpoint path, got {type(weights).__name__}")
        if not str(weights).strip():
            raise WeightsError("weights: empty path; give a checkpoint file, or leave weights out for the task's default")
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsError(f"{path}: no such checkpoint file" if not path.exists() else f"{path}: not a file")
        return path
    if task is None:
        raise WeightsError(f"give a task ({', '.join(TASKS)}) or weights= (a checkpoint path) so a model can be chosen")
    found = find_published(task) or shipped_path(task)
    return found if found is not None else published_path(task)  # raises with the instructions


_TORCH_BOILERPLATE = ("Weights only load failed", "Please file an issue", "Check the documentation", "In PyTorch")


def _torch_detail(exc: BaseException) -> str:
    """The informative line of a torch.load error, without its advice boilerplate."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(_TORCH_BOILERPLATE)]
    first = (useful or lines or [type(exc).__name__])[0].removeprefix("WeightsUnpickler error:").strip()
    return first.split(". ")[0].rstrip(".")


def read_checkpoint(path: Path) -> Any:
    """The raw contents of a checkpoint file, read without executing code from it."""
    if not path.exists():
        raise WeightsError(f"{path}: no such checkpoint file")
    if not path.is_file():
        raise WeightsError(f"{path}: not a file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols before refusing
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = _torch_detail(exc)
        if "GLOBAL" in str(exc):
            raise WeightsError(f"{path}: refused, loading it would execute code ({detail})") from None
        raise WeightsError(
            f"{path}: not a PyTorch checkpoint, or it needs pickle features the safe loader refuses ({detail})"
        ) from None
    except Exception as exc:  # any other failure of the reader means a damaged or foreign file
        raise WeightsError(f"{path}: truncated or not a PyTorch checkpoint ({_torch_detail(exc)})") from None


def extract_state_dict(checkpoint: Any, origin: str) -> dict[str, torch.Tensor]:
    """The tensors of a published-layout checkpoint (``{"state_dict": ...}``), a bare state dict,
    or a DataParallel copy (``module.`` prefixes), with prefixes removed."""
    if isinstance(checkpoint, Mapping) and isinstance(checkpoint.get("state_dict"), Mapping):
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, Mapping) or not checkpoint:
        raise WeightsError(f"{origin}: holds no state dict (expected tensors or a 'state_dict' entry)")
    state: dict[str, torch.Tensor] = {}
    for key, value in checkpoint.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise WeightsError(f"{origin}: entry {key!r} is not a named tensor, so this is not a state dict")
        state[key[len("module.") :] if key.startswith("module.") else key] = value
    return state


def _describe_mismatch(model: MPRNet, state: Mapping[str, torch.Tensor]) -> str | None:
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} != {expected[k]}" for k in expected if k in state and tuple(state[k].shape) != expected[k]]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if items:
            more = f" and {len(items) - 3} more" if len(items) > 3 else ""
            problems.append(f"{label}: {', '.join(items[:3])}{more}")
    return "; ".join(problems) or None


def build_model(state: Mapping[str, torch.Tensor], origin: str) -> MPRNet:
    """An MPRNet of the architecture the tensors describe, holding them (on the CPU, fp32)."""
    try:
        config = config_from_state_dict(state)
    except (KeyError, ValueError) as exc:
        raise WeightsError(f"{origin}: not an MPRNet checkpoint ({exc.args[0] if exc.args else exc})") from None
    model = MPRNet.from_config(config)
    problem = _describe_mismatch(model, state)
    if problem:
        raise WeightsError(f"{origin}: not an MPRNet checkpoint of the inferred config ({problem})")
    model.load_state_dict({k: v.float() for k, v in state.items()})
    for name, tensor in model.state_dict().items():
        if not torch.isfinite(tensor).all():
            raise WeightsError(f"{origin}: tensor {name} holds NaN or infinite values")
    return model


# Our own checkpoint entry (published checkpoints have none): the training crop a model's
# channel-attention windows are sized for when it runs with local statistics by default
# (mprnet_vs.model.local_stats). Loaders that only read "state_dict" ignore it.
LOCAL_STATS_KEY = "local_stats_patch"


def recorded_local_stats(checkpoint: Any, origin: str) -> int | None:
    """The training crop a checkpoint asks local statistics for, or None (global pooling)."""
    if not isinstance(checkpoint, Mapping) or checkpoint.get(LOCAL_STATS_KEY) is None:
        return None
    patch = checkpoint[LOCAL_STATS_KEY]
    problem = patch_problem(patch)
    if problem:
        raise WeightsError(f"{origin}: '{LOCAL_STATS_KEY}' {problem}, got {patch!r}")
    return patch


def check_local_stats(value: object) -> int | None:
    """An engine's ``local_stats`` setting: None (the checkpoint's own), 0 (off) or a training crop."""
    if value is None or (value == 0 and not isinstance(value, bool)):
        return value  # type: ignore[return-value]
    problem = patch_problem(value)
    if problem:
        raise PresetError(f"local_stats {problem}, or 0 for off; got {value!r}")
    return value  # type: ignore[return-value]


def load_model(source: Source, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> MPRNet:
    """An :class:`MPRNet` in eval mode from a checkpoint path or an in-memory mapping, with the
    local statistics the checkpoint records (none for a published one: the released model)."""
    if isinstance(source, Mapping):
        origin = "in-memory checkpoint"
        checkpoint: Any = source
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        origin = str(path)
        checkpoint = read_checkpoint(path)
    else:
        raise WeightsError(f"weights source must be a path or a mapping, got {type(source).__name__}")
    model = build_model(extract_state_dict(checkpoint, origin), origin)
    use_local_statistics(model, recorded_local_stats(checkpoint, origin))
    return model.to(device=device, dtype=dtype).eval()
