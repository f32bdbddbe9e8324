// Region layout, header validation, and mapping a region from a file or
// from a (fake) ivshmem PCI device.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "mapping.h"
#include "ring_testing.h"
#include "vgpu/region.h"
#include "vgpu/region_view.h"

namespace vgpu {
namespace {

using testing::TempDir;

// The smallest region compute_layout accepts: quick to create and map.
RegionConfig small_config() {
  RegionConfig c;
  c.slot_count = 2;
  c.channels_per_slot = 2;
  c.cmd_ring_bytes = 4096;
  c.cpl_ring_entries = 8;
  c.reply_bytes = 16384;
  c.arena_bytes = 1 << 20;
  return c;
}

Layout layout_of(const RegionConfig& c) {
  Layout l{};
  const char* why = nullptr;
  EXPECT_TRUE(compute_layout(c, &l, &why)) << why;
  return l;
}

// ---------------------------------------------------------------- layout

struct BadConfig {
  const char* field;
  std::function<void(RegionConfig&)> spoil;
};

TEST(Layout, RefusesBadConfigs) {
  const BadConfig cases[] = {
      {"slot_count", [](RegionConfig& c) { c.slot_count = 0; }},
      {"slot_count", [](RegionConfig& c) { c.slot_count = 65; }},
      {"channels_per_slot", [](RegionConfig& c) { c.channels_per_slot = 0; }},
      {"channels_per_slot", [](RegionConfig& c) { c.channels_per_slot = 65; }},
      {"cmd_ring_bytes", [](RegionConfig& c) { c.cmd_ring_bytes = 0; }},
      {"cmd_ring_bytes", [](RegionConfig& c) { c.cmd_ring_bytes = 2048; }},
      {"cmd_ring_bytes", [](RegionConfig& c) { c.cmd_ring_bytes = 3 << 12; }},
      {"cmd_ring_bytes", [](RegionConfig& c) { c.cmd_ring_bytes = 1u << 29; }},
      {"cmd_ring_bytes", [](RegionConfig& c) { c.cmd_ring_bytes = 1u << 31; }},
      {"cpl_ring_entries", [](RegionConfig& c) { c.cpl_ring_entries = 0; }},
      {"cpl_ring_entries", [](RegionConfig& c) { c.cpl_ring_entries = 4; }},
      {"cpl_ring_entries", [](RegionConfig& c) { c.cpl_ring_entries = 100; }},
      {"cpl_ring_entries", [](RegionConfig& c) { c.cpl_ring_entries = 1u << 21; }},
      {"reply_bytes", [](RegionConfig& c) { c.reply_bytes = 0; }},
      {"reply_bytes", [](RegionConfig& c) { c.reply_bytes = 8192; }},
      {"reply_bytes", [](RegionConfig& c) { c.reply_bytes = 20000; }},
      {"reply_bytes", [](RegionConfig& c) { c.reply_bytes = 32u << 20; }},
      {"arena_bytes", [](RegionConfig& c) { c.arena_bytes = 0; }},
      {"arena_bytes", [](RegionConfig& c) { c.arena_bytes = 512 << 10; }},
      {"arena_bytes", [](RegionConfig& c) { c.arena_bytes = (1 << 20) + 1; }},
      {"arena_bytes", [](RegionConfig& c) { c.arena_bytes = 128ull << 30; }},
      {"arena_bytes", [](RegionConfig& c) { c.arena_bytes = UINT64_MAX & ~uint64_t{4095}; }},
  };
  for (const auto& bc : cases) {
    RegionConfig c = small_config();
    bc.spoil(c);
    Layout l{};
    const char* why = nullptr;
    EXPECT_FALSE(compute_layout(c, &l, &why)) << bc.field;
    ASSERT_NE(why, nullptr) << bc.field;
    EXPECT_NE(std::strstr(why, bc.field), nullptr) << "reason '" << why << "' should name " << bc.field;
  }
}

TEST(Layout, PartsAreAlignedAndDisjoint) {
  for (RegionConfig c : {small_config(), RegionConfig{}}) {
    const Layout l = layout_of(c);
    // Inside a channel: control, command ring, completions, reply buffer.
    EXPECT_GE(l.cmd_offset, sizeof(ChannelCtl));
    EXPECT_EQ(l.cmd_offset % kPage, 0u);
    EXPECT_EQ(l.cpl_offset, l.cmd_offset + c.cmd_ring_bytes);
    EXPECT_GE(l.reply_offset, l.cpl_offset + uint64_t(c.cpl_ring_entries) * sizeof(Completion));
    EXPECT_LE(l.reply_offset + c.reply_bytes, l.channel_bytes);
    EXPECT_EQ(l.channel_bytes % kPage, 0u);
    // Inside a slot: control block, channels, then a 2 MiB-aligned arena.
    EXPECT_GE(l.channels_offset, sizeof(SlotCtl));
    EXPECT_LE(l.channels_offset + l.channel_bytes * c.channels_per_slot, l.arena_offset);
    EXPECT_EQ(l.arena_offset % (2 << 20), 0u);
    EXPECT_LE(l.arena_offset + c.arena_bytes, l.slot_bytes);
    // The region: header, then the slots.
    EXPECT_GE(l.slots_offset, sizeof(RegionHeader));
    EXPECT_EQ(l.slots_offset % (2 << 20), 0u);
    EXPECT_EQ(l.total_bytes, l.slots_offset + l.slot_bytes * c.slot_count);
  }
}

TEST(Layout, LargestConfigDoesNotOverflow) {
  RegionConfig c;
  c.slot_count = 64;
  c.channels_per_slot = 64;
  c.cmd_ring_bytes = 1u << 28;
  c.cpl_ring_entries = 1u << 20;
  c.reply_bytes = 16u << 20;
  c.arena_bytes = 64ull << 30;
  const Layout l = layout_of(c);
  EXPECT_GT(l.total_bytes, 64 * (64ull << 30));
  EXPECT_GT(l.arena_offset, 64ull * (1u << 28));
}

// ---------------------------------------------------------------- header

// A zeroed anonymous mapping holding a freshly formatted region.
class Formatted : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg_ = small_config();
    layout_ = layout_of(cfg_);
    bytes_ = layout_.total_bytes;
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(p, MAP_FAILED);
    base_ = p;
    format_region(base_, cfg_, layout_);
  }
  void TearDown() override { munmap(base_, bytes_); }
  RegionHeader* h() { return header_of(base_); }

  RegionConfig cfg_;
  Layout layout_;
  uint64_t bytes_ = 0;
  void* base_ = nullptr;
};

TEST_F(Formatted, FreshHeaderValidates) {
  EXPECT_EQ(validate_header(h(), bytes_), nullptr);
  EXPECT_EQ(h()->magic, kRegionMagic);
  EXPECT_EQ(h()->version, kLayoutVersion);
  EXPECT_EQ(h()->host_state.load(), static_cast<uint32_t>(HostState::kInit));
  EXPECT_NE(h()->session_id.load(), 0u);
  const RegionConfig back = read_header(h()).config;
  EXPECT_EQ(back.slot_count, cfg_.slot_count);
  EXPECT_EQ(back.channels_per_slot, cfg_.channels_per_slot);
  EXPECT_EQ(back.cmd_ring_bytes, cfg_.cmd_ring_bytes);
  EXPECT_EQ(back.cpl_ring_entries, cfg_.cpl_ring_entries);
  EXPECT_EQ(back.reply_bytes, cfg_.reply_bytes);
  EXPECT_EQ(back.arena_bytes, cfg_.arena_bytes);
  // A mapping larger than the region is fine (e.g. a BAR rounded up).
  EXPECT_EQ(validate_header(h(), bytes_ + (1 << 20)), nullptr);
}

TEST_F(Formatted, SessionIdsDiffer) {
  const uint64_t first = h()->session_id.load();
  format_region(base_, cfg_, layout_);
  EXPECT_NE(h()->session_id.load(), first);
}

TEST_F(Formatted, ViewsMatchTheLayout) {
  auto* b = static_cast<std::byte*>(base_);
  const char* why = nullptr;
  const auto v = RegionView::of_config(base_, bytes_, cfg_, &why);
  ASSERT_TRUE(v) << why;
  for (uint32_t s = 0; s < cfg_.slot_count; ++s) {
    const SlotView sv = v->slot(s);
    EXPECT_EQ(sv.bytes.data(), b + layout_.slots_offset + s * layout_.slot_bytes);
    EXPECT_EQ(sv.bytes.size(), layout_.slot_bytes);
    EXPECT_EQ(static_cast<void*>(sv.ctl), sv.bytes.data());
    EXPECT_EQ(sv.ctl->state.load(), static_cast<uint32_t>(SlotState::kFree));
    EXPECT_EQ(sv.arena.data(), sv.bytes.data() + layout_.arena_offset);
    EXPECT_EQ(sv.arena.size(), cfg_.arena_bytes);
    EXPECT_EQ(sv.control.size(), layout_.arena_offset);
    for (uint32_t c = 0; c < cfg_.channels_per_slot; ++c) {
      const ChannelView ch = v->channel(s, c);
      auto* cb = reinterpret_cast<std::byte*>(ch.ctl);
      EXPECT_EQ(cb, sv.bytes.data() + layout_.channels_offset + c * layout_.channel_bytes);
      EXPECT_EQ(ch.slot_offset, uint64_t(cb - sv.bytes.data()));
      EXPECT_EQ(ch.ctl->cmd.tail.load(), 0u);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(ch.ctl) % kLineSpacing, 0u);
      EXPECT_EQ(ch.cmd.data(), cb + layout_.cmd_offset);
      EXPECT_EQ(ch.cmd.size(), cfg_.cmd_ring_bytes);
      EXPECT_EQ(ch.cpl.size(), cfg_.cpl_ring_entries);
      EXPECT_EQ(ch.reply.size(), cfg_.reply_bytes);
      EXPECT_LE(ch.reply.data() + ch.reply.size(), cb + layout_.channel_bytes);
      EXPECT_LE(cb + layout_.channel_bytes, sv.arena.data());
    }
  }
  EXPECT_LE(v->slot(cfg_.slot_count - 1).arena.data() + cfg_.arena_bytes, b + bytes_);
}

// The host's view comes from its config alone: a header rewritten with
// extreme values moves none of its addresses.
TEST_F(Formatted, HostViewIgnoresTheLiveHeader) {
  const auto v = RegionView::of_config(base_, bytes_, cfg_, nullptr);
  ASSERT_TRUE(v);
  std::byte* slot1 = v->slot(1).bytes.data();
  std::byte* ch11 = reinterpret_cast<std::byte*>(v->channel(1, 1).ctl);
  for (uint64_t x : {uint64_t{0}, uint64_t{1}, uint64_t{0xffffffff}, uint64_t{1} << 63, ~uint64_t{0}}) {
    h()->slots_offset = h()->slot_bytes = h()->channel_bytes = h()->arena_offset = x;
    h()->slot_count = h()->channels_per_slot = h()->cmd_ring_bytes = static_cast<uint32_t>(x);
    EXPECT_EQ(v->slot(1).bytes.data(), slot1);
    EXPECT_EQ(reinterpret_cast<std::byte*>(v->channel(1, 1).ctl), ch11);
    EXPECT_EQ(v->slot_count(), cfg_.slot_count);
    EXPECT_NE(validate_header(h(), bytes_), nullptr);
  }
  // Re-asserting the host's fields heals the header for the next guest.
  write_header(h(), header_fields_for(cfg_, layout_));
  EXPECT_EQ(validate_header(h(), bytes_), nullptr);
}

// A guest's view is built from one copy of the header: later writes to the
// header do not move it, and a header that does not validate gives none.
TEST_F(Formatted, GuestViewComesFromOneValidatedCopy) {
  const char* why = nullptr;
  const auto v = RegionView::of_header(base_, bytes_, &why);
  ASSERT_TRUE(v) << why;
  std::byte* arena0 = v->slot(0).arena.data();
  h()->arena_offset = 4096;
  EXPECT_EQ(v->slot(0).arena.data(), arena0);
  EXPECT_FALSE(RegionView::of_header(base_, bytes_, &why));
  EXPECT_NE(std::strstr(why, "disagree"), nullptr) << why;
  EXPECT_FALSE(RegionView::of_header(base_, sizeof(RegionHeader) - 1, &why));
}

TEST_F(Formatted, HostViewRefusesAMappingTooSmall) {
  const char* why = nullptr;
  EXPECT_FALSE(RegionView::of_config(base_, bytes_ - 1, cfg_, &why));
  EXPECT_NE(std::strstr(why, "larger than the mapping"), nullptr) << why;
}

struct Corruption {
  const char* what;
  std::function<void(RegionHeader*)> spoil;
  const char* message_has;  // a word the refusal must contain
};

TEST_F(Formatted, EachCorruptedFieldIsRefused) {
  const Corruption cases[] = {
      {"magic", [](RegionHeader* h) { h->magic ^= 1; }, "magic"},
      {"magic zero (not initialised)", [](RegionHeader* h) { h->magic = 0; }, "magic"},
      {"version", [](RegionHeader* h) { h->version = kLayoutVersion + 1; }, "version"},
      {"header_bytes", [](RegionHeader* h) { h->header_bytes = 2048; }, "header"},
      {"slot_count", [](RegionHeader* h) { h->slot_count = 0; }, "slot_count"},
      {"slot_count grown", [](RegionHeader* h) { h->slot_count = 3; }, "disagree"},
      {"channels_per_slot", [](RegionHeader* h) { h->channels_per_slot = 1000; }, "channels_per_slot"},
      {"cmd_ring_bytes", [](RegionHeader* h) { h->cmd_ring_bytes = 5000; }, "cmd_ring_bytes"},
      {"cmd_ring_bytes doubled", [](RegionHeader* h) { h->cmd_ring_bytes *= 2; }, "disagree"},
      {"cpl_ring_entries", [](RegionHeader* h) { h->cpl_ring_entries = 3; }, "cpl_ring_entries"},
      {"reply_bytes", [](RegionHeader* h) { h->reply_bytes = 1; }, "reply_bytes"},
      {"arena_bytes", [](RegionHeader* h) { h->arena_bytes = 4095; }, "arena_bytes"},
      {"arena_bytes grown", [](RegionHeader* h) { h->arena_bytes += 4 << 20; }, "disagree"},
      {"total_bytes", [](RegionHeader* h) { h->total_bytes -= kPage; }, "disagree"},
      {"slot_bytes", [](RegionHeader* h) { h->slot_bytes += kPage; }, "disagree"},
      {"slots_offset", [](RegionHeader* h) { h->slots_offset = 0; }, "disagree"},
      {"channel_bytes", [](RegionHeader* h) { h->channel_bytes -= kPage; }, "disagree"},
      {"channels_offset", [](RegionHeader* h) { h->channels_offset = 64; }, "disagree"},
      {"arena_offset", [](RegionHeader* h) { h->arena_offset = 4096; }, "disagree"},
      {"arena_offset huge", [](RegionHeader* h) { h->arena_offset = UINT64_MAX; }, "disagree"},
  };
  for (const auto& c : cases) {
    RegionHeader saved;
    std::memcpy(static_cast<void*>(&saved), h(), sizeof saved);
    c.spoil(h());
    const char* why = validate_header(h(), bytes_);
    ASSERT_NE(why, nullptr) << c.what << " was accepted";
    EXPECT_NE(std::strstr(why, c.message_has), nullptr) << c.what << ": '" << why << "'";
    std::memcpy(static_cast<void*>(h()), &saved, sizeof saved);
    ASSERT_EQ(validate_header(h(), bytes_), nullptr);
  }
}

TEST_F(Formatted, RegionLargerThanMappingIsRefused) {
  const char* why = validate_header(h(), bytes_ - 1);
  ASSERT_NE(why, nullptr);
  EXPECT_NE(std::strstr(why, "larger than the mapping"), nullptr) << why;
  why = validate_header(h(), sizeof(RegionHeader) - 1);
  ASSERT_NE(why, nullptr);
  EXPECT_NE(std::strstr(why, "smaller than its header"), nullptr) << why;
  EXPECT_NE(validate_header(h(), 0), nullptr);
}

// ---------------------------------------------------------------- files

TEST(RegionFile, CreateAttachRoundTrip) {
  TempDir dir;
  const std::string path = dir.file("region");
  std::string err;
  auto host = create_region_file(path, small_config(), &err);
  ASSERT_TRUE(host) << err;
  struct stat st{};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u) << "the region must be private to its owner";
  // QEMU's ivshmem wants a power-of-two BAR, so the file is rounded up.
  const uint64_t total = layout_of(small_config()).total_bytes;
  const auto size = static_cast<uint64_t>(st.st_size);
  EXPECT_EQ(size & (size - 1), 0u) << size;
  EXPECT_GE(size, total);
  EXPECT_LT(size, 2 * total);
  EXPECT_EQ(validate_header(host->header(), host->bytes()), nullptr);
  EXPECT_EQ(host->source(), path);

  auto guest = attach_region_file(path, &err);
  ASSERT_TRUE(guest) << err;
  EXPECT_NE(guest->base(), host->base()) << "two separate mappings";
  EXPECT_EQ(guest->bytes(), host->bytes());
  EXPECT_EQ(guest->header()->session_id.load(), host->header()->session_id.load());
  // Both map the same bytes: a write on one side shows on the other.
  host->view().slot(1).ctl->guest_pid = 4242;
  EXPECT_EQ(guest->view().slot(1).ctl->guest_pid, 4242u);
  guest->view().channel(1, 1).ctl->cmd.head.store(96);
  EXPECT_EQ(host->view().channel(1, 1).ctl->cmd.head.load(), 96u);
}

TEST(RegionFile, RecreateTruncatesAndClears) {
  TempDir dir;
  const std::string path = dir.file("region");
  std::string err;
  // An existing file, group/world readable, with garbage in it.
  {
    std::ofstream f(path);
    f << std::string(3 << 20, 'x');
  }
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  auto m = create_region_file(path, small_config(), &err);
  ASSERT_TRUE(m) << err;
  struct stat st{};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(m->view().slot(0).ctl->guest_pid, 0u);
  EXPECT_EQ(m->view().channel(0, 0).ctl->cmd.tail.load(), 0u);
  EXPECT_EQ(*reinterpret_cast<const char*>(m->view().slot(0).arena.data()), 0) << "arena reads as zero too";
}

TEST(RegionFile, RecreateSameSizeKeepsTheFileButResetsControl) {
  // A VM may still map the old file: it must not shrink under it. The new
  // header and cleared control blocks show through the old mapping.
  TempDir dir;
  const std::string path = dir.file("region");
  std::string err;
  auto first = create_region_file(path, small_config(), &err);
  ASSERT_TRUE(first) << err;
  auto old_guest = attach_region_file(path, &err);
  ASSERT_TRUE(old_guest) << err;
  first->view().slot(0).ctl->guest_pid = 77;
  first->view().channel(1, 1).ctl->cmd.tail.store(4096);
  const uint64_t old_session = first->header()->session_id.load();
  first.reset();

  auto second = create_region_file(path, small_config(), &err);
  ASSERT_TRUE(second) << err;
  EXPECT_NE(second->header()->session_id.load(), old_session);
  EXPECT_EQ(old_guest->header()->session_id.load(), second->header()->session_id.load());
  EXPECT_EQ(old_guest->view().slot(0).ctl->guest_pid, 0u);
  EXPECT_EQ(old_guest->view().channel(1, 1).ctl->cmd.tail.load(), 0u);
  EXPECT_EQ(validate_header(old_guest->header(), old_guest->bytes()), nullptr);
}

TEST(RegionFile, CreateRefusesBadConfig) {
  TempDir dir;
  RegionConfig c = small_config();
  c.cmd_ring_bytes = 5000;
  std::string err;
  EXPECT_FALSE(create_region_file(dir.file("region"), c, &err));
  EXPECT_NE(err.find("cmd_ring_bytes"), std::string::npos) << err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("region")));
}

TEST(RegionFile, AttachReportsProblems) {
  TempDir dir;
  std::string err;
  EXPECT_FALSE(attach_region_file(dir.file("missing"), &err));
  EXPECT_NE(err.find(dir.file("missing")), std::string::npos) << err;

  // A file that is not a region.
  {
    std::ofstream f(dir.file("garbage"));
    f << std::string(8192, 'g');
  }
  err.clear();
  EXPECT_FALSE(attach_region_file(dir.file("garbage"), &err));
  EXPECT_NE(err.find("magic"), std::string::npos) << err;

  // A region file cut short: its header says more than the file holds.
  auto m = create_region_file(dir.file("short"), small_config(), &err);
  ASSERT_TRUE(m) << err;
  m.reset();
  ASSERT_EQ(truncate(dir.file("short").c_str(), 1 << 20), 0);
  err.clear();
  EXPECT_FALSE(attach_region_file(dir.file("short"), &err));
  EXPECT_NE(err.find("larger than the mapping"), std::string::npos) << err;
}

// The guest's configuration hands attach_guest_region the VGPU_REGION value
// (config_test checks that parse); a path given wins over the default file
// and the ivshmem device.
TEST(RegionFile, GuestAttachesTheRegionItIsGiven) {
  TempDir dir;
  std::string err;
  auto host = create_region_file(dir.file("r"), small_config(), &err);
  ASSERT_TRUE(host) << err;
  auto guest = attach_guest_region(dir.file("r"), dir.file("no-sysfs"), &err);
  ASSERT_TRUE(guest) << err;
  EXPECT_EQ(guest->header()->session_id.load(), host->header()->session_id.load());
}

// ---------------------------------------------------------------- ivshmem

// A fake /sys/bus/pci/devices: one directory per device with vendor and
// device files, as sysfs has them ("0x1af4\n").
class FakeSysfs {
 public:
  void add(const std::string& bdf, const char* vendor, const char* device) {
    const std::string d = dir_.file(bdf);
    std::filesystem::create_directories(d);
    if (vendor) std::ofstream(d + "/vendor") << vendor << "\n";
    if (device) std::ofstream(d + "/device") << device << "\n";
  }
  std::string path(const std::string& bdf = "") const { return bdf.empty() ? dir_.path() : dir_.file(bdf); }

 private:
  TempDir dir_;
};

TEST(Ivshmem, FindsAndValidatesTheDevice) {
  FakeSysfs sys;
  sys.add("0000:00:01.0", "0x8086", "0x1237");  // host bridge
  sys.add("0000:00:02.0", "0x1af4", "0x1000");  // virtio-net: same vendor
  sys.add("0000:00:03.0", nullptr, nullptr);    // no id files at all
  sys.add("0000:00:04.0", "0x1af4", "0x1110");  // ivshmem-plain
  std::string err;
  auto host = create_region_file(sys.path("0000:00:04.0") + "/resource2", small_config(), &err);
  ASSERT_TRUE(host) << err;
  auto guest = attach_ivshmem(sys.path(), &err);
  ASSERT_TRUE(guest) << err;
  EXPECT_EQ(guest->source(), sys.path("0000:00:04.0") + "/resource2");
  EXPECT_EQ(guest->header()->session_id.load(), host->header()->session_id.load());
  EXPECT_EQ(validate_header(guest->header(), guest->bytes()), nullptr);
}

TEST(Ivshmem, NoDeviceIsAClearError) {
  FakeSysfs sys;
  sys.add("0000:00:01.0", "0x8086", "0x1237");
  sys.add("0000:00:02.0", "0x1af4", "0x1000");
  std::string err;
  EXPECT_FALSE(attach_ivshmem(sys.path(), &err));
  EXPECT_NE(err.find("1af4:1110"), std::string::npos) << err;
  EXPECT_NE(err.find(sys.path()), std::string::npos) << "should say where it looked: " << err;

  err.clear();
  EXPECT_FALSE(attach_ivshmem(sys.path() + "/does-not-exist", &err));
  EXPECT_FALSE(err.empty());
}

// With no region path the guest takes the default region file if there is
// one, else the ivshmem device under the sysfs folder it is given
// (VGPU_SYSFS_PCI).
TEST(Ivshmem, GuestWithoutARegionPathLooksWhereItIsTold) {
  if (access(default_region_path("0").c_str(), F_OK) == 0)
    GTEST_SKIP() << default_region_path("0") << " exists on this machine: the guest takes it before any ivshmem device";
  FakeSysfs sys;
  sys.add("0000:00:04.0", "0x1af4", "0x1110");
  std::string err;
  auto host = create_region_file(sys.path("0000:00:04.0") + "/resource2", small_config(), &err);
  ASSERT_TRUE(host) << err;
  auto guest = attach_guest_region("", sys.path(), &err);
  ASSERT_TRUE(guest) << err;
  EXPECT_EQ(guest->source(), sys.path("0000:00:04.0") + "/resource2");
  EXPECT_EQ(guest->header()->session_id.load(), host->header()->session_id.load());
}

TEST(Ivshmem, DeviceWithoutARegionIsRefused) {
  FakeSysfs sys;
  sys.add("0000:00:04.0", "0x1af4", "0x1110");
  std::string err;
  // No resource2 at all.
  EXPECT_FALSE(attach_ivshmem(sys.path(), &err));
  EXPECT_NE(err.find("resource2"), std::string::npos) << err;
  // A BAR whose bytes were never formatted by a host.
  const std::string bar = sys.path("0000:00:04.0") + "/resource2";
  std::ofstream(bar) << std::string(1 << 16, '\0');
  err.clear();
  EXPECT_FALSE(attach_ivshmem(sys.path(), &err));
  EXPECT_NE(err.find("magic"), std::string::npos) << err;
}

}  // namespace
}  // namespace vgpu
