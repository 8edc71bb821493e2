#pragma once
// kind = "local": users and tenants in gatehouse's own store, argon2id hashes.
#include <cstdint>
#include <string>

#include "directory/directory.h"
#include "store/store.h"

namespace gatehouse::directory {

// argon2id via libsodium crypto_pwhash_str (interactive limits).
Result<std::string> hash_password(const Secret& password);
bool verify_password(const std::string& hash, const Secret& password);
// How many argon2id checks verify_password() has run in this process (for tests: an
// unknown user must cost one, like a wrong password).
std::uint64_t password_verifications();

class LocalDirectory final : public Directory {
 public:
  LocalDirectory(std::string name, store::UserStore& users);
  const std::string& name() const override { return name_; }
  // Unknown users are verified against a dummy hash so that timing does not reveal
  // whether a name exists. Disabled users get AuthStatus::disabled only when the
  // password was right (detail says so); an empty password is bad_credentials.
  Result<AuthOutcome> authenticate(std::string_view username, const Secret& password) override;

 private:
  std::string name_;
  store::UserStore& users_;
  std::string dummy_hash_;
};

}  // namespace gatehouse::directory
