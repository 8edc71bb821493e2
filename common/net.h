#pragma once
// IP addresses and CIDR networks (trusted proxies, later whitelists and metrics ACLs).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse {

struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // v4 uses the first 4 bytes

  static std::optional<IpAddress> parse(std::string_view text);
  std::string to_string() const;
  bool operator==(const IpAddress&) const = default;
};

struct Cidr {
  IpAddress network;
  int prefix = 0;

  // "10.0.0.0/8", "::1/128", or a bare address (host route).
  static std::optional<Cidr> parse(std::string_view text);
  bool contains(const IpAddress& ip) const;
  std::string to_string() const;
};

}  // namespace gatehouse
