#!/usr/bin/env bash
# GPU check for the node agent on a machine with an NVIDIA GPU:
#   1. the NVML backend lists the GPUs (UUID, model, memory, MIG mode);
#   2. a workload started through the agent runtime sees only its bound GPU (CUDA driver API, and
#      `nvidia-smi -L` for the record);
#   3. the GPU's energy counter grows over a busy window (AIFACTORY_GPU_CHECK_SECONDS, default 60).
# Without a GPU it says why it skips and exits 0.
#
# Usage: bench/gpu_check.sh            (from anywhere; uses the repository's .venv when present)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
python="${PYTHON:-$repo/.venv/bin/python}"
[[ -x "$python" ]] || python="$(command -v python3)"

if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "gpu_check: skipped: nvidia-smi not found (no NVIDIA driver on this machine)"
    exit 0
fi
if ! reason="$("$python" -c 'import pynvml; pynvml.nvmlInit(); print(pynvml.nvmlDeviceGetCount())' 2>&1)"; then
    echo "gpu_check: skipped: NVML does not initialise: ${reason##*$'\n'}"
    exit 0
fi
if [[ "$reason" == "0" ]]; then
    echo "gpu_check: skipped: NVML reports no GPU"
    exit 0
fi

echo "gpu_check: ${reason} GPU(s) found; reference: a bound workload sees exactly its GPU, energy delta > 0 J"
nvidia-smi -L
exec "$python" -m pytest -m gpu tests/integration/agent/test_gpu.py -v -s -rs -p no:cacheprovider
