#include "common/log.h"

#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace gatehouse::log {
namespace {
std::atomic<int> min_level{static_cast<int>(Level::info)};
std::mutex out_mu;
const char* level_name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warning: return "warning";
    case Level::error: return "error";
  }
  return "info";
}
}  // namespace

void set_min_level(Level level) { min_level = static_cast<int>(level); }

std::string quote(std::string_view v) {
  bool plain = !v.empty();
  for (unsigned char c : v)
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f) plain = false;
  if (plain) return std::string(v);
  std::string out = "\"";
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

void event(Level level, std::string_view name, std::initializer_list<Field> fields) {
  if (static_cast<int>(level) < min_level.load(std::memory_order_relaxed)) return;
  std::string line = "level=";
  line += level_name(level);
  line += " event=";
  line += quote(name);
  for (const auto& [k, v] : fields) {
    line += ' ';
    line += k;
    line += '=';
    line += quote(v);
  }
  line += '\n';
  std::lock_guard lock(out_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace gatehouse::log
