#include "common/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>

namespace gatehouse::log {
namespace {
std::atomic<int> min_level{static_cast<int>(Level::info)};
std::atomic<Format> format{Format::kv};
std::mutex out_mu;
Sink sink;  // guarded by out_mu

// A bidirectional-control character (U+061C, U+200E, U+200F, U+202A-U+202E,
// U+2066-U+2069) encoded in UTF-8 at s[i]: its length in bytes, else 0. Written raw,
// one of them reorders what a terminal or log viewer shows after it, so a value could
// make the rest of its line read differently from what it holds.
std::size_t bidi_control_at(std::string_view s, std::size_t i, unsigned& code_point) {
  auto byte = [&](std::size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  if (byte(0) == 0xd8 && byte(1) == 0x9c) {
    code_point = 0x061c;
    return 2;
  }
  if (byte(0) != 0xe2) return 0;
  const unsigned cp = 0x2000u | ((byte(1) & 0x3fu) << 6) | (byte(2) & 0x3fu);
  if ((byte(1) & 0xc0u) != 0x80u || (byte(2) & 0xc0u) != 0x80u) return 0;
  if (cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)) {
    code_point = cp;
    return 3;
  }
  return 0;
}

// Every bidirectional-control character in `text` replaced by "\uXXXX": the escape
// both formats read (a JSON string; a kv value, like its "\xNN").
std::string escape_bidi(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    unsigned cp = 0;
    if (std::size_t n = bidi_control_at(text, i, cp); n != 0) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      out += buf;
      i += n;
    } else {
      out += text[i++];
    }
  }
  return out;
}

// "2026-11-24T10:00:00.123Z"
std::string utc_timestamp() {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms % 1000));
  return buf;
}

std::string kv_line(Level level, std::string_view name, std::initializer_list<Field> fields) {
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
  return line;
}

std::string json_line(Level level, std::string_view name, std::initializer_list<Field> fields) {
  // ordered_json keeps the members in the order written: ts, level, event, fields.
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  j["ts"] = utc_timestamp();
  j["level"] = level_name(level);
  j["event"] = name;
  for (const auto& [k, v] : fields) {
    std::string key(k);
    if (key == "ts" || key == "level" || key == "event") key.insert(0, "field_");
    j[key] = v;
  }
  // replace: invalid UTF-8 from a client (a user name, a path) becomes U+FFFD instead
  // of an exception.
  // Outside strings a JSON text is ASCII, so every bidi character found is inside a
  // string, where its \u escape means the same character to a JSON reader.
  std::string line = escape_bidi(j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
  line += '\n';
  return line;
}
}  // namespace

void set_min_level(Level level) { min_level = static_cast<int>(level); }
void set_format(Format f) { format = f; }

std::string_view level_name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warning: return "warning";
    case Level::error: return "error";
  }
  return "info";
}

std::optional<Level> parse_level(std::string_view text) {
  for (Level l : {Level::debug, Level::info, Level::warning, Level::error})
    if (text == level_name(l)) return l;
  return std::nullopt;
}

std::string_view format_name(Format f) { return f == Format::json ? "json" : "kv"; }

std::optional<Format> parse_format(std::string_view text) {
  for (Format f : {Format::kv, Format::json})
    if (text == format_name(f)) return f;
  return std::nullopt;
}

void set_sink(Sink s) {
  std::lock_guard lock(out_mu);
  sink = std::move(s);
}

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
  return escape_bidi(out);
}

void event(Level level, std::string_view name, std::initializer_list<Field> fields) {
  if (static_cast<int>(level) < min_level.load(std::memory_order_relaxed)) return;
  const std::string line = format.load(std::memory_order_relaxed) == Format::json
                               ? json_line(level, name, fields)
                               : kv_line(level, name, fields);
  std::lock_guard lock(out_mu);
  if (sink) {
    sink(line);
  } else {
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
}

}  // namespace gatehouse::log
