// The kernels a module image names, for cuModuleEnumerateFunctions on the CPU
// backend: read from the image itself, as the driver would list them after
// loading it. The image comes from the guest, so every read is bounds-checked.
//
// Forms (the same the driver accepts):
//   * a fatbin (one or more containers, magic 0xBA55ED50): each entry is an
//     ELF (kind 2) or PTX (kind 1), possibly compressed (flag 0x2000: LZ4;
//     0x8000: ZSTD). Entry header: kind u16 at +0, header size u32 at +4,
//     payload size u64 at +8, compressed size u32 at +0x10, flags u64 at
//     +0x28, uncompressed size u64 at +0x38;
//   * an ELF (cubin): kernels are the FUNC symbols marked as entries
//     (STO_CUDA_ENTRY, 0x10, in st_other), as nvcc and ptxas write them;
//   * PTX text: `.entry NAME` (not `.extern .entry`, a declaration).
// Every entry of one container holds the same translation unit, so the names
// of the entries that can be read are merged, in the order first seen.
#include <elf.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "cpu_backend.h"

namespace vgpu::host::cpu {

bool lz4_block_decode(const uint8_t* src, size_t n, size_t limit, std::vector<uint8_t>* out) {
  out->clear();
  size_t i = 0;
  auto length = [&](size_t base, size_t* len) {
    *len = base;
    if (base != 15) return true;
    for (;;) {
      if (i >= n) return false;
      const uint8_t b = src[i++];
      *len += b;
      if (b != 255) return true;
    }
  };
  while (i < n) {
    const uint8_t token = src[i++];
    size_t lit = 0;
    if (!length(token >> 4, &lit) || lit > n - i || lit > limit - out->size()) return false;
    out->insert(out->end(), src + i, src + i + lit);
    i += lit;
    if (i == n) return true;  // the last sequence: literals only
    if (n - i < 2) return false;
    const size_t offset = src[i] | (size_t(src[i + 1]) << 8);
    i += 2;
    size_t match = 0;
    if (!length(token & 15, &match)) return false;
    match += 4;
    if (offset == 0 || offset > out->size() || match > limit - out->size()) return false;
    // The match may overlap what it copies (offset < length): byte by byte.
    const size_t from = out->size() - offset;
    for (size_t k = 0; k < match; ++k) out->push_back((*out)[from + k]);
  }
  return true;
}

namespace {

void add_name(std::vector<std::string>* names, std::string_view n) {
  if (n.empty()) return;
  if (std::find(names->begin(), names->end(), n) == names->end()) names->emplace_back(n);
}

bool ptx_ident(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$';
}

// `.entry NAME` tokens of PTX text; a line's `//` comment and `.extern`
// declarations are not definitions.
void ptx_entries(std::string_view text, std::vector<std::string>* names) {
  constexpr std::string_view kEntry = ".entry";
  for (size_t at = text.find(kEntry); at != std::string_view::npos; at = text.find(kEntry, at + 1)) {
    const size_t end = at + kEntry.size();
    if (end >= text.size() || (text[end] != ' ' && text[end] != '\t')) continue;
    if (at > 0 && (ptx_ident(text[at - 1]) || text[at - 1] == '.')) continue;
    const size_t line = text.rfind('\n', at);
    const std::string_view before = text.substr(line == std::string_view::npos ? 0 : line + 1,
                                                at - (line == std::string_view::npos ? 0 : line + 1));
    if (before.find("//") != std::string_view::npos || before.find(".extern") != std::string_view::npos) continue;
    size_t p = end;
    while (p < text.size() && (text[p] == ' ' || text[p] == '\t')) ++p;
    size_t q = p;
    while (q < text.size() && ptx_ident(text[q])) ++q;
    add_name(names, text.substr(p, q - p));
  }
}

// Kernels of a 64-bit ELF (cubin): FUNC symbols with STO_CUDA_ENTRY. False
// if the ELF cannot be read.
bool elf_entries(const uint8_t* p, size_t n, std::vector<std::string>* names) {
  constexpr unsigned char kStoCudaEntry = 0x10;
  Elf64_Ehdr eh;
  if (n < sizeof eh || std::memcmp(p, ELFMAG, SELFMAG) != 0 || p[EI_CLASS] != ELFCLASS64) return false;
  std::memcpy(&eh, p, sizeof eh);
  if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shoff > n || eh.e_shnum > (n - eh.e_shoff) / sizeof(Elf64_Shdr))
    return false;
  auto section = [&](size_t i, Elf64_Shdr* sh) {
    if (i >= eh.e_shnum) return false;
    std::memcpy(sh, p + eh.e_shoff + i * sizeof(Elf64_Shdr), sizeof *sh);
    return sh->sh_type == SHT_NOBITS || (sh->sh_offset <= n && sh->sh_size <= n - sh->sh_offset);
  };
  for (size_t i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr symtab, strtab;
    if (!section(i, &symtab) || symtab.sh_type != SHT_SYMTAB) continue;
    if (!section(symtab.sh_link, &strtab) || strtab.sh_type != SHT_STRTAB) return false;
    const char* strings = reinterpret_cast<const char*>(p + strtab.sh_offset);
    for (size_t k = 0; k < symtab.sh_size / sizeof(Elf64_Sym); ++k) {
      Elf64_Sym sym;
      std::memcpy(&sym, p + symtab.sh_offset + k * sizeof sym, sizeof sym);
      if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC || !(sym.st_other & kStoCudaEntry)) continue;
      if (sym.st_name >= strtab.sh_size) return false;
      const char* s = strings + sym.st_name;
      add_name(names, std::string_view(s, strnlen(s, strtab.sh_size - sym.st_name)));
    }
  }
  return true;
}

template <typename T>
bool read_at(const std::vector<uint8_t>& img, uint64_t off, T* v) {
  if (off > img.size() || sizeof(T) > img.size() - off) return false;
  std::memcpy(v, img.data() + off, sizeof(T));
  return true;
}

// The names of one fatbin entry's payload; false where it cannot be read (a
// ZSTD entry, a damaged one).
bool entry_names(const std::vector<uint8_t>& img, uint64_t e, uint32_t eh, uint64_t payload,
                 std::vector<std::string>* names) {
  constexpr uint64_t kLz4 = 0x2000, kZstd = 0x8000;
  // What one entry may expand to here (LZ4 can expand about 255-fold: a small
  // image from a guest must not make the daemon allocate without bound).
  constexpr uint64_t kMaxUncompressed = uint64_t(256) << 20;
  uint16_t kind = 0;
  uint64_t flags = 0, usize = 0;
  uint32_t csize = 0;
  read_at(img, e, &kind);
  read_at(img, e + 0x28, &flags);
  if (flags & kZstd) return false;  // no decompressor here
  const uint8_t* data = img.data() + e + eh;
  size_t bytes = payload;
  std::vector<uint8_t> plain;
  if (flags & kLz4) {
    if (eh < 0x40 || !read_at(img, e + 0x10, &csize) || !read_at(img, e + 0x38, &usize)) return false;
    if (csize == 0 || csize > payload || usize > kMaxUncompressed) return false;
    if (!lz4_block_decode(data, csize, usize, &plain)) return false;
    data = plain.data();
    bytes = plain.size();
  }
  if (kind == 2) return elf_entries(data, bytes, names);
  if (kind == 1) {
    const auto* text = reinterpret_cast<const char*>(data);
    ptx_entries(std::string_view(text, strnlen(text, bytes)), names);
    return true;
  }
  return false;
}

}  // namespace

Status image_kernel_names(const std::vector<uint8_t>& img, std::vector<std::string>* names) {
  names->clear();
  constexpr uint32_t kFatbinMagic = 0xBA55ED50u;
  uint32_t magic = 0;
  read_at(img, 0, &magic);
  if (magic != kFatbinMagic) {
    if (elf_entries(img.data(), img.size(), names)) return st::kOk;
    if (img.size() >= SELFMAG && std::memcmp(img.data(), ELFMAG, SELFMAG) == 0) return st::kInvalidImage;
    const auto* text = reinterpret_cast<const char*>(img.data());
    ptx_entries(std::string_view(text, strnlen(text, img.size())), names);
    return st::kOk;
  }
  // Containers back to back, as module_load accepts them.
  bool readable = false, opaque = false;
  uint64_t off = 0;
  while (off + 16 <= img.size()) {
    uint16_t hsize = 0;
    uint64_t fat = 0;
    if (!read_at(img, off, &magic) || magic != kFatbinMagic) {
      off += 8;
      continue;
    }
    read_at(img, off + 6, &hsize);
    read_at(img, off + 8, &fat);
    const uint64_t end = std::min<uint64_t>(img.size(), off + hsize + std::min<uint64_t>(fat, img.size()));
    for (uint64_t e = off + hsize; e + 0x30 <= end;) {
      uint32_t eh = 0;
      uint64_t payload = 0;
      read_at(img, e + 4, &eh);
      read_at(img, e + 8, &payload);
      if (eh == 0 || eh > end - e || payload > end - e - eh) break;
      if (entry_names(img, e, eh, payload, names)) readable = true;
      else opaque = true;
      e += eh + payload;
    }
    off = std::max(off + 16, end);
    off = (off + 7) & ~7ull;
  }
  // Every entry compressed in a form we cannot read: the names are unknown
  // here, and an empty list would be a wrong answer.
  if (!readable && opaque) return st::kNotSupported;
  return st::kOk;
}

}  // namespace vgpu::host::cpu
