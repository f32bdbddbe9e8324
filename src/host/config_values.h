// The value forms every host setting is written in, one parser each, shared
// by the command line and environment (host_config.h) and the region .conf
// files (region_conf.h), so a number or a mode means the same wherever it is
// given. Each parser takes the text exactly as given: no sign, no blanks, no
// suffix, nothing "mostly a number" (strtoull reads "12abc" as 12 and "x" as
// 0; a setting that silently became something else is worse than a daemon
// that refuses to start). On a refusal, `why` says which form is accepted.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace vgpu::host {

// Decimal digits only, the value in [lo, hi].
bool parse_whole_number(std::string_view text, uint64_t lo, uint64_t hi, uint64_t* out, std::string* why);

// 1/0, true/false, yes/no, on/off (lower case).
bool parse_bool(std::string_view text, bool* out, std::string* why);

// Octal digits only (a leading 0 allowed), at most 07777.
bool parse_octal_mode(std::string_view text, unsigned* out, std::string* why);

// A file or folder name: not empty, no control characters (a newline in a
// path is a pasting accident, and would break our log lines), shorter than
// PATH_MAX; with `absolute`, starting with '/'.
bool parse_path(std::string_view text, bool absolute, std::string* out, std::string* why);

// One of `choices`; *index is its position.
bool parse_choice(std::string_view text, std::initializer_list<const char*> choices, unsigned* index,
                  std::string* why);

}  // namespace vgpu::host
