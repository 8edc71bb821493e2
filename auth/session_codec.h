#pragma once
// The session cookie: an XChaCha20-Poly1305 sealed reference to a server-side record.
// The cookie says nothing readable and cannot be forged or altered without the key.
#include <optional>
#include <string>
#include <string_view>

#include "crypto/keys.h"
#include "crypto/sealed_box.h"

namespace gatehouse::auth {

inline constexpr std::size_t kSessionIdBytes = 32;

class SessionCodec {
 public:
  explicit SessionCodec(const crypto::Key& key);
  std::string seal(std::string_view session_id) const;
  // nullopt for anything that was not sealed by this key: wrong length, bad base64,
  // a flipped byte, another key.
  std::optional<std::string> open(std::string_view cookie_value) const;

 private:
  crypto::SealedBox box_;
};

}  // namespace gatehouse::auth
