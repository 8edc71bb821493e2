#include "auth/redirect.h"

#include <cctype>

#include "common/path_normal.h"
#include "common/text.h"

namespace gatehouse::auth {
namespace {

// Decodes %XX; returns false on a malformed escape.
bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

bool plain_path_ok(std::string_view p) {
  if (p.empty() || p[0] != '/') return false;
  if (p.size() > 1 && (p[1] == '/' || p[1] == '\\')) return false;
  for (unsigned char c : p)
    if (c < 0x20 || c == 0x7f || c == '\\') return false;
  return true;
}

}  // namespace

bool is_safe_redirect(std::string_view rd) {
  if (rd.size() > 2048) return false;
  // Check the value and its decodings: a browser or an application behind us may
  // decode once more before acting on it.
  std::string current(rd), decoded;
  for (int round = 0; round < 3; ++round) {
    if (!plain_path_ok(current)) return false;
    if (current.find('%') == std::string::npos) return true;
    if (!percent_decode(current, decoded)) return false;
    current.swap(decoded);
  }
  return plain_path_ok(current) && current.find('%') == std::string::npos;
}

std::string safe_redirect(std::string_view rd) {
  if (!is_safe_redirect(rd)) return "/";
  // The path in the normal form of request paths: a browser resolves dot segments, and
  // "/..//evil" must not become "//evil". The query (and a fragment) stay as they are.
  const auto end = rd.find_first_of("?#");
  auto path = normalise_path(rd.substr(0, end));
  if (!path) return "/";
  if (end != std::string_view::npos) *path += rd.substr(end);
  // Removing a segment can join what it kept apart: "/./%252f%52f" becomes "/%252fRf",
  // which decodes to "//Rf". The normal form is held to the same rule.
  return is_safe_redirect(*path) ? *path : std::string("/");
}

}  // namespace gatehouse::auth
