#pragma once
// The master key and the purpose-specific keys derived from it. The master key is
// 32 random bytes in a file (created 0600 if absent) or a systemd credential.
#include <array>
#include <cstdint>
#include <string>

#include "common/result.h"

namespace gatehouse::auth {

inline constexpr std::size_t kKeyBytes = 32;

class Key {
 public:
  Key() = default;
  Key(const Key&) = default;
  Key& operator=(const Key&) = default;
  ~Key();
  const std::uint8_t* data() const { return bytes_.data(); }
  std::uint8_t* data() { return bytes_.data(); }
  static constexpr std::size_t size() { return kKeyBytes; }

 private:
  std::array<std::uint8_t, kKeyBytes> bytes_{};
};

enum class KeyPurpose : std::uint64_t {
  session_cookie = 1,
  csrf = 2,
  signing_key_wrap = 3,
  oidc_flow = 4,    // the cookie that carries state, nonce and PKCE verifier of a sign-in
  oidc_tokens = 5,  // a session's provider tokens at rest
};

class MasterKey {
 public:
  // Reads the key from `path`; when `path` is empty, from $CREDENTIALS_DIRECTORY/master.key
  // (systemd LoadCredential=). A missing file at an explicit path is created with mode
  // 0600. Accepts 32 raw bytes or 64 hex digits (optionally followed by a newline).
  static Result<MasterKey> load_or_create(const std::string& path);
  static MasterKey from_bytes(const Key& key);  // tests

  Key derive(KeyPurpose purpose) const;

 private:
  Key key_;
};

}  // namespace gatehouse::auth
