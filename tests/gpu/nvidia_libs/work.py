"""One framework's checks, for tests/gpu/nvidia_libs.sh: run natively and
again over our libcuda.so.1 (NVIDIA's runtime and libraries otherwise).
Inputs come from NumPy with fixed seeds, so both runs compute the same thing;
each result is saved for the comparison, each failure recorded, none stops
the others.
    python3 work.py {cupy|torch|jax} OUT.npz
"""
import json
import sys
import traceback

import numpy as np

fw, out = sys.argv[1], sys.argv[2]
results, status = {}, {}
rng = np.random.default_rng(1234)
A = rng.standard_normal((256, 256)).astype(np.float32)
B = rng.standard_normal((256, 256)).astype(np.float32)
V = rng.standard_normal(1 << 16).astype(np.float32)
IMG = rng.standard_normal((4, 3, 32, 32)).astype(np.float32)
W = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)


def save():
    """Writes what is there so far: a run killed by its timeout (a hang) still
    leaves every earlier result, and the check it hung in says so."""
    np.savez(out, **{k: v for k, v in results.items()})
    with open(out + ".json", "w") as f:
        json.dump(status, f)


def check(name):
    def wrap(f):
        status[name] = "error: did not finish (the process hung or crashed in it)"
        save()
        try:
            results[name] = np.asarray(f())
            status[name] = "ok"
        except Exception as e:  # a failed check is a result, not the end of the run
            status[name] = "error: " + (str(e).splitlines() or [type(e).__name__])[0][:160]
            traceback.print_exc()
        save()
        return f
    return wrap


if fw == "cupy":
    import cupy as cp
    import cupyx.scipy.sparse as sp

    @check("cupy elementwise (NVRTC)")
    def _():
        x = cp.asarray(V)
        return cp.asnumpy(cp.sin(x) * 2 + cp.exp(-x * x))

    @check("cupy reduction")
    def _():
        x = cp.asarray(V)
        return np.array([float(x.sum()), float(x.max()), float(cp.abs(x).mean())])

    @check("cupy ElementwiseKernel")
    def _():
        k = cp.ElementwiseKernel("float32 x, float32 y", "float32 z", "z = x * y + 3.0f", "vgpu_fma3")
        x = cp.asarray(V)
        return cp.asnumpy(k(x, x[::-1].copy()))

    @check("cupy RawKernel")
    def _():
        k = cp.RawKernel(r'''extern "C" __global__ void twice(const float* x, float* y, int n) {
            int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) y[i] = 2.0f * x[i] + i; }''', "twice")
        x = cp.asarray(V)
        y = cp.empty_like(x)
        k(((x.size + 255) // 256,), (256,), (x, y, cp.int32(x.size)))
        return cp.asnumpy(y)

    @check("cupy matmul (cuBLAS)")
    def _():
        return cp.asnumpy(cp.asarray(A) @ cp.asarray(B))

    @check("cupy fft (cuFFT)")
    def _():
        return cp.asnumpy(cp.fft.fft(cp.asarray(V[:4096]) + 1j * cp.asarray(V[4096:8192])))

    @check("cupy random (cuRAND)")
    def _():
        g = cp.random.RandomState(seed=7)
        return cp.asnumpy(g.standard_normal(4096, dtype=cp.float32))

    @check("cupy linalg.solve (cuSOLVER)")
    def _():
        a = cp.asarray(A) + 256 * cp.eye(256, dtype=cp.float32)
        return cp.asnumpy(cp.linalg.solve(a, cp.asarray(B[:, :4])))

    @check("cupy sparse matvec (cuSPARSE)")
    def _():
        d = np.where(np.abs(A) > 1.5, A, 0).astype(np.float32)
        m = sp.csr_matrix(cp.asarray(d))
        return cp.asnumpy(m @ cp.asarray(B[:, 0]))

    @check("cupy host functions (cuLaunchHostFunc)")
    def _():
        # Run in stream order on a thread of the driver's (ours: the guest's
        # runner): the function sees what the copy before it brought back.
        import cupyx
        s = cp.cuda.Stream(non_blocking=True)
        pinned = cupyx.empty_pinned((4096,), np.float32)
        got = []
        with s:
            y = cp.asarray(V[:4096]) * 2
            y.get(out=pinned, stream=s, blocking=False)
            s.launch_host_func(lambda _: got.append(pinned.copy()), None)
            s.add_callback(lambda st, err, _: got.append(np.full(4096, float(err), np.float32)), None)
        s.synchronize()
        return np.stack(got)

    @check("cupy NCCL one rank (libnccl.so.2)")
    def _():
        # NVIDIA's libnccl.so.2 over the driver: a communicator of one rank.
        # With one rank every collective is a copy, so the values are known.
        from cupy.cuda import nccl
        if not nccl.available:
            raise RuntimeError("cupy.cuda.nccl: libnccl.so.2 not loadable")
        comm = nccl.NcclCommunicator(1, nccl.get_unique_id(), 0)
        s = cp.cuda.Stream()
        x = cp.asarray(V[:4096])
        red, bc, gat = cp.empty_like(x), x.copy(), cp.empty_like(x)
        comm.allReduce(x.data.ptr, red.data.ptr, x.size, nccl.NCCL_FLOAT32, nccl.NCCL_SUM, s.ptr)
        comm.bcast(bc.data.ptr, bc.size, nccl.NCCL_FLOAT32, 0, s.ptr)
        comm.allGather(x.data.ptr, gat.data.ptr, x.size, nccl.NCCL_FLOAT32, s.ptr)
        s.synchronize()
        out = np.stack([cp.asnumpy(red), cp.asnumpy(bc), cp.asnumpy(gat)])
        comm.destroy()
        if not (out == V[:4096]).all():
            raise RuntimeError("NCCL one-rank collectives gave wrong values")
        return out

    cp.cuda.Device().synchronize()

elif fw == "torch":
    import torch
    import torch.nn.functional as F

    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = "cuda"

    @check("torch available")
    def _():
        return np.array([torch.cuda.is_available(), torch.cuda.device_count()])

    @check("torch matmul (cuBLAS)")
    def _():
        return (torch.from_numpy(A).to(dev) @ torch.from_numpy(B).to(dev)).cpu().numpy()

    @check("torch conv2d (cuDNN)")
    def _():
        return F.conv2d(torch.from_numpy(IMG).to(dev), torch.from_numpy(W).to(dev), padding=1).cpu().numpy()

    @check("torch batch_norm (cuDNN)")
    def _():
        x = torch.from_numpy(IMG).to(dev)
        return F.batch_norm(x, None, None, training=True).cpu().numpy()

    @check("torch fft (cuFFT)")
    def _():
        return torch.fft.rfft(torch.from_numpy(V).to(dev)).abs().cpu().numpy()

    @check("torch linalg.solve")
    def _():
        a = torch.from_numpy(A).to(dev) + 256 * torch.eye(256, device=dev)
        return torch.linalg.solve(a, torch.from_numpy(B[:, :4]).to(dev)).cpu().numpy()

    @check("torch.distributed nccl one rank")
    def _():
        # ProcessGroupNCCL over NVIDIA's libnccl.so.2, world size 1: all-reduce,
        # broadcast and all-gather of one rank return the input.
        import os
        import tempfile
        import torch.distributed as dist
        store = dist.FileStore(os.path.join(tempfile.mkdtemp(), "store"), 1)
        dist.init_process_group("nccl", store=store, rank=0, world_size=1, device_id=torch.device(dev, 0))
        try:
            x = torch.from_numpy(V[:4096]).to(dev)
            red, bc = x.clone(), x.clone()
            dist.all_reduce(red)
            dist.broadcast(bc, 0)
            gat = torch.empty_like(x)
            dist.all_gather_into_tensor(gat, x)
            torch.cuda.synchronize()
            out = torch.stack([red, bc, gat]).cpu().numpy()
        finally:
            dist.destroy_process_group()
        if not (out == V[:4096]).all():
            raise RuntimeError("NCCL one-rank collectives gave wrong values")
        return out

    torch.cuda.synchronize()

elif fw == "jax":
    import jax
    import jax.numpy as jnp

    @check("jax devices")
    def _():
        return np.array([d.platform == "gpu" for d in jax.devices()])

    @check("jax matmul")
    def _():
        # Full float32 precision: at JAX's default (TF32 on this GPU) the GEMM
        # algorithm XLA's autotuner picks by timing (different from run to
        # run, native too) changes the rounding: measured 0.006 apart once.
        return np.asarray(jnp.matmul(jnp.asarray(A), jnp.asarray(B), precision="highest"))

    @check("jax jit")
    def _():
        f = jax.jit(lambda x: jnp.tanh(x) * 3 + x.sum())
        return np.asarray(f(jnp.asarray(V)))

    @check("jax conv")
    def _():
        return np.asarray(jax.lax.conv(jnp.asarray(IMG), jnp.asarray(W), (1, 1), "SAME"))

save()
