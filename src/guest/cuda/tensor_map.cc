// Tensor maps (TMA descriptors, Hopper and later): cuBLAS, cuDNN, JAX and
// Triton encode them on the host side of CUDA and pass them to kernels by
// value. The 128-byte format is NVIDIA's, so the host's driver encodes them
// (one round trip, nothing on the GPU); the guest only checks the arguments
// it must read to pack the request.
#include <cstring>

#include "driver.h"

using namespace vgpu;
using namespace vgpu::guest;

namespace {
CUresult encode(TensorMapReq& r, CUtensorMap* out, const cuuint64_t* dims, const cuuint64_t* strides,
                const cuuint32_t* element_strides) {
  VGPU_DRIVER_OR_RETURN(c);
  if (!out || !dims || !element_strides || r.rank < 1 || r.rank > kTensorMapMaxRank || (r.rank > 1 && !strides))
    return CUDA_ERROR_INVALID_VALUE;
  for (uint32_t i = 0; i < r.rank; ++i) {
    r.global_dim[i] = dims[i];
    r.element_strides[i] = element_strides[i];
    if (i + 1 < r.rank) r.global_strides[i] = strides[i];
  }
  TensorMapRep rep{};
  Status s = c->call<Op::TensorMapEncode>(r, &rep);
  if (s == st::kOk) std::memcpy(out, rep.words, sizeof rep.words);
  return to_cu(s);
}

// What both encodings share: the request's kind, element type, rank, address and modes.
TensorMapReq request(uint32_t kind, CUtensorMapDataType type, cuuint32_t rank, void* address,
                     CUtensorMapInterleave interleave, CUtensorMapSwizzle swizzle, CUtensorMapL2promotion l2,
                     CUtensorMapFloatOOBfill oob) {
  TensorMapReq r{};
  r.kind = kind;
  r.data_type = type;
  r.rank = rank;
  r.interleave = interleave;
  r.swizzle = swizzle;
  r.l2_promotion = l2;
  r.oob_fill = oob;
  r.global_address = reinterpret_cast<uintptr_t>(address);
  return r;
}
}  // namespace

CUresult CUDAAPI cuTensorMapEncodeTiled(CUtensorMap* map, CUtensorMapDataType type, cuuint32_t rank, void* address,
                                        const cuuint64_t* dims, const cuuint64_t* strides, const cuuint32_t* box,
                                        const cuuint32_t* element_strides, CUtensorMapInterleave interleave,
                                        CUtensorMapSwizzle swizzle, CUtensorMapL2promotion l2,
                                        CUtensorMapFloatOOBfill oob) {
  // The rank first: it bounds every array read below.
  if (!box || rank < 1 || rank > kTensorMapMaxRank) return CUDA_ERROR_INVALID_VALUE;
  TensorMapReq r = request(kTensorMapTiled, type, rank, address, interleave, swizzle, l2, oob);
  for (uint32_t i = 0; i < rank; ++i) r.box_dim[i] = box[i];
  return encode(r, map, dims, strides, element_strides);
}

CUresult CUDAAPI cuTensorMapEncodeIm2col(CUtensorMap* map, CUtensorMapDataType type, cuuint32_t rank, void* address,
                                         const cuuint64_t* dims, const cuuint64_t* strides, const int* lower,
                                         const int* upper, cuuint32_t channels_per_pixel,
                                         cuuint32_t pixels_per_column, const cuuint32_t* element_strides,
                                         CUtensorMapInterleave interleave, CUtensorMapSwizzle swizzle,
                                         CUtensorMapL2promotion l2, CUtensorMapFloatOOBfill oob) {
  if (!lower || !upper || rank < 3 || rank > kTensorMapMaxRank) return CUDA_ERROR_INVALID_VALUE;
  TensorMapReq r = request(kTensorMapIm2col, type, rank, address, interleave, swizzle, l2, oob);
  r.channels_per_pixel = channels_per_pixel;
  r.pixels_per_column = pixels_per_column;
  for (uint32_t i = 0; i + 2 < rank; ++i) {  // the spatial dimensions
    r.lower_corner[i] = lower[i];
    r.upper_corner[i] = upper[i];
  }
  return encode(r, map, dims, strides, element_strides);
}

// Rewriting the address inside an encoded map needs its format, which only
// NVIDIA's driver knows; the request does not carry a map back to the host.
CUresult CUDAAPI cuTensorMapReplaceAddress(CUtensorMap*, void*) { VGPU_REFUSE("cuTensorMapReplaceAddress"); }
