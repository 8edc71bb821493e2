// Value parsers of the configuration: durations, URLs, listen addresses. The TOML file
// itself is read and validated in loader.cc.
#include "config/config.h"

#include <charconv>
#include <cstdint>
#include <cstdio>
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

namespace {

// Seconds per unit of a duration's last character; 0 for anything else.
std::int64_t duration_unit(char c) {
  switch (c) {
    case 's': return 1;
    case 'm': return 60;
    case 'h': return 3600;
    case 'd': return 86400;
    default: return 0;
  }
}

}  // namespace

bool looks_like_duration(std::string_view text) {
  if (text.size() < 2 || duration_unit(text.back()) == 0) return false;
  for (char c : text.substr(0, text.size() - 1))
    if (!is_digit(c)) return false;
  return true;
}

std::optional<Seconds> parse_duration(std::string_view text) {
  if (!looks_like_duration(text)) return std::nullopt;
  const std::int64_t unit = duration_unit(text.back());
  std::int64_t value = 0;
  for (char c : text.substr(0, text.size() - 1)) {
    if (__builtin_mul_overflow(value, 10, &value) || __builtin_add_overflow(value, c - '0', &value))
      return std::nullopt;
  }
  std::int64_t seconds = 0;
  if (__builtin_mul_overflow(value, unit, &seconds) || seconds > kMaxDuration.count()) return std::nullopt;
  return Seconds(seconds);
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

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

unsigned days_in_month(std::int64_t y, unsigned m) {
  static constexpr unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : days[m - 1];
}

// Exactly `n` digits at text[pos…]; advances pos.
std::optional<unsigned> fixed_digits(std::string_view text, std::size_t& pos, std::size_t n) {
  if (pos + n > text.size()) return std::nullopt;
  unsigned value = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = text[pos + i];
    if (!is_digit(c)) return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  pos += n;
  return value;
}

bool expect(std::string_view text, std::size_t& pos, std::string_view one_of) {
  if (pos >= text.size() || one_of.find(text[pos]) == std::string_view::npos) return false;
  ++pos;
  return true;
}

}  // namespace

std::optional<std::int64_t> parse_rfc3339(std::string_view text) {
  std::size_t pos = 0;
  auto year = fixed_digits(text, pos, 4);
  if (!year || !expect(text, pos, "-")) return std::nullopt;
  auto month = fixed_digits(text, pos, 2);
  if (!month || *month < 1 || *month > 12 || !expect(text, pos, "-")) return std::nullopt;
  auto day = fixed_digits(text, pos, 2);
  if (!day || *day < 1 || *day > days_in_month(*year, *month)) return std::nullopt;
  if (!expect(text, pos, "Tt")) return std::nullopt;
  auto hour = fixed_digits(text, pos, 2);
  if (!hour || *hour > 23 || !expect(text, pos, ":")) return std::nullopt;
  auto minute = fixed_digits(text, pos, 2);
  if (!minute || *minute > 59 || !expect(text, pos, ":")) return std::nullopt;
  auto second = fixed_digits(text, pos, 2);
  if (!second || *second > 60) return std::nullopt;  // 60: a leap second
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    const std::size_t start = pos;
    while (pos < text.size() && is_digit(text[pos])) ++pos;
    if (pos == start) return std::nullopt;
  }
  std::int64_t offset = 0;
  if (expect(text, pos, "Zz")) {
    // UTC
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const bool minus = text[pos++] == '-';
    auto oh = fixed_digits(text, pos, 2);
    if (!oh || *oh > 23 || !expect(text, pos, ":")) return std::nullopt;
    auto om = fixed_digits(text, pos, 2);
    if (!om || *om > 59) return std::nullopt;
    offset = (minus ? -1 : 1) * static_cast<std::int64_t>(*oh * 3600 + *om * 60);
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  return days_from_civil(*year, *month, *day) * 86400 + *hour * 3600 + *minute * 60 + *second -
         offset;
}

std::string format_rfc3339(std::int64_t unix_seconds) {
  // civil_from_days, the inverse of days_from_civil.
  std::int64_t days = unix_seconds / 86400;
  std::int64_t rest = unix_seconds % 86400;
  if (rest < 0) {
    rest += 86400;
    --days;
  }
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ",
                static_cast<long long>(y), m, d, static_cast<long long>(rest / 3600),
                static_cast<long long>(rest / 60 % 60), static_cast<long long>(rest % 60));
  return buf;
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

bool is_loopback_host(std::string_view host) {
  if (host == "localhost") return true;
  static const Cidr v4 = *Cidr::parse("127.0.0.0/8");
  static const Cidr v6 = *Cidr::parse("::1/128");
  auto ip = IpAddress::parse(host);
  return ip && (v4.contains(*ip) || v6.contains(*ip));
}

bool LdapUri::is_loopback() const { return is_loopback_host(host); }

bool Url::is_loopback() const { return is_loopback_host(host); }

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

std::vector<Cidr> loopback_networks() { return {*Cidr::parse("127.0.0.1/32"), *Cidr::parse("::1/128")}; }

std::string RouteConfig::id() const { return host + path_prefix; }

const TenantConfig* Config::find_tenant(std::string_view name) const {
  for (const auto& t : tenants)
    if (t.name == name) return &t;
  return nullptr;
}

std::string ConfigError::to_string() const {
  return file + ":" + std::to_string(line) + ": " + message;
}

}  // namespace gatehouse::config
