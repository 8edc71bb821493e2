#include "daemon/identity.h"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <vector>

#include "auth/identity_headers.h"
#include "common/text.h"
#include "config/config.h"

namespace gatehouse::daemon {
namespace {

bool iequals(std::string_view a, std::string_view b) { return beast::iequals(a, b); }

std::vector<std::string> connection_tokens(const http::fields& f) {
  std::vector<std::string> out;
  for (auto it = f.find(http::field::connection); it != f.end() && it->name() == http::field::connection; ++it) {
    std::string_view v = it->value();
    while (!v.empty()) {
      auto comma = v.find(',');
      const auto tok = trim_blanks(v.substr(0, comma));
      if (!tok.empty()) out.emplace_back(tok);
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return out;
}

bool listed(const std::vector<std::string>& tokens, std::string_view name) {
  for (const auto& t : tokens)
    if (iequals(t, name)) return true;
  return false;
}

// Group names joined with ','. A ',' or '%' inside a name is percent-encoded, so a
// directory group called "x,admins" can never read as membership of "admins".
std::string join_groups(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += ',';
    for (char c : s) {
      if (c == ',') {
        out += "%2C";
      } else if (c == '%') {
        out += "%25";
      } else {
        out += c;
      }
    }
  }
  return out;
}

}  // namespace

bool is_hop_by_hop(std::string_view name) {
  static constexpr std::string_view names[] = {
      "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
      "upgrade", "proxy-authorization", "proxy-authenticate"};
  for (auto n : names)
    if (iequals(n, name)) return true;
  return false;
}

std::string header_safe(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (unsigned char c : value) out += (c < 0x20 || c == 0x7f) ? ' ' : static_cast<char>(c);
  return out;
}

bool same_header_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto norm = [](char c) {
      if (c >= 'A' && c <= 'Z') return static_cast<char>(c - 'A' + 'a');
      return c == '_' ? '-' : c;
    };
    if (norm(a[i]) != norm(b[i])) return false;
  }
  return true;
}

void build_upstream_fields(const http::fields& client, http::fields& out, const ForwardInfo& fwd,
                           const auth::Principal* principal, std::string_view assertion,
                           const std::vector<std::string>& own_cookies, const std::vector<std::string>& injected) {
  const auto tokens = connection_tokens(client);
  for (const auto& f : client) {
    std::string_view name = f.name_string();
    if (is_hop_by_hop(name) || listed(tokens, name)) continue;
    if (auth::is_identity_header(name) || auth::is_forwarding_header(name)) continue;
    if (!injected.empty() &&
        std::any_of(injected.begin(), injected.end(), [&](const std::string& n) { return same_header_name(n, name); }))
      continue;
    switch (f.name()) {
      case http::field::host:
      case http::field::expect:
      case http::field::content_length:
        continue;
      case http::field::cookie: {
        // Names ending in '*' (the sign-in flow's, path-scoped to the callback) never
        // match a name here: strip_cookies compares whole names.
        std::string kept = auth::strip_cookies(f.value(), own_cookies);
        if (!kept.empty()) out.insert(http::field::cookie, kept);
        continue;
      }
      default:
        break;
    }
    out.insert(name, f.value());
  }
  // Set here, whatever Connection listed: an HTTP/1.1 request always has one.
  out.set(http::field::host, header_safe(fwd.host_header));
  out.set("X-Forwarded-For", fwd.forwarded_for);
  out.set("X-Forwarded-Proto", fwd.proto);
  if (!fwd.host.empty()) out.set("X-Forwarded-Host", header_safe(fwd.host));
  if (principal == nullptr) return;
  const auth::Principal& p = *principal;
  out.set("X-Gatehouse-User", header_safe(p.user.name));
  out.set("X-Gatehouse-Source", header_safe(p.user.source));
  out.set("X-Gatehouse-Email", header_safe(p.email));
  out.set("X-Gatehouse-Name", header_safe(p.display_name));
  out.set("X-Gatehouse-Groups", header_safe(join_groups(p.groups)));
  out.set("X-Gatehouse-Roles", header_safe(join_groups(p.roles)));
  out.set("X-Gatehouse-Real-Party", header_safe(p.real_party));
  out.set("X-Gatehouse-Effective-Party", header_safe(p.effective_party));
  out.set("X-Gatehouse-Delegation", p.delegation_text());
  out.set("X-Gatehouse-Delegation-Until",
          p.delegation_until == 0 ? std::string() : config::format_rfc3339(p.delegation_until));
  out.set("X-Gatehouse-Assertion", assertion);
}

void build_downstream_fields(const http::fields& upstream, http::fields& out,
                             const std::vector<std::string>& own_cookies) {
  const auto tokens = connection_tokens(upstream);
  for (const auto& f : upstream) {
    std::string_view name = f.name_string();
    if (is_hop_by_hop(name) || listed(tokens, name) || f.name() == http::field::content_length)
      continue;
    if (f.name() == http::field::set_cookie && auth::sets_cookie_of(f.value(), own_cookies)) continue;
    out.insert(name, f.value());
  }
}

}  // namespace gatehouse::daemon
