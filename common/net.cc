#include "common/net.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace gatehouse {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  // inet_pton reads a C string: "1.2.3.4\0junk" must not pass as 1.2.3.4.
  if (text.find('\0') != std::string_view::npos) return std::nullopt;
  std::string s(text);
  IpAddress ip;
  if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) == 1) return ip;
  // IPv4-mapped IPv6 addresses are treated as the IPv4 address they carry.
  if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) == 1) {
    static const std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(ip.bytes.data(), mapped, 12) == 0) {
      IpAddress v4;
      std::memcpy(v4.bytes.data(), ip.bytes.data() + 12, 4);
      return v4;
    }
    ip.v6 = true;
    return ip;
  }
  return std::nullopt;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  auto slash = text.find('/');
  auto ip = IpAddress::parse(text.substr(0, slash));
  if (!ip) return std::nullopt;
  int max = ip->v6 ? 128 : 32;
  int prefix = max;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    if (digits.empty()) return std::nullopt;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (ec != std::errc() || p != digits.data() + digits.size() || prefix < 0 || prefix > max)
      return std::nullopt;
  }
  Cidr c{*ip, prefix};
  // Normalise host bits away so that 10.1.2.3/8 means 10.0.0.0/8.
  for (int bit = prefix; bit < max; ++bit) c.network.bytes[bit / 8] &= ~(0x80 >> (bit % 8));
  return c;
}

bool Cidr::contains(const IpAddress& ip) const {
  if (ip.v6 != network.v6) return false;
  int full = prefix / 8;
  if (std::memcmp(ip.bytes.data(), network.bytes.data(), full) != 0) return false;
  int rest = prefix % 8;
  if (rest == 0) return true;
  std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (ip.bytes[full] & mask) == (network.bytes[full] & mask);
}

std::string Cidr::to_string() const { return network.to_string() + "/" + std::to_string(prefix); }

}  // namespace gatehouse
