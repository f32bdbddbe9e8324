// cudaStreamGetCaptureInfo's implementation, shared by CUDA 13's signature
// (stream.cc) and CUDA 12's three old ones (compat12.cc, which cannot see
// the CUDA 13 declaration of the same name).
#pragma once

#include <cuda_runtime_api.h>

cudaError_t vgpu_cudart_capture_info(cudaStream_t s, cudaStreamCaptureStatus* status, unsigned long long* id,
                                     cudaGraph_t* graph, const cudaGraphNode_t** deps, const cudaGraphEdgeData** edges,
                                     size_t* ndeps);
