#include "arena.h"

#include <boost/interprocess/indexes/iset_index.hpp>
#include <boost/interprocess/managed_external_buffer.hpp>
#include <boost/interprocess/mem_algo/rbtree_best_fit.hpp>
#include <boost/interprocess/sync/mutex_family.hpp>

namespace vgpu {

namespace bip = boost::interprocess;

// Not bip::managed_external_buffer: that typedef uses null_mutex_family (no
// locking at all), and two guest threads allocating at once corrupt its
// free-block tree (seen as an endless loop in the concurrent arena test).
// mutex_family is an interprocess_mutex (a PTHREAD_PROCESS_SHARED mutex on
// Linux) living inside the arena with the rest of the bookkeeping.
using LockedBuffer = bip::basic_managed_external_buffer<char, bip::rbtree_best_fit<bip::mutex_family>, bip::iset_index>;

struct Arena::Impl {
  LockedBuffer buf;
  Impl(std::byte* base, uint64_t bytes) : buf(bip::create_only, base, bytes) {}
};

Arena::Arena(std::byte* base, uint64_t bytes) : base_(base), bytes_(bytes), impl_(std::make_unique<Impl>(base, bytes)) {}
Arena::~Arena() = default;

void* Arena::allocate(uint64_t bytes, uint64_t align) {
  // Boost adds its header and the alignment to `bytes` without checking for
  // overflow: a request near 2^64 wraps to a small one and "succeeds" with a
  // tiny block (or one already handed out). Nothing larger than the arena can
  // fit anyway, so refuse such requests here. Boost also only asserts (in
  // debug builds) that the alignment is a power of two.
  if (bytes > bytes_ || align > bytes_ || (align & (align - 1)) != 0) return nullptr;
  if (bytes == 0) bytes = 1;
  if (align < 16) align = 16;
  return impl_->buf.allocate_aligned(bytes, align, std::nothrow);
}

void Arena::deallocate(void* p) {
  if (p) impl_->buf.deallocate(p);
}

uint64_t Arena::free_bytes() const { return impl_->buf.get_free_memory(); }

}  // namespace vgpu
