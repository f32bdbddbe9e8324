// Streams, events and a CUDA graph captured from a stream, launched many
// times (what llama.cpp does for every token), plus pinned host memory.
#include <cstdio>
#include <cstdlib>

#define CHECK(call)                                                                   \
  do {                                                                                \
    cudaError_t e_ = (call);                                                          \
    if (e_ != cudaSuccess) {                                                          \
      std::fprintf(stderr, "%s failed: %s\n", #call, cudaGetErrorString(e_));         \
      std::exit(1);                                                                   \
    }                                                                                 \
  } while (0)

__global__ void scale(float* x, float s, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] = x[i] * s + 1.0f;
}

__global__ void reduce(const float* x, float* out, int n) {
  __shared__ float part[256];
  float acc = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) acc += x[i];
  part[threadIdx.x] = acc;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) *out = part[0];
}

int main() {
  const int n = 1 << 16;
  float* host;
  CHECK(cudaMallocHost(&host, n * sizeof(float)));  // pinned
  for (int i = 0; i < n; ++i) host[i] = float(i % 10) * 0.1f;
  float *dx, *dsum;
  CHECK(cudaMalloc(&dx, n * sizeof(float)));
  CHECK(cudaMalloc(&dsum, sizeof(float)));
  cudaStream_t s1, s2;
  CHECK(cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking));
  CHECK(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
  cudaEvent_t copied, done;
  CHECK(cudaEventCreateWithFlags(&copied, cudaEventDisableTiming));
  CHECK(cudaEventCreate(&done));
  CHECK(cudaMemcpyAsync(dx, host, n * sizeof(float), cudaMemcpyHostToDevice, s1));
  CHECK(cudaEventRecord(copied, s1));
  CHECK(cudaStreamWaitEvent(s2, copied, 0));  // s2 works on what s1 copied

  // Capture scale + reduce into a graph on s2, then launch it 100 times.
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CHECK(cudaStreamBeginCapture(s2, cudaStreamCaptureModeRelaxed));
  cudaStreamCaptureStatus cs;
  CHECK(cudaStreamIsCapturing(s2, &cs));
  scale<<<(n + 255) / 256, 256, 0, s2>>>(dx, 0.5f, n);
  reduce<<<1, 256, 0, s2>>>(dx, dsum, n);
  CHECK(cudaStreamEndCapture(s2, &graph));
  CHECK(cudaGraphInstantiate(&exec, graph, 0));
  for (int i = 0; i < 100; ++i) CHECK(cudaGraphLaunch(exec, s2));
  CHECK(cudaEventRecord(done, s2));
  float sum = 0;
  CHECK(cudaMemcpyAsync(&sum, dsum, sizeof sum, cudaMemcpyDeviceToHost, s2));
  CHECK(cudaStreamSynchronize(s2));
  CHECK(cudaMemcpy(host, dx, n * sizeof(float), cudaMemcpyDeviceToHost));
  std::printf("streams_graph: capturing=%d sum=%.4f x[0]=%.6f x[9]=%.6f\n", cs == cudaStreamCaptureStatusActive, sum,
              host[0], host[9]);

  // Update the graph's kernel parameters by re-capturing, as ggml does.
  cudaGraph_t graph2;
  CHECK(cudaStreamBeginCapture(s2, cudaStreamCaptureModeRelaxed));
  scale<<<(n + 255) / 256, 256, 0, s2>>>(dx, 0.25f, n);
  reduce<<<1, 256, 0, s2>>>(dx, dsum, n);
  CHECK(cudaStreamEndCapture(s2, &graph2));
  cudaGraphExecUpdateResultInfo info;
  CHECK(cudaGraphExecUpdate(exec, graph2, &info));
  CHECK(cudaGraphLaunch(exec, s2));
  CHECK(cudaMemcpyAsync(&sum, dsum, sizeof sum, cudaMemcpyDeviceToHost, s2));
  CHECK(cudaStreamSynchronize(s2));
  std::printf("streams_graph: after update sum=%.4f\n", sum);

  CHECK(cudaGraphExecDestroy(exec));
  CHECK(cudaGraphDestroy(graph));
  CHECK(cudaGraphDestroy(graph2));
  CHECK(cudaEventDestroy(copied));
  CHECK(cudaEventDestroy(done));
  CHECK(cudaStreamDestroy(s1));
  CHECK(cudaStreamDestroy(s2));
  CHECK(cudaFree(dx));
  CHECK(cudaFree(dsum));
  CHECK(cudaFreeHost(host));
  return 0;
}
