#pragma once
// Authenticated encryption of small values (XChaCha20-Poly1305, libsodium) under one key
// and a fixed context string bound as associated data, so that a value sealed for one
// purpose never opens as another. Output: base64url(nonce || ciphertext || tag).
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/keys.h"

namespace gatehouse::crypto {

class SealedBox {
 public:
  SealedBox(const Key& key, std::string context) : key_(key.clone()), context_(std::move(context)) {}
  std::string seal(std::string_view plaintext) const;
  // nullopt for anything not sealed by this key and context, or longer than max_bytes
  // once opened (checked before decoding).
  std::optional<std::string> open(std::string_view sealed, std::size_t max_bytes) const;

 private:
  Key key_;
  std::string context_;
};

}  // namespace gatehouse::crypto
