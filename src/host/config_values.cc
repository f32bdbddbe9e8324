#include "config_values.h"

#include <limits.h>

#include <algorithm>

namespace vgpu::host {

bool parse_whole_number(std::string_view text, uint64_t lo, uint64_t hi, uint64_t* out, std::string* why) {
  const std::string range = "a whole number from " + std::to_string(lo) + " to " + std::to_string(hi);
  if (text.empty() || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return *why = range, false;
  uint64_t v = 0;
  for (char c : text) {
    const auto d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return *why = range + " (this one is too large)", false;
    v = v * 10 + d;
  }
  if (v < lo || v > hi) return *why = range, false;
  *out = v;
  return true;
}

bool parse_bool(std::string_view text, bool* out, std::string* why) {
  unsigned i = 0;
  if (!parse_choice(text, {"1", "true", "yes", "on", "0", "false", "no", "off"}, &i, why))
    return *why = "1, true, yes or on; 0, false, no or off", false;
  *out = i < 4;
  return true;
}

bool parse_octal_mode(std::string_view text, unsigned* out, std::string* why) {
  *why = "an octal file mode from 0 to 07777";
  if (text.empty() || text.size() > 5 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '7'; }))
    return false;
  unsigned v = 0;
  for (char c : text) v = v * 8 + static_cast<unsigned>(c - '0');
  if (v > 07777) return false;
  *out = v;
  return true;
}

bool parse_path(std::string_view text, bool absolute, std::string* out, std::string* why) {
  *why = absolute ? "an absolute path" : "a path";
  if (text.empty() || text.size() >= PATH_MAX) return false;
  if (std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
    return *why += " without control characters", false;
  if (absolute && text.front() != '/') return false;
  *out = std::string(text);
  return true;
}

bool parse_choice(std::string_view text, std::initializer_list<const char*> choices, unsigned* index,
                  std::string* why) {
  unsigned i = 0;
  for (const char* c : choices) {
    if (text == c) return *index = i, true;
    ++i;
  }
  std::string list;
  i = 0;
  for (const char* c : choices) {
    list += i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ";
    list += c;
    ++i;
  }
  *why = list;
  return false;
}

}  // namespace vgpu::host
