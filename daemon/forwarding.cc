#include "daemon/forwarding.h"

#include "common/text.h"
#include "daemon/request_hygiene.h"

namespace gatehouse::daemon {

std::optional<IpAddress> parse_forwarded_address(std::string_view e) {
  if (e.empty()) return std::nullopt;
  if (e.front() == '[') {
    const auto close = e.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const auto rest = e.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !valid_port(rest.substr(1)))) return std::nullopt;
    const auto inner = e.substr(1, close - 1);
    if (inner.find(':') == std::string_view::npos) return std::nullopt;  // "[192.0.2.1]" is no IPv6 literal
    return IpAddress::parse(inner);
  }
  const auto colon = e.find(':');
  if (colon != std::string_view::npos && e.find(':', colon + 1) == std::string_view::npos) {
    // "192.0.2.1:5555": one colon is an IPv4 address with a port (no IPv6 has one colon).
    auto ip = IpAddress::parse(e.substr(0, colon));
    if (!ip || ip->v6 || !valid_port(e.substr(colon + 1))) return std::nullopt;
    return ip;
  }
  return IpAddress::parse(e);
}

ForwardInfo forward_info(const http::fields& f, const std::string& peer, const std::optional<IpAddress>& peer_ip,
                         const config::ServerConfig& server, bool tls, std::string_view host_header) {
  ForwardInfo out;
  auto trusted = [&](const std::optional<IpAddress>& ip) {
    if (!ip) return false;
    for (const auto& c : server.trusted_proxies)
      if (c.contains(*ip)) return true;
    return false;
  };
  out.proto = tls ? "https" : "http";
  // HTTP/1.0 without Host: the application still gets one, the name gatehouse is known by.
  if (!host_header.empty()) {
    out.host_header = std::string(host_header);
  } else {
    const auto origin = server.public_url.origin();
    out.host_header = origin.substr(origin.find("://") + 3);
  }
  out.host = out.host_header;
  out.client_address = peer;
  out.forwarded_for = peer;
  if (!trusted(peer_ip)) return out;

  std::string xff;
  bool xff_present = false;
  for (auto it = f.begin(); it != f.end(); ++it) {
    if (!beast::iequals(it->name_string(), "X-Forwarded-For")) continue;
    if (xff_present) xff += ", ";
    xff += trim_blanks(it->value());
    xff_present = true;
  }
  if (xff_present) {
    out.forwarded_for = xff.empty() ? peer : xff + ", " + peer;
    // The real client is the rightmost address that is not one of our proxies. An element
    // that cannot be read ends the walk with an unknown client: never the proxy itself.
    out.client_address = std::string(kUnknownClient);
    std::string_view rest = xff;
    for (;;) {
      const auto comma = rest.rfind(',');
      const auto element = trim_blanks(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
      const auto ip = parse_forwarded_address(element);
      if (!ip) {
        out.client_address = std::string(kUnknownClient);
        break;
      }
      out.client_address = ip->to_string();
      if (!trusted(ip) || comma == std::string_view::npos) break;
      rest = rest.substr(0, comma);
    }
  }
  if (auto p = f["X-Forwarded-Proto"]; p == "https" || p == "http") out.proto = std::string(p);
  if (auto h = trim_blanks(f["X-Forwarded-Host"]); !h.empty() && parse_host(h)) out.host = std::string(h);
  return out;
}

}  // namespace gatehouse::daemon
