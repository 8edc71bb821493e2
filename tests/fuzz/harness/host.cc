// The Host header (daemon/request_hygiene.h): parse_host, which returns nullopt for
// anything but host[:port] (issue 17, finding 1).
//
// Always: the result has no upper-case ASCII letter, no trailing '.', and (unless an
// IPv6 address, given back in canonical form) is no longer than the header.
// And the result is a DNS name (letters, digits, '-', '.'), an IPv4 address or an IPv6 address,
// and normalising it again (bracketed if it has a ':') gives it back unchanged.
#include <optional>
#include <type_traits>

#include "daemon/request_hygiene.h"
#include "fuzz.h"

namespace {

auto parse(std::string_view header) { return gatehouse::daemon::parse_host(header); }

template <class T>
std::optional<std::string> as_optional(T&& result) {
  return std::optional<std::string>(std::forward<T>(result));
}

constexpr bool kCanRefuse = !std::is_same_v<decltype(parse(std::string_view{})), std::string>;

bool dns_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}
bool ipv6_char(char c) { return (c >= 'a' && c <= 'f') || (c >= '0' && c <= '9') || c == ':' || c == '.'; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto input = gatehouse::fuzz::as_text(data, size);
  auto host = as_optional(parse(input));
  if (!host) return 0;
  const std::string& h = *host;

  // An IPv6 address comes back in its canonical text, which may be longer ("[::1.0.1]").
  FUZZ_CHECK(h.size() <= input.size() || h.find(':') != std::string::npos, h);
  for (char c : h) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'), h);
  FUZZ_CHECK(h.empty() || h.back() != '.', h);

  if (kCanRefuse) {
    bool v6 = h.find(':') != std::string::npos;
    FUZZ_CHECK(!h.empty(), input);
    for (char c : h) FUZZ_CHECK(v6 ? ipv6_char(c) : dns_char(c), h);
    auto again = as_optional(parse(v6 ? "[" + h + "]" : h));
    FUZZ_CHECK(again && *again == h, h);
  }
  return 0;
}
