#pragma once
// Shared helpers of the libFuzzer harnesses (docs/fuzzing.md).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

namespace gatehouse::fuzz {

// A violated property: say which, show the values involved (escaped), and stop the way
// libFuzzer recognises as a crash, so the input is saved.
[[noreturn]] inline void violated(const char* file, int line, const char* what, std::string_view detail) {
  std::fprintf(stderr, "\n%s:%d: property violated: %s\n", file, line, what);
  if (!detail.empty()) {
    std::string shown;
    for (unsigned char c : detail) {
      if (c >= 0x20 && c < 0x7f && c != '\\') {
        shown += static_cast<char>(c);
      } else {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", c);
        shown += buf;
      }
    }
    std::fprintf(stderr, "  %s\n", shown.c_str());
  }
  std::fflush(stderr);
  __builtin_trap();
}

// Properties that today's code is known to break, each tied to a finding (of issue 17,
// or of these harnesses: tests/fuzz/crashes/) that is to be fixed; checked only when
// GATEHOUSE_FUZZ_PENDING is set in the environment (tests/fuzz/run --pending). Once the
// fix lands, the check moves out of `if (pending())` and holds for good.
inline bool pending() {
  static const bool on = std::getenv("GATEHOUSE_FUZZ_PENDING") != nullptr;
  return on;
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// "first\nrest" -> {"first", "rest"}; without a newline: {"", text}.
inline std::pair<std::string_view, std::string_view> split_line(std::string_view text) {
  auto nl = text.find('\n');
  if (nl == std::string_view::npos) return {{}, text};
  return {text.substr(0, nl), text.substr(nl + 1)};
}

}  // namespace gatehouse::fuzz

#define FUZZ_CHECK(cond, detail)                                                  \
  do {                                                                            \
    if (!(cond)) ::gatehouse::fuzz::violated(__FILE__, __LINE__, #cond, (detail)); \
  } while (0)
