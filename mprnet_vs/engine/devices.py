"""Which device the engine runs on: CUDA when available, else the CPU."""

from __future__ import annotations

import torch

from ..errors import PresetError

DeviceSpec = str | int | torch.device | None


def resolve_device(device: DeviceSpec = None) -> torch.device:
    """``None`` -> ``cuda`` when a GPU is usable, else ``cpu``. Also takes ``"cpu"``, ``"cuda"``,
    ``"cuda:N"``, an int N (= ``cuda:N``) or a :class:`torch.device`; a GPU that is not there is
    an error rather than a silent fall-back, so a user asking for it learns it is missing."""
    if device is None:
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    if isinstance(device, bool):
        raise PresetError(f"device must be 'cpu', 'cuda', 'cuda:N' or an int, got {device!r}")
    if isinstance(device, int):
        if device < 0:
            raise PresetError(f"device index must be >= 0, got {device}")
        device = torch.device("cuda", device)
    elif isinstance(device, str):
        try:
            device = torch.device(device.strip().lower())
        except RuntimeError:
            raise PresetError(f"device must be 'cpu', 'cuda', 'cuda:N' or an int, got {device!r}") from None
    elif not isinstance(device, torch.device):
        raise PresetError(f"device must be 'cpu', 'cuda', 'cuda:N' or an int, got {type(device).__name__}")
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type != "cuda":
        raise PresetError(f"device {str(device)!r} is not supported: use 'cpu', 'cuda' or 'cuda:N'")
    if not torch.cuda.is_available():
        raise PresetError(f"device {str(device)!r} asked for, but no CUDA GPU is available to torch")
    index = torch.cuda.current_device() if device.index is None else device.index
    if index >= torch.cuda.device_count():
        raise PresetError(f"device 'cuda:{index}' asked for, but only {torch.cuda.device_count()} CUDA GPU(s) exist")
    return torch.device("cuda", index)


def free_memory_bytes(device: torch.device) -> int:
    """Memory the engine may still use on ``device``: free GPU memory plus what torch's caching
    allocator holds but does not use; on the CPU, the kernel's MemAvailable estimate."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(free + max(cached, 0))
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 << 30  # unknown: assume a modest machine


def device_name(device: torch.device) -> str:
    """A human-readable name: the GPU's product name, or the CPU model from /proc/cpuinfo."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "CPU"
