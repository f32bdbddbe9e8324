// Our cuGetExportTable, called the way NVIDIA's runtime calls it: tables by
// UUID, sizes in slot 0, each served slot doing its job, unknown slots and
// UUIDs refused. NVIDIA's runtime over these tables: nvidia_cudart_test.cc.
#include <gtest/gtest.h>

#define __CUDA_API_VERSION_INTERNAL 1
#include <cuda.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "hostd_env.h"

namespace vgpu::guest::exports {
void md2_for_test(const void* data, size_t n, uint8_t out[16]);  // export_tables_integrity.cc
}

namespace {

static auto* const g_env = ::testing::AddGlobalTestEnvironment(new vgpu::test::HostdEnvironment("exports"));

CUuuid id(const char* hex32) {
  CUuuid u{};
  for (int i = 0; i < 16; ++i) u.bytes[i] = static_cast<char>(std::stoi(std::string(hex32 + 2 * i, 2), nullptr, 16));
  return u;
}
const CUuuid kRuntime = id("6BD5FB6C5BF4E74A8987D93912FD9DF9");
const CUuuid kToolsTls = id("42D85A8123F6CB478298F6E78A3AECDC");
const CUuuid kCallbacks = id("A094798C2E742E7493F20800200C0A66");
const CUuuid kStorage = id("C693336E1121DF11A8C368F355D89593");
const CUuuid kBypass = id("0CA50B8C1004929A89A7D0DF10E77286");
const CUuuid kHeap = id("195BCBF4D67D024AACC51D29CEA631AE");
const CUuuid kDeviceExt = id("B10541E1F7C7C74A9F64F223BE99F1E2");
const CUuuid kIntegrity = id("D4082055BDE6704B8D34BA123C66E1F2");
const CUuuid kChecks = id("263E88607CD2614392F6BBD5006DFA7E");
const CUuuid kToolsContext = id("21318C60971432488CA641FF7324C8F2");
const CUuuid kToolsModule = id("6E163FBEB958444D835CE182AFF1991E");

const void* const* table(const CUuuid& u) {
  const void* t = nullptr;
  EXPECT_EQ(cuGetExportTable(&t, &u), CUDA_SUCCESS);
  return static_cast<const void* const*>(t);
}
template <typename F>
F slot(const CUuuid& u, int i) {
  return reinterpret_cast<F>(const_cast<void*>(table(u)[i]));
}

class ExportTables : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
    ASSERT_EQ(cuDevicePrimaryCtxRetain(&primary_, 0), CUDA_SUCCESS);
    ASSERT_EQ(cuCtxSetCurrent(primary_), CUDA_SUCCESS);
  }
  CUcontext primary_ = nullptr;
};

TEST_F(ExportTables, UnknownUuidsAndBadArgumentsAreInvalidValue) {
  const void* t = reinterpret_cast<const void*>(1);
  const CUuuid unknown = id("F8CFF95121468B4EB9E2FB469E7C0DD9");  // asked for by CUDA 12/13's runtime
  EXPECT_EQ(cuGetExportTable(&t, &unknown), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(t, nullptr);
  EXPECT_EQ(cuGetExportTable(nullptr, &kRuntime), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(cuGetExportTable(&t, nullptr), CUDA_ERROR_INVALID_VALUE);
}

TEST_F(ExportTables, SlotZeroHoldsTheTableSize) {
  const std::pair<const CUuuid*, size_t> sized[] = {{&kRuntime, 13}, {&kToolsTls, 4}, {&kCallbacks, 7}, {&kBypass, 2},
                                                    {&kHeap, 3},     {&kDeviceExt, 26}, {&kIntegrity, 3}, {&kChecks, 4},
                                                    {&kToolsContext, 95}, {&kToolsModule, 8}};
  for (auto [u, n] : sized) EXPECT_EQ(reinterpret_cast<uintptr_t>(table(*u)[0]), n * sizeof(void*));
  // Context-local storage has no size: slot 0 is its first function.
  EXPECT_NE(reinterpret_cast<uintptr_t>(table(kStorage)[0]), 4 * sizeof(void*));
}

TEST_F(ExportTables, UnknownSlotsRefuse) {
  EXPECT_EQ(slot<CUresult (*)()>(kRuntime, 3)(), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(slot<CUresult (*)()>(kHeap, 1)(), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(slot<CUresult (*)()>(kDeviceExt, 5)(), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(slot<CUresult (*)()>(kStorage, 3)(), CUDA_ERROR_NOT_SUPPORTED);
  // TOOLS_TLS slots 1 and 3 hold data for tools, not functions: empty.
  EXPECT_EQ(table(kToolsTls)[1], nullptr);
  EXPECT_EQ(table(kToolsTls)[3], nullptr);
}

// TOOLS_CONTEXT slot 4, as cuBLASLt calls it to key its heuristics cache: the
// context's unique id (cuCtxGetId's), a null context meaning the current one.
TEST_F(ExportTables, ToolsContextNumbersContexts) {
  auto number = slot<CUresult (*)(CUcontext, unsigned long long*)>(kToolsContext, 4);
  unsigned long long a = 0, b = 0, want = 0;
  ASSERT_EQ(cuCtxGetId(primary_, &want), CUDA_SUCCESS);
  EXPECT_EQ(number(primary_, &a), CUDA_SUCCESS);
  EXPECT_EQ(number(nullptr, &b), CUDA_SUCCESS);  // the current context: the primary
  EXPECT_EQ(a, want);
  EXPECT_EQ(b, want);
  CUcontext other = nullptr;
  ASSERT_EQ(cuCtxCreate_v2(&other, 0, 0), CUDA_SUCCESS);
  unsigned long long c = 0;
  EXPECT_EQ(number(other, &c), CUDA_SUCCESS);
  EXPECT_NE(c, a);
  ASSERT_EQ(cuCtxDestroy(other), CUDA_SUCCESS);
  ASSERT_EQ(cuCtxSetCurrent(primary_), CUDA_SUCCESS);
  EXPECT_EQ(number(primary_, nullptr), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(slot<CUresult (*)()>(kToolsContext, 3)(), CUDA_ERROR_NOT_SUPPORTED);
}

// TOOLS_CONTEXT slots 51 and 39, as cuBLAS's own workspace pool keys its
// entries: a stream resolved in a context (0: the per-thread stream where
// asked, else the legacy one), then its unique number, cuStreamGetId's.
TEST_F(ExportTables, ToolsContextResolvesAndNumbersStreams) {
  auto resolve = slot<CUresult (*)(CUcontext, CUstream, CUstream*, int)>(kToolsContext, 51);
  auto number = slot<CUresult (*)(CUcontext, CUstream, unsigned long long*)>(kToolsContext, 39);
  CUstream s = nullptr, out = nullptr;
  ASSERT_EQ(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
  EXPECT_EQ(resolve(nullptr, s, &out, 0), CUDA_SUCCESS);
  EXPECT_EQ(out, s);
  EXPECT_EQ(resolve(primary_, nullptr, &out, 0), CUDA_SUCCESS);
  EXPECT_EQ(out, CU_STREAM_LEGACY);
  EXPECT_EQ(resolve(primary_, nullptr, &out, 1), CUDA_SUCCESS);
  EXPECT_EQ(out, CU_STREAM_PER_THREAD);
  EXPECT_EQ(resolve(primary_, CU_STREAM_PER_THREAD, &out, 0), CUDA_SUCCESS);
  EXPECT_EQ(out, CU_STREAM_PER_THREAD);
  EXPECT_EQ(resolve(primary_, s, nullptr, 0), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(resolve(primary_, reinterpret_cast<CUstream>(0x12345670), &out, 0), CUDA_ERROR_INVALID_HANDLE);

  unsigned long long a = 0, a2 = 0, want = 0, legacy = 0, pt = 0;
  ASSERT_EQ(cuStreamGetId(s, &want), CUDA_SUCCESS);
  EXPECT_EQ(number(nullptr, s, &a), CUDA_SUCCESS);
  EXPECT_EQ(number(primary_, s, &a2), CUDA_SUCCESS);
  EXPECT_EQ(a, want);
  EXPECT_EQ(a2, want);
  EXPECT_EQ(number(primary_, CU_STREAM_LEGACY, &legacy), CUDA_SUCCESS);
  EXPECT_EQ(number(primary_, CU_STREAM_PER_THREAD, &pt), CUDA_SUCCESS);
  EXPECT_NE(legacy, a);
  EXPECT_NE(pt, a);
  EXPECT_NE(pt, legacy);
  EXPECT_EQ(number(primary_, s, nullptr), CUDA_ERROR_INVALID_VALUE);
  ASSERT_EQ(cuStreamDestroy(s), CUDA_SUCCESS);
}

// TOOLS_TLS slot 2, as cuBLASLt's matmul heuristics call it: the calling
// thread's current context.
// TOOLS_MODULE slot 7, as cuFFT calls it for a module it just loaded (one
// kernel, whose name it does not keep): (context, module, visitor, user),
// the visitor called with each kernel, 1 returned when all were visited.
// The handles are cuModuleEnumerateFunctions', usable as any CUfunction.
std::vector<CUfunction> g_visited;
void visit(void* user, CUfunction f) {
  EXPECT_EQ(user, &g_visited);
  g_visited.push_back(f);
}
void store(void* user, CUfunction f) { *static_cast<CUfunction*>(user) = f; }  // cuFFT's visitor

TEST_F(ExportTables, ToolsModuleVisitsAModulesKernels) {
  using Visit = int (*)(CUcontext, CUmodule, void (*)(void*, CUfunction), void*);
  auto walk = slot<Visit>(kToolsModule, 7);
  static const char ptx[] =
      ".version 8.0\n.target sm_90\n.address_size 64\n.visible .entry vgpu_walk_a()\n{\n ret;\n}\n"
      ".visible .entry vgpu_walk_b()\n{\n ret;\n}\n";
  CUmodule m = nullptr;
  ASSERT_EQ(cuModuleLoadData(&m, ptx), CUDA_SUCCESS);
  g_visited.clear();
  EXPECT_EQ(walk(primary_, m, &visit, &g_visited), 1);
  CUfunction listed[2] = {};
  ASSERT_EQ(cuModuleEnumerateFunctions(listed, 2, m), CUDA_SUCCESS);
  ASSERT_EQ(g_visited.size(), 2u);
  EXPECT_EQ(g_visited[0], listed[0]);
  EXPECT_EQ(g_visited[1], listed[1]);
  std::vector<std::string> names;
  for (CUfunction f : g_visited) {
    const char* n = nullptr;
    ASSERT_EQ(cuFuncGetName(&n, f), CUDA_SUCCESS);
    names.emplace_back(n);
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"vgpu_walk_a", "vgpu_walk_b"}));

  // cuFFT's own use: a one-kernel module, the current context, a visitor
  // that keeps the handle.
  static const char one[] = ".version 8.0\n.target sm_90\n.address_size 64\n.visible .entry vgpu_walk_one()\n{\n ret;\n}\n";
  CUmodule m1 = nullptr;
  ASSERT_EQ(cuModuleLoadData(&m1, one), CUDA_SUCCESS);
  CUcontext cur = nullptr;
  ASSERT_EQ(cuCtxGetCurrent(&cur), CUDA_SUCCESS);
  CUfunction f = nullptr;
  EXPECT_EQ(walk(cur, m1, &store, &f), 1);
  const char* n = nullptr;
  ASSERT_EQ(cuFuncGetName(&n, f), CUDA_SUCCESS);
  EXPECT_STREQ(n, "vgpu_walk_one");
  f = nullptr;
  EXPECT_EQ(walk(nullptr, m1, &store, &f), 1);  // a null context: the current one
  EXPECT_NE(f, nullptr);

  // Failures answer 0 (cuFFT takes anything but 1 as one), visiting nothing.
  g_visited.clear();
  EXPECT_EQ(walk(primary_, nullptr, &visit, &g_visited), 0);
  EXPECT_EQ(walk(primary_, m, nullptr, &g_visited), 0);
  EXPECT_TRUE(g_visited.empty());
  // The other slots' meanings are not public: refused.
  for (int i = 1; i < 7; ++i) EXPECT_EQ(slot<CUresult (*)()>(kToolsModule, i)(), CUDA_ERROR_NOT_SUPPORTED) << i;
  ASSERT_EQ(cuModuleUnload(m), CUDA_SUCCESS);
  ASSERT_EQ(cuModuleUnload(m1), CUDA_SUCCESS);
}

TEST_F(ExportTables, ToolsTlsGivesTheThreadsContext) {
  auto get = slot<CUresult (*)(CUcontext*)>(kToolsTls, 2);
  ASSERT_NE(get, nullptr);
  CUcontext want = nullptr, got = nullptr;
  ASSERT_EQ(cuCtxGetCurrent(&want), CUDA_SUCCESS);
  ASSERT_NE(want, nullptr);
  EXPECT_EQ(get(&got), CUDA_SUCCESS);
  EXPECT_EQ(got, want);
  EXPECT_EQ(get(nullptr), CUDA_ERROR_INVALID_VALUE);
}

using Dtor = void (*)(CUcontext, void*, void*);
using Put = CUresult (*)(CUcontext, void*, void*, Dtor);
using Delete = CUresult (*)(CUcontext, void*);
using Get = CUresult (*)(void**, CUcontext, void*);

TEST_F(ExportTables, ContextLocalStorageKeepsOneValuePerContextAndKey) {
  auto put = slot<Put>(kStorage, 0);
  auto del = slot<Delete>(kStorage, 1);
  auto get = slot<Get>(kStorage, 2);
  int key = 0, value = 0, other = 0;
  void* got = nullptr;
  EXPECT_EQ(get(&got, primary_, &key), CUDA_ERROR_INVALID_HANDLE);  // nothing stored yet
  ASSERT_EQ(put(nullptr, &key, &value, nullptr), CUDA_SUCCESS);    // null: the current context
  ASSERT_EQ(get(&got, primary_, &key), CUDA_SUCCESS);
  EXPECT_EQ(got, &value);
  ASSERT_EQ(put(primary_, &key, &other, nullptr), CUDA_SUCCESS);  // replaces
  ASSERT_EQ(get(&got, nullptr, &key), CUDA_SUCCESS);
  EXPECT_EQ(got, &other);
  EXPECT_EQ(get(&got, primary_, &value), CUDA_ERROR_INVALID_HANDLE);  // another key
  ASSERT_EQ(del(primary_, &key), CUDA_SUCCESS);
  EXPECT_EQ(get(&got, primary_, &key), CUDA_ERROR_INVALID_HANDLE);
  EXPECT_EQ(del(primary_, &key), CUDA_ERROR_INVALID_HANDLE);
}

struct Destroyed {
  CUcontext ctx;
  void* key;
  void* value;
  int calls;
} g_destroyed;

TEST_F(ExportTables, DestroyingAContextRunsItsStorageDestructors) {
  CUcontext ctx = nullptr;
  auto bypass = slot<CUresult (*)(CUcontext*, unsigned, CUdevice)>(kBypass, 1);
  ASSERT_EQ(bypass(&ctx, 0, 0), CUDA_SUCCESS);  // CTX_CREATE_BYPASS: a real context, made current
  CUdevice dev = -1;
  ASSERT_EQ(cuCtxGetDevice(&dev), CUDA_SUCCESS);
  EXPECT_EQ(dev, 0);
  CUcontext cur = nullptr;
  ASSERT_EQ(cuCtxGetCurrent(&cur), CUDA_SUCCESS);
  EXPECT_EQ(cur, ctx);
  int key = 0, value = 0;
  g_destroyed = {};
  ASSERT_EQ(slot<Put>(kStorage, 0)(ctx, &key, &value,
                                   [](CUcontext c, void* k, void* v) { g_destroyed = {c, k, v, g_destroyed.calls + 1}; }),
            CUDA_SUCCESS);
  ASSERT_EQ(cuCtxDestroy(ctx), CUDA_SUCCESS);
  EXPECT_EQ(g_destroyed.calls, 1);
  EXPECT_EQ(g_destroyed.ctx, ctx);
  EXPECT_EQ(g_destroyed.key, &key);
  EXPECT_EQ(g_destroyed.value, &value);
  ASSERT_EQ(cuCtxSetCurrent(primary_), CUDA_SUCCESS);
}

TEST_F(ExportTables, RuntimeInterfaceGivesThePrimaryContextAndLoadsNothingForCompilers) {
  CUcontext ctx = nullptr;
  ASSERT_EQ(slot<CUresult (*)(CUcontext*, CUdevice)>(kRuntime, 2)(&ctx, 0), CUDA_SUCCESS);
  EXPECT_EQ(ctx, primary_);
  EXPECT_EQ(slot<CUresult (*)(CUcontext*, CUdevice)>(kRuntime, 2)(&ctx, 3), CUDA_ERROR_INVALID_DEVICE);
  EXPECT_EQ(slot<CUresult (*)()>(kRuntime, 12)(), CUDA_SUCCESS);
  CUmodule m = nullptr;
  EXPECT_EQ(slot<CUresult (*)(CUmodule*, const void*)>(kRuntime, 1)(&m, nullptr), CUDA_ERROR_INVALID_VALUE);
  // Extra arguments nobody has explained are refused, not ignored.
  int extra = 0;
  EXPECT_EQ(slot<CUresult (*)(CUmodule*, const void*, void*, void*, unsigned)>(kRuntime, 6)(&m, &extra, &extra, nullptr, 0),
            CUDA_ERROR_NOT_SUPPORTED);
}

TEST_F(ExportTables, ToolsCallbackBuffersAreZeroedAndSized) {
  void* p = nullptr;
  size_t n = 0;
  slot<void (*)(void**, size_t*)>(kCallbacks, 2)(&p, &n);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(n, 1024u);
  EXPECT_EQ(static_cast<unsigned char*>(p)[0], 0);
  slot<void (*)(void**, size_t*)>(kCallbacks, 6)(&p, &n);
  EXPECT_NE(p, nullptr);
  EXPECT_EQ(n, 14u);
}

TEST_F(ExportTables, ContextChecksReportNoBits) {
  unsigned bits = 7;
  const void* extra = nullptr;
  EXPECT_EQ(slot<CUresult (*)(CUcontext, unsigned*, const void**)>(kChecks, 2)(primary_, &bits, &extra), CUDA_SUCCESS);
  EXPECT_EQ(bits, 0u);
  EXPECT_EQ(slot<unsigned (*)()>(kChecks, 3)(), 0u);
}

// The digest under the integrity check is RFC 1319's MD2.
TEST(Md2, MatchesRfc1319Examples) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "8350e5a3e24c153df2275c9f80692773"},
      {"abc", "da853b0d3f88d99b30283a69e6ded6bb"},
      {"message digest", "ab4f496bfb2a530b219ff33031fe06b0"},
      {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
       "d5976f79d83d3a0dc9806c3c66f3efd8"},
  };
  for (auto [in, want] : cases) {
    uint8_t out[16];
    vgpu::guest::exports::md2_for_test(in, std::strlen(in), out);
    char hex[33];
    for (int i = 0; i < 16; ++i) std::snprintf(hex + 2 * i, 3, "%02x", out[i]);
    EXPECT_STREQ(hex, want) << '"' << in << '"';
  }
}

TEST_F(ExportTables, IntegrityCheckAnswersDependOnVersionAndTime) {
  auto check = slot<CUresult (*)(unsigned, uint64_t, uint64_t*)>(kIntegrity, 1);
  uint64_t r[2] = {};
  ASSERT_EQ(check(13000, 1, r), CUDA_SUCCESS);  // versions ending in 0 and 1: fixed answers
  EXPECT_EQ(r[0], 0x3341181C03CB675Cull);
  EXPECT_EQ(r[1], 0x8ED383AA1F4CD1E8ull);
  ASSERT_EQ(check(12091, 1, r), CUDA_SUCCESS);
  EXPECT_EQ(r[0], 0x1841181C03CB675Cull);
  uint64_t a[2], b[2], c[2];
  ASSERT_EQ(check(13002, 1000, a), CUDA_SUCCESS);
  ASSERT_EQ(check(13002, 1000, b), CUDA_SUCCESS);
  ASSERT_EQ(check(13002, 1001, c), CUDA_SUCCESS);
  EXPECT_EQ(std::memcmp(a, b, sizeof a), 0);
  EXPECT_NE(std::memcmp(a, c, sizeof a), 0);
  EXPECT_EQ(check(13002, 1000, nullptr), CUDA_ERROR_INVALID_VALUE);
}

}  // namespace
