#include "auth/identity_headers.h"

#include "common/text.h"

namespace gatehouse::auth {
namespace {

template <class F>
void for_each_cookie(std::string_view header, F&& f) {
  while (!header.empty()) {
    auto semi = header.find(';');
    auto part = header.substr(0, semi);
    auto eq = part.find('=');
    auto name = trim_blanks(part.substr(0, eq));
    auto value = eq == std::string_view::npos ? std::string_view{} : trim_blanks(part.substr(eq + 1));
    if (!f(part, name, value)) return;
    if (semi == std::string_view::npos) break;
    header.remove_prefix(semi + 1);
  }
}

}  // namespace

bool is_identity_header(std::string_view name) {
  static constexpr std::string_view prefix = "x-gatehouse-";
  if (name.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = name[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c == '_') c = '-';
    if (c != prefix[i]) return false;
  }
  return true;
}

std::string strip_cookie(std::string_view cookie_header, std::string_view cookie_name) {
  std::string out;
  for_each_cookie(cookie_header, [&](std::string_view part, std::string_view name, std::string_view) {
    auto t = trim_blanks(part);
    if (name != cookie_name && !t.empty()) {
      if (!out.empty()) out += "; ";
      out += t;
    }
    return true;
  });
  return out;
}

std::string_view find_cookie(std::string_view cookie_header, std::string_view cookie_name) {
  std::string_view found;
  for_each_cookie(cookie_header, [&](std::string_view, std::string_view name, std::string_view value) {
    if (name == cookie_name) {
      found = value;
      return false;
    }
    return true;
  });
  return found;
}

}  // namespace gatehouse::auth
