#!/usr/bin/env python3
"""What a pynvml (nvidia-ml-py) user asks NVML, printed one figure a line:
the same script runs natively and in a vgpu guest (tests/gpu/nvidia_smi.sh)
and in CI against the CPU backend (pynvml_test.sh).

  pynvml_check.py [--expect-pid PID --expect-mib MIB] [--absent-pid PID] [--cpu-backend]

--expect-pid: that process must be listed with at least --expect-mib MiB.
--absent-pid: that process (another guest's) must not be listed.
--cpu-backend: the host has no NVML, so every host figure must be refused
(NVMLError_NotSupported), never a made-up value.
"""
import argparse
import sys

import pynvml as N

HOST_FIGURES = [
    ("utilization", lambda h: (lambda u: f"gpu {u.gpu}% mem {u.memory}%")(N.nvmlDeviceGetUtilizationRates(h))),
    ("temperature", lambda h: f"{N.nvmlDeviceGetTemperature(h, N.NVML_TEMPERATURE_GPU)} C"),
    ("power", lambda h: f"{N.nvmlDeviceGetPowerUsage(h) / 1000:.1f} W"),
    ("power limit", lambda h: f"{N.nvmlDeviceGetEnforcedPowerLimit(h) / 1000:.0f} W"),
    ("energy", lambda h: f"{N.nvmlDeviceGetTotalEnergyConsumption(h)} mJ"),
    ("clock sm", lambda h: f"{N.nvmlDeviceGetClockInfo(h, N.NVML_CLOCK_SM)} MHz"),
    ("clock mem", lambda h: f"{N.nvmlDeviceGetClockInfo(h, N.NVML_CLOCK_MEM)} MHz"),
    ("max clock sm", lambda h: f"{N.nvmlDeviceGetMaxClockInfo(h, N.NVML_CLOCK_SM)} MHz"),
    ("pstate", lambda h: f"P{N.nvmlDeviceGetPerformanceState(h)}"),
    ("pcie", lambda h: f"gen {N.nvmlDeviceGetCurrPcieLinkGeneration(h)} x{N.nvmlDeviceGetCurrPcieLinkWidth(h)}"),
    ("pcie max", lambda h: f"gen {N.nvmlDeviceGetMaxPcieLinkGeneration(h)} x{N.nvmlDeviceGetMaxPcieLinkWidth(h)}"),
    ("compute mode", lambda h: f"{N.nvmlDeviceGetComputeMode(h)}"),
    ("ecc mode", lambda h: f"{N.nvmlDeviceGetEccMode(h)}"),
    ("mig mode", lambda h: f"{N.nvmlDeviceGetMigMode(h)}"),
    ("brand", lambda h: f"{N.nvmlDeviceGetBrand(h)}"),
    ("serial", lambda h: N.nvmlDeviceGetSerial(h)),
    ("vbios", lambda h: N.nvmlDeviceGetVbiosVersion(h)),
    ("field power.instant", lambda h: (lambda v: f"{v.value.uiVal / 1000:.1f} W (ret {v.nvmlReturn})")(
        N.nvmlDeviceGetFieldValues(h, [N.NVML_FI_DEV_POWER_INSTANT])[0])),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--expect-pid", type=int)
    ap.add_argument("--expect-mib", type=int, default=1)
    ap.add_argument("--absent-pid", type=int, help="a process of another guest: must not be listed")
    ap.add_argument("--cpu-backend", action="store_true")
    a = ap.parse_args()
    fail = []
    N.nvmlInit()
    print("driver:", N.nvmlSystemGetDriverVersion())
    try:
        print("nvml:", N.nvmlSystemGetNVMLVersion())
    except N.NVMLError as e:
        print("nvml: refused:", e)
    print("cuda driver:", N.nvmlSystemGetCudaDriverVersion_v2())
    n = N.nvmlDeviceGetCount()
    print("devices:", n)
    for i in range(n):
        h = N.nvmlDeviceGetHandleByIndex(i)
        uuid = N.nvmlDeviceGetUUID(h)
        if N.nvmlDeviceGetHandleByUUID(uuid) is None:
            fail.append("handle by uuid")
        print(f"[{i}] name: {N.nvmlDeviceGetName(h)}")
        print(f"[{i}] uuid: {uuid}")
        print(f"[{i}] pci: {N.nvmlDeviceGetPciInfo(h).busId}")
        print(f"[{i}] compute capability: {N.nvmlDeviceGetCudaComputeCapability(h)}")
        m = N.nvmlDeviceGetMemoryInfo(h)
        print(f"[{i}] memory: total {m.total >> 20} MiB used {m.used >> 20} MiB free {m.free >> 20} MiB")
        procs = N.nvmlDeviceGetComputeRunningProcesses(h)  # _v3 in current nvidia-ml-py
        for p in procs:
            print(f"[{i}] process: pid {p.pid} used {(p.usedGpuMemory or 0) >> 20} MiB")
        if a.expect_pid is not None:
            mine = [p for p in procs if p.pid == a.expect_pid]
            if not mine or (mine[0].usedGpuMemory or 0) < a.expect_mib << 20:
                fail.append(f"pid {a.expect_pid} with >= {a.expect_mib} MiB not listed: {[(p.pid, p.usedGpuMemory) for p in procs]}")
        if a.absent_pid is not None and any(p.pid == a.absent_pid for p in procs):
            fail.append(f"pid {a.absent_pid} (another guest's) is listed")
        for name, get in HOST_FIGURES:
            try:
                text = get(h)
                print(f"[{i}] {name}: {text}")
                if a.cpu_backend:
                    fail.append(f"{name} answered on the CPU backend: {text}")
            except N.NVMLError as e:
                print(f"[{i}] {name}: refused: {e}")
                if a.cpu_backend and not isinstance(e, N.NVMLError_NotSupported):
                    fail.append(f"{name}: {e} (not NOT_SUPPORTED)")
    N.nvmlShutdown()
    for f in fail:
        print("FAIL:", f)
    return 1 if fail else 0


if __name__ == "__main__":
    sys.exit(main())
