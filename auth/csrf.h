#pragma once
// CSRF tokens for gatehouse's own forms. The browser holds a *binding* in a cookie; the
// form carries a token, an HMAC of that binding and the time the form was made, so a
// cross-site page can neither read nor forge it. Only bindings gatehouse issued count
// (they carry their own MAC): a binding a client or an attacker invented gets a fresh
// one, and a token made for the invented one fails. Tokens expire.
#include <cstdint>
#include <string>
#include <string_view>

#include "crypto/keys.h"
#include "common/clock.h"

namespace gatehouse::auth {

// How long a sign-in form stays usable.
inline constexpr std::int64_t kCsrfTokenLifetime = 2 * 3600;

class CsrfGuard {
 public:
  CsrfGuard(const crypto::Key& key, const Clock& clock) : key_(key.clone()), clock_(clock) {}
  std::string new_binding() const;  // for the CSRF cookie
  // True for a binding new_binding() made with this key.
  bool issued(std::string_view binding) const;
  // A token for a form made now; empty for a binding that was not issued.
  std::string token_for(std::string_view binding) const;
  // The token was made for `binding`, which was issued, less than kCsrfTokenLifetime ago.
  bool verify(std::string_view binding, std::string_view token) const;

 private:
  std::string mac(std::string_view purpose, std::string_view data, std::size_t bytes) const;

  crypto::Key key_;
  const Clock& clock_;
};

}  // namespace gatehouse::auth
