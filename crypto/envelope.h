#pragma once
// Sealed blobs: a value encrypted with XChaCha20-Poly1305 under one key, with associated
// data that names what the value is (its purpose, tenant, name, version), so a blob
// copied to another row does not open. The text form names the key that sealed it:
//
//   gh1.<key id>.<base64url(nonce || ciphertext || tag)>
//
// The key id is also bound into the associated data, so an edited id does not open
// either. Blobs are small (keys, tokens, secrets of at most kMaxSealedValue bytes).
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/result.h"
#include "common/secret.h"
#include "crypto/keys.h"

namespace gatehouse::crypto {

inline constexpr std::size_t kMaxSealedValue = 64 * 1024;

// What a sealed value is. Parts are length-prefixed, so ("ab","c") and ("a","bc") differ.
class Binding {
 public:
  explicit Binding(std::string_view purpose) { add(purpose); }
  Binding& add(std::string_view part);
  Binding& add(std::int64_t number) { return add(std::string_view(std::to_string(number))); }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// `plaintext` is at most kMaxSealedValue bytes: open() refuses a longer value.
std::string seal(const Key& key, const Binding& binding, std::string_view plaintext);
// The key id a blob names, or nullopt for text that is not a blob.
std::optional<std::string> blob_key_id(std::string_view blob);
// Opens a blob sealed by `key` for `binding`. Errors (never containing the value):
// crypto.format (not a blob), crypto.key (sealed by another key), crypto.open (tampered,
// or sealed for another binding).
Result<Secret> open(const Key& key, const Binding& binding, std::string_view blob);

// With a keyring: seal under the current master key; open with whichever key the blob
// names (current or previous).
std::string seal(const Keyring& ring, const Binding& binding, std::string_view plaintext);
Result<Secret> open(const Keyring& ring, const Binding& binding, std::string_view blob);
// True when the blob was sealed by a master key other than the current one.
bool needs_rewrap(const Keyring& ring, std::string_view blob);

}  // namespace gatehouse::crypto
