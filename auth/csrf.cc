#include "auth/csrf.h"

#include <sodium.h>

#include "common/encoding.h"

namespace gatehouse::auth {

std::string CsrfGuard::new_binding() const { return base64url_encode(random_bytes(24)); }

std::string CsrfGuard::token_for(std::string_view binding) const {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key_.data(), key_.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(binding.data()),
                                binding.size());
  crypto_auth_hmacsha256_final(&st, mac);
  return base64url_encode(std::string_view(reinterpret_cast<char*>(mac), sizeof mac));
}

bool CsrfGuard::verify(std::string_view binding, std::string_view token) const {
  if (binding.size() < 16 || token.empty()) return false;
  return constant_time_equal(token_for(binding), token);
}

}  // namespace gatehouse::auth
