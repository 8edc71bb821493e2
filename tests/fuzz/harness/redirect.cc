// `rd` after sign-in (auth/redirect.h): safe_redirect, is_safe_redirect.
// Properties: the result is "/" or the input with its path in normal form (the input
// itself when that path was normal already); it is itself safe, so safe_redirect of it is
// itself; it starts with '/', not with "//" or "/\", has no control character or '\', and
// the same holds after each of up to three percent-decodings; resolving its dot segments
// the way a browser does (RFC 3986 5.2.4) does not give "//…" ("/..//evil", issue 17).
#include <vector>

#include "auth/redirect.h"
#include "common/path_normal.h"
#include "common/text.h"
#include "fuzz.h"

namespace {

using gatehouse::auth::is_safe_redirect;
using gatehouse::auth::safe_redirect;

void check_plain(std::string_view p, std::string_view shown) {
  FUZZ_CHECK(!p.empty() && p[0] == '/', shown);
  FUZZ_CHECK(p.size() == 1 || (p[1] != '/' && p[1] != '\\'), shown);
  for (unsigned char c : p) FUZZ_CHECK(c >= 0x20 && c != 0x7f && c != '\\', shown);
}

// RFC 3986 5.2.4 on the path part (before '?' or '#'), without merging slashes.
std::string remove_dot_segments(std::string_view path) {
  path = path.substr(0, path.find_first_of("?#"));
  std::vector<std::string_view> out;
  std::size_t i = 1;
  bool trailing = false;
  while (i <= path.size()) {
    auto j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    auto seg = path.substr(i, j - i);
    trailing = false;
    if (seg == ".") {
      trailing = true;
    } else if (seg == "..") {
      if (!out.empty()) out.pop_back();
      trailing = true;
    } else {
      out.push_back(seg);
    }
    i = j + 1;
  }
  std::string result;
  for (auto s : out) result += "/" + std::string(s);
  if (result.empty() || trailing) result += '/';
  return result;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto rd = gatehouse::fuzz::as_text(data, size);
  std::string out = safe_redirect(rd);
  FUZZ_CHECK(out == "/" || is_safe_redirect(rd), out);
  FUZZ_CHECK(is_safe_redirect(out), out);
  FUZZ_CHECK(safe_redirect(out) == out, out);
  const auto path_of = [](std::string_view v) { return v.substr(0, v.find_first_of("?#")); };
  const auto normal = gatehouse::normalise_path(path_of(out));
  FUZZ_CHECK(normal && *normal == path_of(out), out);
  if (is_safe_redirect(rd)) {
    const auto rd_normal = gatehouse::normalise_path(path_of(rd));
    if (rd_normal && *rd_normal == path_of(rd)) FUZZ_CHECK(out == rd, rd);
  }

  std::string current = out;
  for (int round = 0; round < 3; ++round) {
    check_plain(current, out);
    std::string decoded;
    for (std::size_t i = 0; i < current.size(); ++i) {
      if (current[i] == '%') {
        FUZZ_CHECK(i + 2 < current.size(), out);
        int hi = gatehouse::hex_value(current[i + 1]), lo = gatehouse::hex_value(current[i + 2]);
        FUZZ_CHECK(hi >= 0 && lo >= 0, out);
        decoded += static_cast<char>(hi * 16 + lo);
        i += 2;
      } else {
        decoded += current[i];
      }
    }
    if (decoded == current) break;
    current.swap(decoded);
  }
  check_plain(current, out);

  // Issue 17: "/..//evil" was accepted as is, and a browser resolves it to "//evil".
  FUZZ_CHECK(!remove_dot_segments(out).starts_with("//"), out);
  return 0;
}
