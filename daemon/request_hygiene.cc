#include "daemon/request_hygiene.h"

#include <cctype>

#include "common/host_name.h"
#include "common/net.h"
#include "common/path_normal.h"
#include "common/text.h"

namespace gatehouse::daemon {

std::optional<Target> normalise_target(std::string_view target) {
  // absolute-form (RFC 9112 3.2.2): the scheme is case-insensitive, an empty path is "/".
  auto lower_prefix = [&](std::string_view p) {
    if (target.size() < p.size()) return false;
    for (std::size_t i = 0; i < p.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(target[i])) != p[i]) return false;
    return true;
  };
  bool absolute_form = false;
  std::string_view authority;
  if (lower_prefix("http://") || lower_prefix("https://")) {
    absolute_form = true;
    auto scheme_end = target.find("://") + 3;
    auto path_start = target.find_first_of("/?", scheme_end);
    authority = target.substr(scheme_end, path_start == std::string_view::npos ? std::string_view::npos
                                                                                 : path_start - scheme_end);
    // No userinfo (RFC 9110 4.2.4), and the same rule as a Host header.
    if (!parse_host(authority)) return std::nullopt;
    target = path_start == std::string_view::npos ? std::string_view{} : target.substr(path_start);
  }
  auto q = target.find('?');
  std::string_view path_part = target.substr(0, q);
  if (absolute_form && path_part.empty()) path_part = "/";
  auto path = normalise_path(path_part);
  if (!path) return std::nullopt;
  Target t{std::move(*path), {}, std::string(authority)};
  if (q != std::string_view::npos) {
    t.query = std::string(target.substr(q + 1));
    for (unsigned char c : t.query)
      if (c < 0x21 || c == 0x7f || c == '#') return std::nullopt;
  }
  return t;
}

std::optional<std::string> parse_host(std::string_view value) {
  std::string_view host = value, port;
  std::string out;
  if (!value.empty() && value.front() == '[') {
    const auto close = value.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = value.substr(1, close - 1);
    const auto rest = value.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
      if (port.empty()) return std::nullopt;
    }
    // Hex digits, ':' and an IPv4 tail only: no zone identifier, nothing inet_pton forgives.
    if (host.find(':') == std::string_view::npos ||
        host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos)
      return std::nullopt;
    const auto ip = IpAddress::parse(host);
    if (!ip) return std::nullopt;
    out = ip->to_string();
  } else {
    const auto colon = value.find(':');
    if (colon != std::string_view::npos) {
      host = value.substr(0, colon);
      port = value.substr(colon + 1);
      if (port.empty()) return std::nullopt;
    }
    if (!host.empty() && host.back() == '.') host.remove_suffix(1);
    if (!is_dns_name(host)) return std::nullopt;
    out.reserve(host.size());
    for (char c : host) out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  if (!port.empty() && !valid_port(port)) return std::nullopt;
  return out;
}

bool valid_port(std::string_view digits) {
  if (digits.empty() || digits.size() > 5) return false;
  unsigned n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<unsigned>(c - '0');
  }
  return n >= 1 && n <= 65535;
}

}  // namespace gatehouse::daemon
