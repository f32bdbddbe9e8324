// cublasSetVector / GetVector / SetMatrix / GetMatrix (+Async): copies
// between host memory and device memory, done with our libcuda's copies
// (which move pinned arena memory by DMA and stage pageable memory).
//
// Both kinds are "count blocks of `width` bytes, each `stride` bytes apart on
// either side": a vector is n blocks of elemSize bytes, a matrix is cols
// blocks of rows * elemSize bytes. Where both sides are contiguous this is one
// copy; where only the device side is, the host side is packed (or, reading,
// unpacked) through a buffer so it is still one copy; otherwise it is a 2-D
// copy. The synchronous forms use the legacy default stream, as NVIDIA's do.
#include <algorithm>
#include <cstring>
#include <vector>

#include "blas.h"

namespace {

cublasStatus_t ok_or_mapping(CUresult r) { return r == CUDA_SUCCESS ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_MAPPING_ERROR; }

cublasStatus_t transfer(bool htod, size_t width, size_t count, const void* src, size_t sstride, void* dst,
                        size_t dstride, cudaStream_t stream, bool async) {
  if (width == 0 || count == 0) return CUBLAS_STATUS_SUCCESS;
  if (cuInit(0) != CUDA_SUCCESS) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (src == nullptr || dst == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  auto cs = reinterpret_cast<CUstream>(stream);
  const bool src_contig = count == 1 || sstride == width;
  const bool dst_contig = count == 1 || dstride == width;
  const size_t total = width * count;
  auto dptr = [](const void* p) { return reinterpret_cast<CUdeviceptr>(p); };

  if (htod && dst_contig) {
    const void* from = src;
    std::vector<char> packed;
    if (!src_contig) {
      packed.resize(total);
      for (size_t i = 0; i < count; ++i)
        std::memcpy(packed.data() + i * width, static_cast<const char*>(src) + i * sstride, width);
      from = packed.data();
    }
    // An async copy from pageable memory is staged before it returns, so the
    // packed buffer may go when this function does.
    return ok_or_mapping(async ? cuMemcpyHtoDAsync_v2(dptr(dst), from, total, cs)
                               : cuMemcpyHtoD_v2(dptr(dst), from, total));
  }
  if (!htod && src_contig && (dst_contig || !async)) {
    if (dst_contig)
      return ok_or_mapping(async ? cuMemcpyDtoHAsync_v2(dst, dptr(src), total, cs)
                                 : cuMemcpyDtoH_v2(dst, dptr(src), total));
    std::vector<char> packed(total);
    if (CUresult r = cuMemcpyDtoH_v2(packed.data(), dptr(src), total)) return ok_or_mapping(r);
    for (size_t i = 0; i < count; ++i)
      std::memcpy(static_cast<char*>(dst) + i * dstride, packed.data() + i * width, width);
    return CUBLAS_STATUS_SUCCESS;
  }
  CUDA_MEMCPY2D p{};
  if (htod) {
    p.srcMemoryType = CU_MEMORYTYPE_HOST;
    p.srcHost = src;
    p.dstMemoryType = CU_MEMORYTYPE_DEVICE;
    p.dstDevice = dptr(dst);
  } else {
    p.srcMemoryType = CU_MEMORYTYPE_DEVICE;
    p.srcDevice = dptr(src);
    p.dstMemoryType = CU_MEMORYTYPE_HOST;
    p.dstHost = dst;
  }
  p.srcPitch = sstride;
  p.dstPitch = dstride;
  p.WidthInBytes = width;
  p.Height = count;
  return ok_or_mapping(async ? cuMemcpy2DAsync_v2(&p, cs) : cuMemcpy2D_v2(&p));
}

cublasStatus_t vector(bool htod, int n, int elem, const void* x, int incx, void* y, int incy, cudaStream_t s,
                      bool async) {
  if (n < 0 || elem <= 0 || incx <= 0 || incy <= 0) return CUBLAS_STATUS_INVALID_VALUE;
  const size_t e = static_cast<size_t>(elem);
  return transfer(htod, e, static_cast<size_t>(n), x, e * static_cast<size_t>(incx), y,
                  e * static_cast<size_t>(incy), s, async);
}

cublasStatus_t matrix(bool htod, int rows, int cols, int elem, const void* a, int lda, void* b, int ldb,
                      cudaStream_t s, bool async) {
  if (rows < 0 || cols < 0 || elem <= 0 || lda < std::max(1, rows) || ldb < std::max(1, rows))
    return CUBLAS_STATUS_INVALID_VALUE;
  const size_t e = static_cast<size_t>(elem);
  return transfer(htod, e * static_cast<size_t>(rows), static_cast<size_t>(cols), a, e * static_cast<size_t>(lda), b,
                  e * static_cast<size_t>(ldb), s, async);
}

}  // namespace

extern "C" {

cublasStatus_t CUBLASWINAPI cublasSetVector(int n, int elemSize, const void* x, int incx, void* devicePtr, int incy) {
  return vector(true, n, elemSize, x, incx, devicePtr, incy, nullptr, false);
}
cublasStatus_t CUBLASWINAPI cublasGetVector(int n, int elemSize, const void* x, int incx, void* y, int incy) {
  return vector(false, n, elemSize, x, incx, y, incy, nullptr, false);
}
cublasStatus_t CUBLASWINAPI cublasSetVectorAsync(int n, int elemSize, const void* hostPtr, int incx, void* devicePtr,
                                                 int incy, cudaStream_t stream) {
  return vector(true, n, elemSize, hostPtr, incx, devicePtr, incy, stream, true);
}
cublasStatus_t CUBLASWINAPI cublasGetVectorAsync(int n, int elemSize, const void* devicePtr, int incx, void* hostPtr,
                                                 int incy, cudaStream_t stream) {
  return vector(false, n, elemSize, devicePtr, incx, hostPtr, incy, stream, true);
}
cublasStatus_t CUBLASWINAPI cublasSetMatrix(int rows, int cols, int elemSize, const void* A, int lda, void* B, int ldb) {
  return matrix(true, rows, cols, elemSize, A, lda, B, ldb, nullptr, false);
}
cublasStatus_t CUBLASWINAPI cublasGetMatrix(int rows, int cols, int elemSize, const void* A, int lda, void* B, int ldb) {
  return matrix(false, rows, cols, elemSize, A, lda, B, ldb, nullptr, false);
}
cublasStatus_t CUBLASWINAPI cublasSetMatrixAsync(int rows, int cols, int elemSize, const void* A, int lda, void* B,
                                                 int ldb, cudaStream_t stream) {
  return matrix(true, rows, cols, elemSize, A, lda, B, ldb, stream, true);
}
cublasStatus_t CUBLASWINAPI cublasGetMatrixAsync(int rows, int cols, int elemSize, const void* A, int lda, void* B,
                                                 int ldb, cudaStream_t stream) {
  return matrix(false, rows, cols, elemSize, A, lda, B, ldb, stream, true);
}

}  // extern "C"
