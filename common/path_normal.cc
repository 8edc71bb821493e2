#include "common/path_normal.h"

#include <vector>

#include "common/text.h"

namespace gatehouse {
namespace {

// RFC 3986 5.2.4 on a path whose slashes are already merged.
std::string remove_dot_segments(std::string_view in) {
  std::vector<std::string_view> out;
  bool trailing_slash = false;
  std::size_t i = 1;  // in[0] == '/'
  while (i <= in.size()) {
    std::size_t j = in.find('/', i);
    if (j == std::string_view::npos) j = in.size();
    std::string_view seg = in.substr(i, j - i);
    bool last = j == in.size();
    if (seg == ".") {
      trailing_slash = last;
    } else if (seg == "..") {
      if (!out.empty()) out.pop_back();
      trailing_slash = last;
    } else {
      out.push_back(seg);
      trailing_slash = false;
    }
    i = j + 1;
  }
  std::string result;
  for (auto s : out) {
    result += '/';
    result += s;
  }
  if (result.empty() || trailing_slash) result += '/';
  return result;
}

}  // namespace

std::optional<std::string> normalise_path(std::string_view path) {
  if (path.empty() || path[0] != '/') return std::nullopt;
  std::string decoded;
  decoded.reserve(path.size());
  for (std::size_t i = 0; i < path.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(path[i]);
    if (c < 0x21 || c == 0x7f || c == '\\' || c == '#' || c >= 0x80) return std::nullopt;
    if (c != '%') {
      // Merge repeated slashes as we go.
      if (c == '/' && !decoded.empty() && decoded.back() == '/') continue;
      decoded += static_cast<char>(c);
      continue;
    }
    if (i + 2 >= path.size()) return std::nullopt;
    int hi = hex_value(path[i + 1]), lo = hex_value(path[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    unsigned char v = static_cast<unsigned char>(hi * 16 + lo);
    i += 2;
    if (v == '/' || v == '\\' || v < 0x20 || v == 0x7f) return std::nullopt;
    if (is_unreserved(v)) {
      decoded += static_cast<char>(v);
    } else {
      static constexpr char digits[] = "0123456789ABCDEF";
      decoded += '%';
      decoded += digits[v >> 4];
      decoded += digits[v & 15];
    }
  }
  return remove_dot_segments(decoded);
}

}  // namespace gatehouse
