#pragma once
// Keys: 32 bytes in secure memory (see common/secret.h), never copied by accident.
// The master key is 32 random bytes in a file (created 0600 if absent) or a systemd
// credential; it wraps every other key gatehouse keeps (tenant data keys, the session,
// CSRF and flow-cookie keys, the assertion signing key) and encrypts nothing else.
// Each key has an id (a keyed BLAKE2b fingerprint) that sealed blobs carry, so the key
// that opens a blob is found by id and a blob sealed by another key is refused by name.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/secret.h"

namespace gatehouse::crypto {

inline constexpr std::size_t kKeyBytes = 32;

class Key {
 public:
  Key();  // zero bytes (a placeholder to be filled through data())
  static Key random();
  // Exactly kKeyBytes raw bytes, else an empty optional-like error.
  static Result<Key> from_bytes(std::string_view raw);

  Key(Key&&) noexcept = default;
  Key& operator=(Key&&) noexcept = default;
  Key clone() const;

  const std::uint8_t* data() const { return bytes_.data(); }
  std::uint8_t* data() { return bytes_.data(); }
  static constexpr std::size_t size() { return kKeyBytes; }
  std::string_view bytes() const { return bytes_.reveal(); }
  // 16 lower-case hex digits; the same for the same key, unrelated for another.
  std::string id() const;

 private:
  explicit Key(Secret bytes) : bytes_(std::move(bytes)) {}
  Secret bytes_;
};

// Purposes of the keys an older gatehouse derived from the master key. They are still
// derived once, when a database made by that version is opened, so its sessions and
// signing key survive the upgrade (see vault/system_keys.cc).
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
  // Reads an existing key file (a previous master key); never creates one. A relative
  // name without a slash is looked up in $CREDENTIALS_DIRECTORY when that is set.
  static Result<MasterKey> load_existing(const std::string& path);
  static MasterKey from_key(Key key);  // tests

  MasterKey(MasterKey&&) noexcept = default;
  MasterKey& operator=(MasterKey&&) noexcept = default;
  MasterKey clone() const { return from_key(key_.clone()); }

  const Key& key() const { return key_; }
  std::string id() const { return key_.id(); }
  Key derive(KeyPurpose purpose) const;  // the older derivation, for upgrades only

 private:
  MasterKey() = default;
  Key key_;
};

// The current master key, which seals, and the previous ones, which still open during a
// key change ([keys] previous_master_key_files).
class Keyring {
 public:
  explicit Keyring(MasterKey current) : current_(std::move(current)) {}
  void add_previous(MasterKey key) { previous_.push_back(std::move(key)); }

  const MasterKey& current() const { return current_; }
  const std::vector<MasterKey>& previous() const { return previous_; }
  // The key (current or previous) with this id, or nullptr.
  const MasterKey* find(std::string_view id) const;

 private:
  MasterKey current_;
  std::vector<MasterKey> previous_;
};

// Loads [keys]: the current key (created when absent) and every previous key (which must
// exist). A previous key equal to the current one is an error: it would hide a mistake
// in the key change procedure.
Result<Keyring> load_keyring(const std::string& master_key_file,
                             const std::vector<std::string>& previous_master_key_files);

}  // namespace gatehouse::crypto
