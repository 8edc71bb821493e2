#include "auth/csrf.h"

#include <sodium.h>

#include "common/encoding.h"

namespace gatehouse::auth {
namespace {

constexpr std::size_t kBindingRandom = 18;
constexpr std::size_t kBindingMac = 16;
constexpr std::size_t kTokenMac = 32;
// A token from a clock a little ahead (another instance) is still accepted.
constexpr std::int64_t kClockSkew = 60;

std::string be64(std::int64_t v) {
  std::string out(8, '\0');
  auto u = static_cast<std::uint64_t>(v);
  for (int i = 7; i >= 0; --i, u >>= 8) out[static_cast<std::size_t>(i)] = static_cast<char>(u & 0xff);
  return out;
}

std::int64_t from_be64(std::string_view s) {
  std::uint64_t u = 0;
  for (unsigned char c : s.substr(0, 8)) u = (u << 8) | c;
  return static_cast<std::int64_t>(u);
}

}  // namespace

std::string CsrfGuard::mac(std::string_view purpose, std::string_view data, std::size_t bytes) const {
  unsigned char out[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key_.data(), key_.size());
  // The purpose and a separator keep a binding's MAC from ever serving as a token's.
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(purpose.data()), purpose.size());
  const unsigned char zero = 0;
  crypto_auth_hmacsha256_update(&st, &zero, 1);
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  crypto_auth_hmacsha256_final(&st, out);
  return std::string(reinterpret_cast<char*>(out), bytes);
}

std::string CsrfGuard::new_binding() const {
  const std::string random = random_bytes(kBindingRandom);
  return base64url_encode(random + mac("binding", random, kBindingMac));
}

bool CsrfGuard::issued(std::string_view binding) const {
  if (binding.size() > 64) return false;
  const auto raw = base64url_decode(binding);
  if (!raw || raw->size() != kBindingRandom + kBindingMac) return false;
  const std::string_view random = std::string_view(*raw).substr(0, kBindingRandom);
  return constant_time_equal(mac("binding", random, kBindingMac), std::string_view(*raw).substr(kBindingRandom));
}

std::string CsrfGuard::token_for(std::string_view binding) const {
  if (!issued(binding)) return {};
  const std::string when = be64(clock_.now());
  return base64url_encode(when + mac("token", when + std::string(binding), kTokenMac));
}

bool CsrfGuard::verify(std::string_view binding, std::string_view token) const {
  if (!issued(binding) || token.size() > 128) return false;
  const auto raw = base64url_decode(token);
  if (!raw || raw->size() != 8 + kTokenMac) return false;
  const std::string_view when = std::string_view(*raw).substr(0, 8);
  if (!constant_time_equal(mac("token", std::string(when) + std::string(binding), kTokenMac),
                           std::string_view(*raw).substr(8)))
    return false;
  const std::int64_t made = from_be64(when), now = clock_.now();
  return made <= now + kClockSkew && now - made < kCsrfTokenLifetime;
}

}  // namespace gatehouse::auth
