#include "arena.h"

#include <boost/interprocess/managed_external_buffer.hpp>

namespace vgpu {

namespace bip = boost::interprocess;

struct Arena::Impl {
  bip::managed_external_buffer buf;
  Impl(std::byte* base, uint64_t bytes) : buf(bip::create_only, base, bytes) {}
};

Arena::Arena(std::byte* base, uint64_t bytes) : base_(base), bytes_(bytes), impl_(std::make_unique<Impl>(base, bytes)) {}
Arena::~Arena() = default;

void* Arena::allocate(uint64_t bytes, uint64_t align) {
  if (bytes == 0) bytes = 1;
  if (align < 16) align = 16;
  return impl_->buf.allocate_aligned(bytes, align, std::nothrow);
}

void Arena::deallocate(void* p) {
  if (p) impl_->buf.deallocate(p);
}

uint64_t Arena::free_bytes() const { return impl_->buf.get_free_memory(); }

}  // namespace vgpu
