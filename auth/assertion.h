#pragma once
// X-Gatehouse-Assertion: an ES256 JWT of the identity claims, signed with cjose; the
// public key is served as a JWKS. The private key is kept in the store, sealed with a
// key derived from the master key, so it survives restarts and is shared by every
// process on the same store.
#include <cjose/cjose.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/secret.h"

namespace gatehouse::auth {

struct Claims {
  std::string issuer;    // public_url
  std::string audience;  // route id
  std::string subject;   // user name
  std::string email;
  std::string name;
  std::vector<std::string> groups;
  std::vector<std::string> roles;
  std::string real_party;
  std::string effective_party;
  std::string delegation;             // id, "" when acting for the own tenant
  std::int64_t delegation_until = 0;  // 0: no end, or not delegated (claim null)
  std::string source;                 // directory or provider the user signed in through
  std::int64_t issued_at = 0;
  std::int64_t expires_at = 0;
};

class AssertionSigner {
 public:
  // A new P-256 private key as a JWK (JSON), for an installation that has none yet.
  static Result<Secret> new_private_jwk();
  // The signer of a stored private JWK (vault/system_keys.h keeps it sealed).
  static Result<std::unique_ptr<AssertionSigner>> from_jwk(const Secret& private_jwk);
  ~AssertionSigner();
  AssertionSigner(const AssertionSigner&) = delete;
  AssertionSigner& operator=(const AssertionSigner&) = delete;

  Result<std::string> sign(const Claims& claims) const;
  const std::string& jwks_json() const { return jwks_; }
  const std::string& key_id() const { return kid_; }

 private:
  AssertionSigner(cjose_jwk_t* jwk, std::string kid, std::string jwks);
  cjose_jwk_t* jwk_;
  std::string kid_;
  std::string jwks_;
  mutable std::mutex mu_;  // cjose objects are not documented as thread-safe
};

std::string claims_to_json(const Claims& claims);

}  // namespace gatehouse::auth
