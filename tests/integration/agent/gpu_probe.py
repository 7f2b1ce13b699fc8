"""Run inside a workload on a GPU node: which GPUs CUDA lets this process see, and keep them busy.

    python gpu_probe.py visible          -> prints one JSON line: {"visible": ["GPU-...", ...]}
    python gpu_probe.py busy <seconds>   -> device-to-device copies on every visible GPU for that long

Standard library only (ctypes over the CUDA driver API), so it needs no torch. The driver applies
CUDA_VISIBLE_DEVICES at cuInit, which is what the agent's binding relies on.
"""

from __future__ import annotations

import ctypes
import json
import sys
import time

CUDA_SUCCESS = 0
CUDA_ERROR_NO_DEVICE = 100
BUFFER_BYTES = 1 << 30
COPIES_PER_SYNC = 50


def load_driver() -> ctypes.CDLL:
    for name in ("libcuda.so.1", "libcuda.so"):
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    raise SystemExit("gpu_probe: libcuda not found")


def check(result: int, call: str) -> None:
    if result != CUDA_SUCCESS:
        raise SystemExit(f"gpu_probe: {call} failed with CUDA error {result}")


def visible_uuids(cuda: ctypes.CDLL) -> list[str]:
    result = cuda.cuInit(0)
    if result == CUDA_ERROR_NO_DEVICE:
        return []
    check(result, "cuInit")
    count = ctypes.c_int()
    check(cuda.cuDeviceGetCount(ctypes.byref(count)), "cuDeviceGetCount")
    get_uuid = getattr(cuda, "cuDeviceGetUuid_v2", None) or cuda.cuDeviceGetUuid
    uuids = []
    for ordinal in range(count.value):
        device = ctypes.c_int()
        check(cuda.cuDeviceGet(ctypes.byref(device), ordinal), "cuDeviceGet")
        raw = (ctypes.c_ubyte * 16)()
        check(get_uuid(raw, device), "cuDeviceGetUuid")
        text = bytes(raw).hex()
        uuids.append(f"GPU-{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}")
    return uuids


def keep_busy(cuda: ctypes.CDLL, seconds: float) -> int:
    """Copy 1 GiB buffers back and forth on the first visible GPU; returns the bytes copied."""
    check(cuda.cuInit(0), "cuInit")
    device = ctypes.c_int()
    check(cuda.cuDeviceGet(ctypes.byref(device), 0), "cuDeviceGet")
    context = ctypes.c_void_p()
    cuda.cuCtxCreate_v2.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_uint, ctypes.c_int]
    check(cuda.cuCtxCreate_v2(ctypes.byref(context), 0, device), "cuCtxCreate")
    cuda.cuMemAlloc_v2.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.c_size_t]
    cuda.cuMemcpyDtoD_v2.argtypes = [ctypes.c_uint64, ctypes.c_uint64, ctypes.c_size_t]
    source, target = ctypes.c_uint64(), ctypes.c_uint64()
    check(cuda.cuMemAlloc_v2(ctypes.byref(source), BUFFER_BYTES), "cuMemAlloc")
    check(cuda.cuMemAlloc_v2(ctypes.byref(target), BUFFER_BYTES), "cuMemAlloc")
    copied = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(COPIES_PER_SYNC):
            check(cuda.cuMemcpyDtoD_v2(target.value, source.value, BUFFER_BYTES), "cuMemcpyDtoD")
            source, target = target, source
        check(cuda.cuCtxSynchronize(), "cuCtxSynchronize")
        copied += COPIES_PER_SYNC * BUFFER_BYTES
    return copied


def main(argv: list[str]) -> int:
    cuda = load_driver()
    if argv[:1] == ["visible"]:
        print(json.dumps({"visible": visible_uuids(cuda)}), flush=True)
        return 0
    if argv[:1] == ["busy"] and len(argv) == 2:
        seconds = float(argv[1])
        copied = keep_busy(cuda, seconds)
        print(f"gpu_probe: copied {copied / 1e12:.1f} TB in {seconds:.0f}s", flush=True)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
