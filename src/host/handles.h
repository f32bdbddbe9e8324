// Ids the host issues to a guest for its objects, and the table that checks
// them. A guest only ever holds these ids; every id it sends back is looked
// up with the kind the op expects, so a forged, stale or mistyped id is an
// error (kInvalidHandle) for that call, never a pointer the host follows.
#pragma once

#include <cstdint>
#include <unordered_map>

#include "backend.h"

namespace vgpu::host {

enum class Kind : uint8_t { kStream = 1, kEvent, kModule, kFunction, kGraph, kGraphExec, kBlas, kMemHandle };

class HandleTable {
 public:
  struct Entry {
    Kind kind;
    Native native;
    uint64_t aux;  // per kind: a function's parameter bytes, an allocation's size, ...
    uint64_t aux2;
  };

  // At most `limit` live ids (SessionLimits::handles): a guest must not grow
  // the host's tables without end.
  explicit HandleTable(uint64_t limit) : limit_(limit) {}

  // Issues an id for n in *out. False, with nothing added, when the table is
  // full (or its ids ran out): the caller then destroys n again and fails the
  // call, so the backend object never outlives a refused call.
  // Ids look like aligned pointers (the guest passes them where CUDA has
  // pointer-typed handles) and never collide with the stream ids 0, 1, 2.
  [[nodiscard]] bool add(Handle* out, Kind k, Native n, uint64_t aux = 0, uint64_t aux2 = 0) {
    // Serials from 2^36 on would reach the kind's bits (<< 4) and could
    // repeat a live id; issuing 2^36 takes days of nothing but creates.
    if (map_.size() >= limit_ || next_ >= (uint64_t(1) << 36)) return false;
    const Handle h = (uint64_t(k) << 40) | (next_++ << 4);
    map_[h] = Entry{k, n, aux, aux2};
    *out = h;
    return true;
  }
  const Entry* find(Kind k, Handle h) const {
    auto it = map_.find(h);
    return it != map_.end() && it->second.kind == k ? &it->second : nullptr;
  }
  // Takes id h of kind k out of the table, its entry into *out; false, with
  // nothing changed, for an id that is not a live one of kind k.
  bool take(Kind k, Handle h, Entry* out) {
    auto it = map_.find(h);
    if (it == map_.end() || it->second.kind != k) return false;
    *out = it->second;
    map_.erase(it);
    return true;
  }
  bool erase(Kind k, Handle h) {
    Entry e;
    return take(k, h, &e);
  }
  template <class F>
  void for_each(F&& f) const {
    for (auto& [h, e] : map_) f(h, e);
  }
  size_t size() const { return map_.size(); }
  // Forgets every id (the limit stays; ids are never issued twice).
  void clear() { map_.clear(); }

 private:
  std::unordered_map<Handle, Entry> map_;
  uint64_t limit_;
  uint64_t next_ = 1;
};

}  // namespace vgpu::host
