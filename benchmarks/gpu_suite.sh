#!/usr/bin/env bash
# Every GPU measurement issue 7 asks for, in one command, so a short GPU lease is spent measuring:
#   benchmarks/gpu_suite.sh [OUT_DIR]        (default: bench-gpu; PYTHON picks the interpreter)
# Each group writes OUT_DIR/<group>.json (all rows, device, torch version) and appends to
# OUT_DIR/log.txt. Published architectures with deterministic weights unless the published
# checkpoints are in the cache (speed does not depend on the weights). The video group needs
# PyAV; on a machine without it, carry its wheel (see docs/benchmarks.md) or set SKIP_VIDEO=1.
set -uo pipefail
out=${1:-bench-gpu}
py=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONUNBUFFERED=1

bench() {  # bench GROUP ARGS...: one `mprnet-vs bench` run; a failed group does not stop the rest
    local group=$1
    shift
    echo "== $group: mprnet-vs bench $*" | tee -a "$out/log.txt"
    "$py" -m mprnet_vs bench "$@" --json "$out/$group.json" 2>&1 | tee -a "$out/log.txt"
}

"$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' \
    | tee "$out/log.txt"

# 3-stage deblurring at 720p (<= 100 ms), each precision against fp32 (>= 50 dB) and against the
# released way (>= 5x); 2 and 1 stages for the stage speed-ups (>= 1.6x, >= 3x).
bench deblur-720p --task deblur --resolution 720p --stages 3 2 1 --precision fp32 fp16 bf16 auto --batch 1
# Batching at 720p.
bench deblur-720p-batch --task deblur --resolution 720p --stages 3 --precision auto --batch 2 4 --no-released
# Deraining at 1080p (>= 30 fps), batched.
bench derain-1080p --task derain --resolution 1080p --stages 3 --precision auto --batch 1 2 4
# 4K through tiles.
bench deblur-4k --task deblur --resolution 4k --stages 3 --precision auto --batch 1 4 --no-released
# torch.compile (default mode).
bench deblur-720p-compile --task deblur --resolution 720p --stages 3 --precision auto --batch 1 --compile --no-released
# The video pipeline end to end against model-only (>= 90 %).
if [ "${SKIP_VIDEO:-0}" != 1 ]; then
    bench derain-1080p-video --task derain --resolution 1080p --stages 3 --precision auto --batch 1 4 \
        --no-released --video --video-frames 48
fi
echo "done: $out" | tee -a "$out/log.txt"
