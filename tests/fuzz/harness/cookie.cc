// The Cookie header (auth/identity_headers.h): find_cookie and strip_cookie.
// Input: "NAME\nHEADER" (NAME a cookie-name token, as the config allows) or just HEADER
// (NAME = gatehouse_session).
// Properties: after strip_cookie no cookie of that name is left (neither find_cookie nor
// a split on ';' finds one); stripping again changes nothing; every other cookie is still
// found with the same value (when no ',' is in the header: a ',' may separate cookies,
// issue 17 finding 9); find_cookie returns a trimmed piece of the header without ';'.
// No cookie of that name in any case is left when ',' separates cookies either.
#include <cctype>
#include <vector>

#include "auth/identity_headers.h"
#include "common/text.h"
#include "fuzz.h"

namespace {

using gatehouse::auth::find_cookie;
using gatehouse::auth::strip_cookie;

bool token(std::string_view name) {
  static constexpr std::string_view punct = "!#$%&'*+-.^_`|~";
  if (name.empty()) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              punct.find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// Cookie names in `header`, split on any of `separators`.
std::vector<std::string_view> names(std::string_view header, std::string_view separators) {
  std::vector<std::string_view> out;
  while (true) {
    auto sep = header.find_first_of(separators);
    auto part = header.substr(0, sep);
    out.push_back(gatehouse::trim_blanks(part.substr(0, part.find('='))));
    if (sep == std::string_view::npos) break;
    header.remove_prefix(sep + 1);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto [name, header] = gatehouse::fuzz::split_line(gatehouse::fuzz::as_text(data, size));
  if (name.empty()) name = "gatehouse_session";
  if (!token(name)) return 0;

  auto found = find_cookie(header, name);
  if (!found.empty()) {
    FUZZ_CHECK(found.data() >= header.data() && found.data() + found.size() <= header.data() + header.size(), found);
    FUZZ_CHECK(found.find(';') == std::string_view::npos, found);
    FUZZ_CHECK(gatehouse::trim_blanks(found) == found, found);
  }

  std::string stripped = strip_cookie(header, name);
  FUZZ_CHECK(find_cookie(stripped, name).empty(), stripped);
  const std::string_view stripped_name = name;  // clang 14 cannot capture a structured binding
  auto same_name = [stripped_name](std::string_view n) {
    if (n.size() != stripped_name.size()) return false;
    for (std::size_t i = 0; i < n.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(n[i])) !=
          std::tolower(static_cast<unsigned char>(stripped_name[i])))
        return false;
    return true;
  };
  for (auto n : names(stripped, ";,")) FUZZ_CHECK(!same_name(n), stripped);
  FUZZ_CHECK(strip_cookie(stripped, name) == stripped, stripped);
  if (header.find(',') == std::string_view::npos) {
    for (auto other : names(header, ";")) {
      if (same_name(other) || !token(other)) continue;
      FUZZ_CHECK(find_cookie(stripped, other) == find_cookie(header, other), std::string(other) + " in " + stripped);
    }
  }
  return 0;
}
