#pragma once
// CSRF tokens for gatehouse's own forms: the token is an HMAC of a random value the
// browser holds in a cookie, so a cross-site page can neither read nor forge it.
#include <string>
#include <string_view>

#include "auth/keys.h"

namespace gatehouse::auth {

class CsrfGuard {
 public:
  explicit CsrfGuard(const Key& key) : key_(key) {}
  std::string new_binding() const;  // random value for the CSRF cookie
  std::string token_for(std::string_view binding) const;
  bool verify(std::string_view binding, std::string_view token) const;

 private:
  Key key_;
};

}  // namespace gatehouse::auth
