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

// Lower case, '_' read as '-'.
std::string header_key(std::string_view name) {
  std::string out(name);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c == '_') c = '-';
  }
  return out;
}

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// A cookie name as an application might read it: without blanks and quotes around it.
std::string_view bare_name(std::string_view pair) {
  auto name = trim_blanks(pair.substr(0, pair.find('=')));
  while (!name.empty() && name.front() == '"') name.remove_prefix(1);
  while (!name.empty() && name.back() == '"') name.remove_suffix(1);
  return trim_blanks(name);
}

}  // namespace

bool is_forwarding_header(std::string_view name) {
  static constexpr std::string_view exact[] = {
      "forwarded",        "x-forwarded",       "x-real-ip",         "true-client-ip",   "client-ip",
      "x-client-ip",      "x-cluster-client-ip", "x-original-url",  "x-rewrite-url",    "x-original-host",
      "x-host",           "x-originating-ip",  "x-remote-ip",       "x-remote-addr",    "cf-connecting-ip",
      "fastly-client-ip"};
  const std::string key = header_key(name);
  if (key.starts_with("x-forwarded-")) return true;
  for (auto e : exact)
    if (key == e) return true;
  return false;
}

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

std::string strip_cookies(std::string_view cookie_header, const std::vector<std::string>& cookie_names) {
  auto ours = [&](std::string_view piece) {
    const auto name = bare_name(piece);
    for (const auto& n : cookie_names)
      if (iequal(name, n)) return true;
    return false;
  };
  std::string out;
  for_each_cookie(cookie_header, [&](std::string_view part, std::string_view, std::string_view) {
    // Within one ';'-separated part, ',' may separate further pairs: drop ours, keep the
    // rest as written ("a=1,2" stays whole).
    std::string kept;
    std::string_view rest = part;
    bool dropped = false;
    for (;;) {
      const auto comma = rest.find(',');
      const auto piece = rest.substr(0, comma);
      if (ours(piece)) {
        dropped = true;
      } else {
        if (!kept.empty()) kept += ',';
        kept += piece;
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    const auto t = trim_blanks(dropped ? std::string_view(kept) : part);
    if (!t.empty()) {
      if (!out.empty()) out += "; ";
      out += t;
    }
    return true;
  });
  return out;
}

std::string strip_cookie(std::string_view cookie_header, std::string_view cookie_name) {
  return strip_cookies(cookie_header, {std::string(cookie_name)});
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

void find_cookie_values(std::string_view cookie_header, std::string_view cookie_name, std::vector<std::string>& out) {
  for_each_cookie(cookie_header, [&](std::string_view, std::string_view name, std::string_view value) {
    if (name == cookie_name) out.emplace_back(value);
    return true;
  });
}

bool sets_cookie_of(std::string_view set_cookie, const std::vector<std::string>& names) {
  auto starts_with = [](std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && iequal(s.substr(0, prefix.size()), prefix);
  };
  // The name without a __Host- or __Secure- prefix, which only adds browser rules.
  auto unprefixed = [&](std::string_view s) {
    for (std::string_view prefix : {std::string_view("__host-"), std::string_view("__secure-")})
      if (s.size() > prefix.size() && starts_with(s, prefix)) s.remove_prefix(prefix.size());
    return s;
  };
  const auto name = unprefixed(bare_name(set_cookie.substr(0, set_cookie.find(';'))));
  for (const auto& n : names) {
    std::string_view own = n;
    if (own.ends_with('*')) {  // a family of names: "gatehouse_oidc_*"
      own.remove_suffix(1);
      if (starts_with(name, own)) return true;
    } else if (iequal(name, unprefixed(own))) {
      return true;
    }
  }
  return false;
}

}  // namespace gatehouse::auth
