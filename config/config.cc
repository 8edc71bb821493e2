// Value parsers of the configuration: durations, URLs, listen addresses. The TOML file
// itself is read and validated in loader.cc.
#include "config/config.h"

#include <charconv>
#include <cstdint>
#include <limits>

namespace gatehouse::config {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// A port of one to five digits; min_port..65535.
std::optional<std::uint16_t> parse_port(std::string_view digits, unsigned min_port) {
  if (digits.empty() || digits.size() > 5) return std::nullopt;
  for (char c : digits)
    if (!is_digit(c)) return std::nullopt;
  unsigned value = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || p != digits.data() + digits.size()) return std::nullopt;
  if (value < min_port || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

// reg-name restricted to what host names really use: letters, digits, '.', '-', '_'.
// A name made of digits and dots only must be a valid IPv4 address ("999.1.1.1" is not).
bool valid_reg_name(std::string_view host) {
  if (host.empty()) return false;
  bool numeric = true;
  for (char c : host) {
    if (is_alpha(c) || c == '-' || c == '_') {
      numeric = false;
    } else if (!is_digit(c) && c != '.') {
      return false;
    }
  }
  if (numeric) {
    auto ip = IpAddress::parse(host);
    return ip && !ip->v6;
  }
  return true;
}

// RFC 3986 path characters: unreserved, sub-delims, ':', '@', '/', and %XX escapes.
bool valid_path(std::string_view path) {
  static constexpr std::string_view allowed_punct = "-._~!$&'()*+,;=:@/";
  for (std::size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '%') {
      if (i + 2 >= path.size() || !is_hex(path[i + 1]) || !is_hex(path[i + 2])) return false;
      i += 2;
      continue;
    }
    if (is_alpha(c) || is_digit(c) || allowed_punct.find(c) != std::string_view::npos) continue;
    return false;
  }
  return true;
}

std::uint16_t default_port(std::string_view scheme) { return scheme == "https" ? 443 : 80; }

}  // namespace

std::optional<Seconds> parse_duration(std::string_view text) {
  if (text.size() < 2) return std::nullopt;
  std::int64_t unit = 0;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    default:
      return std::nullopt;
  }
  std::string_view digits = text.substr(0, text.size() - 1);
  for (char c : digits)
    if (!is_digit(c)) return std::nullopt;
  std::int64_t value = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || p != digits.data() + digits.size()) return std::nullopt;
  if (value > std::numeric_limits<Seconds::rep>::max() / unit) return std::nullopt;
  return Seconds(value * unit);
}

std::string format_duration(Seconds d) {
  auto n = d.count();
  if (n < 0) {
    if (n == std::numeric_limits<Seconds::rep>::min()) return std::to_string(n) + "s";
    return "-" + format_duration(Seconds(-n));
  }
  if (n == 0) return "0s";
  if (n % 86400 == 0) return std::to_string(n / 86400) + "d";
  if (n % 3600 == 0) return std::to_string(n / 3600) + "h";
  if (n % 60 == 0) return std::to_string(n / 60) + "m";
  return std::to_string(n) + "s";
}

std::string Url::origin() const {
  std::string out = scheme + "://";
  if (host.find(':') != std::string::npos) {
    out += "[" + host + "]";
  } else {
    out += host;
  }
  if (port != 0 && port != default_port(scheme)) out += ":" + std::to_string(port);
  return out;
}

namespace {

struct Authority {
  std::string host;  // lower-cased, IPv6 without brackets
  std::optional<std::uint16_t> port;
};

// "host[:port]" or "[v6]:port" of a URL, without userinfo.
std::optional<Authority> parse_authority(std::string_view authority) {
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view host;
  std::string_view port_text;
  bool has_port = false;
  if (authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    if (host.find(':') == std::string_view::npos || !IpAddress::parse(host)) return std::nullopt;
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
    if (!valid_reg_name(host)) return std::nullopt;
  }
  Authority out;
  if (has_port) {
    out.port = parse_port(port_text, 1);
    if (!out.port) return std::nullopt;
  }
  out.host.reserve(host.size());
  for (char c : host) out.host += to_lower(c);
  return out;
}

// No spaces, control characters or non-ASCII anywhere; no query or fragment.
bool plain_url_text(std::string_view text) {
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
    if (c == '?' || c == '#') return false;
  }
  return true;
}

}  // namespace

std::optional<Url> Url::parse(std::string_view text) {
  if (!plain_url_text(text)) return std::nullopt;
  Url url;
  std::string_view rest;
  if (text.starts_with("http://")) {
    url.scheme = "http";
    rest = text.substr(7);
  } else if (text.starts_with("https://")) {
    url.scheme = "https";
    rest = text.substr(8);
  } else {
    return std::nullopt;
  }
  auto slash = rest.find('/');
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  auto authority = parse_authority(rest.substr(0, slash));
  if (!authority || !valid_path(path)) return std::nullopt;
  url.host = std::move(authority->host);
  url.port = authority->port.value_or(default_port(url.scheme));
  url.path = std::string(path);
  return url;
}

std::optional<LdapUri> LdapUri::parse(std::string_view text) {
  if (!plain_url_text(text)) return std::nullopt;
  LdapUri uri;
  std::string_view rest;
  if (text.starts_with("ldap://")) {
    rest = text.substr(7);
  } else if (text.starts_with("ldaps://")) {
    uri.tls = true;
    rest = text.substr(8);
  } else {
    return std::nullopt;
  }
  if (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos) return std::nullopt;
  auto authority = parse_authority(rest);
  if (!authority) return std::nullopt;
  uri.host = std::move(authority->host);
  uri.port = authority->port.value_or(uri.tls ? 636 : 389);
  uri.text = std::string(text);
  return uri;
}

bool LdapUri::is_loopback() const {
  if (host == "localhost") return true;
  static const Cidr v4 = *Cidr::parse("127.0.0.0/8");
  static const Cidr v6 = *Cidr::parse("::1/128");
  auto ip = IpAddress::parse(host);
  return ip && (v4.contains(*ip) || v6.contains(*ip));
}

std::optional<ListenAddress> ListenAddress::parse(std::string_view text) {
  if (text.empty()) return std::nullopt;
  ListenAddress out;
  std::string_view port_text;
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    auto host = text.substr(1, close - 1);
    if (host.find(':') == std::string_view::npos || !IpAddress::parse(host)) return std::nullopt;
    auto after = text.substr(close + 1);
    if (after.empty() || after.front() != ':') return std::nullopt;
    out.host = std::string(host);
    port_text = after.substr(1);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    auto host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // IPv6 needs brackets
    if (host.empty()) {
      out.host = "0.0.0.0";
    } else {
      auto ip = IpAddress::parse(host);
      if (!ip || ip->v6) return std::nullopt;
      out.host = std::string(host);
    }
    port_text = text.substr(colon + 1);
  }
  auto port = parse_port(port_text, 0);
  if (!port) return std::nullopt;
  out.port = *port;
  return out;
}

std::string RouteConfig::id() const { return host + path_prefix; }

std::string ConfigError::to_string() const {
  return file + ":" + std::to_string(line) + ": " + message;
}

}  // namespace gatehouse::config
