// libcudart.so.12 only: entry points whose CUDA 12 signatures differ from
// the CUDA 13 declarations of the same names. This file sees the CUDA 13
// header with those names moved aside, so the CUDA 12 forms can be defined.
#if VGPU_CUDART_MAJOR == 12

#define cudaStreamGetCaptureInfo vgpu_cuda13_cudaStreamGetCaptureInfo
#define cudaGraphNodeGetDependencies vgpu_cuda13_cudaGraphNodeGetDependencies
#include <cuda_runtime_api.h>
#undef cudaStreamGetCaptureInfo
#undef cudaGraphNodeGetDependencies

#include "capture.h"
#include "runtime.h"

namespace {
cudaStream_t ptsz(cudaStream_t s) { return s ? s : cudaStreamPerThread; }
}  // namespace

#define VGPU_RT12 extern "C" __attribute__((visibility("default")))

// CUDA 11's form, kept unversioned in CUDA 12.
VGPU_RT12 cudaError_t cudaStreamGetCaptureInfo(cudaStream_t s, enum cudaStreamCaptureStatus* status,
                                               unsigned long long* id) {
  return vgpu_cudart_capture_info(s, status, id, nullptr, nullptr, nullptr, nullptr);
}
VGPU_RT12 cudaError_t cudaStreamGetCaptureInfo_ptsz(cudaStream_t s, enum cudaStreamCaptureStatus* status,
                                                    unsigned long long* id) {
  return vgpu_cudart_capture_info(ptsz(s), status, id, nullptr, nullptr, nullptr, nullptr);
}
// What CUDA 12 headers call cudaStreamGetCaptureInfo.
VGPU_RT12 cudaError_t cudaStreamGetCaptureInfo_v2(cudaStream_t s, enum cudaStreamCaptureStatus* status,
                                                  unsigned long long* id, cudaGraph_t* graph,
                                                  const cudaGraphNode_t** deps, size_t* ndeps) {
  return vgpu_cudart_capture_info(s, status, id, graph, deps, nullptr, ndeps);
}
VGPU_RT12 cudaError_t cudaStreamGetCaptureInfo_v2_ptsz(cudaStream_t s, enum cudaStreamCaptureStatus* status,
                                                       unsigned long long* id, cudaGraph_t* graph,
                                                       const cudaGraphNode_t** deps, size_t* ndeps) {
  return vgpu_cudart_capture_info(ptsz(s), status, id, graph, deps, nullptr, ndeps);
}
// CUDA 12.3+: with edge data (CUDA 13's cudaStreamGetCaptureInfo).
VGPU_RT12 cudaError_t cudaStreamGetCaptureInfo_v3(cudaStream_t s, enum cudaStreamCaptureStatus* status,
                                                  unsigned long long* id, cudaGraph_t* graph,
                                                  const cudaGraphNode_t** deps, const cudaGraphEdgeData** edges,
                                                  size_t* ndeps) {
  return vgpu_cudart_capture_info(s, status, id, graph, deps, edges, ndeps);
}
VGPU_RT12 cudaError_t cudaStreamGetCaptureInfo_v3_ptsz(cudaStream_t s, enum cudaStreamCaptureStatus* status,
                                                       unsigned long long* id, cudaGraph_t* graph,
                                                       const cudaGraphNode_t** deps,
                                                       const cudaGraphEdgeData** edges, size_t* ndeps) {
  return vgpu_cudart_capture_info(ptsz(s), status, id, graph, deps, edges, ndeps);
}

// CUDA 12: without edge data, and _v2 with it (CUDA 13's form). Node handles
// do not cross the wire (see cudaGraphGetNodes): refused, in either form.
VGPU_RT12 cudaError_t cudaGraphNodeGetDependencies(cudaGraphNode_t, cudaGraphNode_t*, size_t*) {
  VGPU_RT_REFUSE("cudaGraphNodeGetDependencies");
}
VGPU_RT12 cudaError_t cudaGraphNodeGetDependencies_v2(cudaGraphNode_t, cudaGraphNode_t*, cudaGraphEdgeData*, size_t*) {
  VGPU_RT_REFUSE("cudaGraphNodeGetDependencies_v2");
}

#endif  // VGPU_CUDART_MAJOR == 12
