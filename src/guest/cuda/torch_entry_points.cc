// Driver entry points that PyTorch's c10::cuda::DriverAPI resolves through
// cudaGetDriverEntryPointByVersion at its first use (expandable segments,
// CUDA IPC, symmetric memory): a required one that is missing fails that
// lookup for all of them. Stream memory writes are forwarded; sharing VMM
// allocations with other processes and green contexts are refused (their
// handles are host objects no other guest process can reach, and the host
// context is shared by every context of the guest).
#include "driver.h"

using namespace vgpu;
using namespace vgpu::guest;

namespace {
CUresult write_value(CUstream s, CUdeviceptr addr, uint64_t value, uint32_t bytes, unsigned int flags) {
  VGPU_DRIVER_OR_RETURN(c);
  if (flags & ~static_cast<unsigned int>(CU_STREAM_WRITE_VALUE_NO_MEMORY_BARRIER)) return CUDA_ERROR_INVALID_VALUE;
  return to_cu(c->post<Op::StreamWriteValue>(StreamWriteValueReq{stream_id(s), addr, value, bytes, flags}));
}
}  // namespace

// ---- stream memory operations (posted: they are stream work) ---------------------------
CUresult CUDAAPI cuStreamWriteValue32_v2(CUstream s, CUdeviceptr addr, cuuint32_t value, unsigned int flags) {
  return write_value(s, addr, value, 4, flags);
}
CUresult CUDAAPI cuStreamWriteValue32(CUstream s, CUdeviceptr addr, cuuint32_t value, unsigned int flags) {
  return write_value(s, addr, value, 4, flags);
}
CUresult CUDAAPI cuStreamWriteValue32_ptsz(CUstream s, CUdeviceptr addr, cuuint32_t value, unsigned int flags) {
  return write_value(s ? s : CU_STREAM_PER_THREAD, addr, value, 4, flags);
}
CUresult CUDAAPI cuStreamWriteValue64_v2(CUstream s, CUdeviceptr addr, cuuint64_t value, unsigned int flags) {
  return write_value(s, addr, value, 8, flags);
}
CUresult CUDAAPI cuStreamWriteValue64(CUstream s, CUdeviceptr addr, cuuint64_t value, unsigned int flags) {
  return write_value(s, addr, value, 8, flags);
}

// Waits: the stream's later work holds until the word meets the condition.
namespace {
CUresult wait_value(CUstream s, CUdeviceptr addr, uint64_t value, uint32_t bytes, unsigned int flags) {
  VGPU_DRIVER_OR_RETURN(c);
  // The low two bits pick the condition (GEQ, EQ, AND, NOR); FLUSH may be added.
  if ((flags & ~(3u | CU_STREAM_WAIT_VALUE_FLUSH)) != 0) return CUDA_ERROR_INVALID_VALUE;
  return to_cu(c->post<Op::StreamWaitValue>(StreamWaitValueReq{stream_id(s), addr, value, bytes, flags}));
}
}  // namespace
CUresult CUDAAPI cuStreamWaitValue32_v2(CUstream s, CUdeviceptr addr, cuuint32_t value, unsigned int flags) {
  return wait_value(s, addr, value, 4, flags);
}
CUresult CUDAAPI cuStreamWaitValue32(CUstream s, CUdeviceptr addr, cuuint32_t value, unsigned int flags) {
  return wait_value(s, addr, value, 4, flags);
}
CUresult CUDAAPI cuStreamWaitValue32_ptsz(CUstream s, CUdeviceptr addr, cuuint32_t value, unsigned int flags) {
  return wait_value(s ? s : CU_STREAM_PER_THREAD, addr, value, 4, flags);
}
CUresult CUDAAPI cuStreamWaitValue64_v2(CUstream s, CUdeviceptr addr, cuuint64_t value, unsigned int flags) {
  return wait_value(s, addr, value, 8, flags);
}
CUresult CUDAAPI cuStreamWaitValue64(CUstream s, CUdeviceptr addr, cuuint64_t value, unsigned int flags) {
  return wait_value(s, addr, value, 8, flags);
}
// A batch of the above (and flushes) in one call: not forwarded as a batch.
CUresult CUDAAPI cuStreamBatchMemOp(CUstream, unsigned int, CUstreamBatchMemOpParams*, unsigned int) {
  VGPU_REFUSE("cuStreamBatchMemOp");
}
CUresult CUDAAPI cuStreamBatchMemOp_v2(CUstream, unsigned int, CUstreamBatchMemOpParams*, unsigned int) {
  VGPU_REFUSE("cuStreamBatchMemOp");
}

// ---- VMM sharing between processes ---------------------------------------------------------
CUresult CUDAAPI cuMemExportToShareableHandle(void*, CUmemGenericAllocationHandle, CUmemAllocationHandleType,
                                              unsigned long long) {
  VGPU_REFUSE("cuMemExportToShareableHandle");
}
CUresult CUDAAPI cuMemImportFromShareableHandle(CUmemGenericAllocationHandle*, void*, CUmemAllocationHandleType) {
  VGPU_REFUSE("cuMemImportFromShareableHandle");
}
CUresult CUDAAPI cuMemRetainAllocationHandle(CUmemGenericAllocationHandle*, void*) {
  VGPU_REFUSE("cuMemRetainAllocationHandle");
}
CUresult CUDAAPI cuMemGetAllocationPropertiesFromHandle(CUmemAllocationProp*, CUmemGenericAllocationHandle) {
  VGPU_REFUSE("cuMemGetAllocationPropertiesFromHandle");
}

// ---- green contexts (SM partitions) ---------------------------------------------------------
CUresult CUDAAPI cuDeviceGetDevResource(CUdevice, CUdevResource*, CUdevResourceType) {
  VGPU_REFUSE("cuDeviceGetDevResource");
}
CUresult CUDAAPI cuDevSmResourceSplitByCount(CUdevResource*, unsigned int*, const CUdevResource*, CUdevResource*,
                                             unsigned int, unsigned int) {
  VGPU_REFUSE("cuDevSmResourceSplitByCount");
}
CUresult CUDAAPI cuDevResourceGenerateDesc(CUdevResourceDesc*, CUdevResource*, unsigned int) {
  VGPU_REFUSE("cuDevResourceGenerateDesc");
}
CUresult CUDAAPI cuGreenCtxCreate(CUgreenCtx*, CUdevResourceDesc, CUdevice, unsigned int) {
  VGPU_REFUSE("cuGreenCtxCreate");
}
CUresult CUDAAPI cuGreenCtxDestroy(CUgreenCtx) { VGPU_REFUSE("cuGreenCtxDestroy"); }
CUresult CUDAAPI cuCtxFromGreenCtx(CUcontext*, CUgreenCtx) { VGPU_REFUSE("cuCtxFromGreenCtx"); }
CUresult CUDAAPI cuGreenCtxStreamCreate(CUstream*, CUgreenCtx, unsigned int, int) {
  VGPU_REFUSE("cuGreenCtxStreamCreate");
}
