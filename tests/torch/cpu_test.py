"""PyTorch (the real PyPI build) through vgpu on the CPU backend: what must
work there, checked against the CPU; and an app kernel, which the CPU
backend cannot run, refused with a clear error. run.sh runs this with our
libraries preloaded and a CPU-backend vgpu-hostd behind VGPU_REGION."""
import ctypes
import os
import sys

import torch

failures = []


def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")
    if not ok:
        failures.append(name)


check("torch.cuda.is_available()", torch.cuda.is_available())
check("device_count == 1", torch.cuda.device_count() == 1, str(torch.cuda.device_count()))
name = torch.cuda.get_device_name(0)
check("device name is the host's", name == "vgpu CPU backend", name)
props = torch.cuda.get_device_properties(0)
check("properties", props.total_memory > 0 and props.multi_processor_count > 0, str(props))
free, total = torch.cuda.mem_get_info()
check("mem_get_info", 0 < free <= total, f"{free}/{total}")

# Allocation through the caching allocator (cudaMalloc on the host).
big = torch.empty(1 << 20, dtype=torch.float32, device="cuda")
check("memory_allocated", torch.cuda.memory_allocated() >= 4 << 20, str(torch.cuda.memory_allocated()))

# Copies, byte for byte: pageable, pinned (async), device to device.
g = torch.Generator().manual_seed(1)
host = torch.randint(0, 256, ((3 << 20) + 17,), dtype=torch.uint8, generator=g)
dev = host.cuda()
check("pageable HtoD/DtoH byte-equal", torch.equal(dev.cpu(), host))
pinned = host.pin_memory()
dev2 = torch.empty_like(dev)
dev2.copy_(pinned, non_blocking=True)
back = torch.empty_like(pinned)
back.copy_(dev2, non_blocking=True)
torch.cuda.synchronize()
check("pinned async copies byte-equal", torch.equal(back, host))
dev3 = torch.empty_like(dev)
dev3.copy_(dev)
check("DtoD copy byte-equal", torch.equal(dev3.cpu(), host))

# GEMMs: torch.mm through cuBLAS, linear (addmm with bias) through cuBLASLt.
a = torch.randn(96, 64, generator=g)
b = torch.randn(64, 48, generator=g)
for dtype, tol in ((torch.float32, 1e-4), (torch.float16, 2e-2), (torch.bfloat16, 1e-1)):
    want = (a.to(dtype).float() @ b.to(dtype).float())
    got = torch.mm(a.to(dtype).cuda(), b.to(dtype).cuda()).cpu().float()  # conversions on the CPU: no kernels
    err = (got - want).abs().max().item()
    check(f"torch.mm {dtype}", err <= tol * (1 + want.abs().max().item()), f"max error {err:.3g}")
lin = torch.nn.Linear(64, 32)
x = torch.randn(40, 64, generator=g)
with torch.no_grad():
    want = lin(x)
    got = lin.cuda()(x.cuda()).cpu()
err = (got - want).abs().max().item()
check("nn.Linear with bias (cuBLASLt)", err <= 1e-4, f"max error {err:.3g}")
bm_a, bm_b = torch.randn(3, 8, 5, generator=g), torch.randn(3, 5, 7, generator=g)
err = (torch.bmm(bm_a.cuda(), bm_b.cuda()).cpu() - torch.bmm(bm_a, bm_b)).abs().max().item()
check("torch.bmm", err <= 1e-4, f"max error {err:.3g}")

# cuStreamWriteValue32 (PyTorch's DriverAPI requires it): a stream-ordered store.
cu = ctypes.CDLL("libcuda.so.1")
words = torch.tensor([1, 2, 3], dtype=torch.int32).cuda()
stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
r = cu.cuStreamWriteValue32_v2(stream, ctypes.c_uint64(words.data_ptr() + 4), ctypes.c_uint32(0xABCD), 0)
check("cuStreamWriteValue32", r == 0 and words.cpu().tolist() == [1, 0xABCD, 3], f"result {r}, {words.cpu().tolist()}")

conf = os.environ.get("PYTORCH_CUDA_ALLOC_CONF", "")
if "expandable_segments:True" in conf:
    # The allocator maps segments with cuMemCreate/cuMemMap/cuMemSetAccess.
    seg = torch.empty(48 << 20, dtype=torch.uint8, device="cuda")
    seg.copy_(torch.full((48 << 20,), 7, dtype=torch.uint8))
    expandable = [s for s in torch.cuda.memory_snapshot() if s.get("is_expandable")]
    check("expandable segments allocate and hold data",
          bool(expandable) and bool((seg[-4096:].cpu() == 7).all()), f"{len(expandable)} expandable segment(s)")

# An app kernel (elementwise add) cannot run on the CPU backend: refused.
try:
    (torch.ones(4).cuda() + 1).cpu()
    check("app kernel refused", False, "x + 1 ran on a backend that cannot run kernels")
except RuntimeError as e:
    msg = str(e).splitlines()[0]
    check("app kernel refused with a clear error", "not supported" in msg, msg)

print(f"{len(failures)} failure(s)" + (": " + ", ".join(failures) if failures else ""))
sys.exit(1 if failures else 0)
