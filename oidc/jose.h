#pragma once
// JOSE for OpenID Connect: a provider's JWKS, compact JWS verification and the claim
// rules of ID tokens and bearer access tokens.
//
// Signatures are checked by cjose (RSA, EC) and OpenSSL (Ed25519, which cjose 0.6 lacks);
// this file only decides which key may check which token. Error messages name the
// problem, never the token.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace gatehouse::oidc {

// The signing algorithms gatehouse accepts unless configured narrower: RS256, PS256, ES256, EdDSA.
// Never "none", never HS* (a provider's public key must not become an HMAC secret).
std::vector<std::string> default_algorithms();

struct VerifiedJwt;

// A provider's public signing keys (a JWKS document). Copyable (shares immutable keys).
class KeySet {
 public:
  KeySet();
  // {"keys":[...]}: RSA, EC (P-256) and OKP (Ed25519) keys. Keys with "use" other than "sig"
  // (or "key_ops" without "verify"), private keys' extra members, unknown kty/crv and RSA keys
  // under 2048 bits are skipped (not an error). Not JSON, no "keys" array, or a key that claims
  // a supported kty but is malformed: error "oidc.jwks" naming the problem.
  static Result<KeySet> parse(std::string_view json);
  std::size_t size() const;
  bool has_kid(std::string_view kid) const;

  struct Key;  // opaque: defined and used in jose.cc only

 private:
  friend Result<VerifiedJwt> verify_jws(std::string_view, const KeySet&, std::span<const std::string>);
  explicit KeySet(std::shared_ptr<const std::vector<Key>> keys);
  std::shared_ptr<const std::vector<Key>> keys_;
};

struct VerifiedJwt {
  nlohmann::json header;
  nlohmann::json claims;  // the payload, a JSON object
  std::string alg;
  std::string kid;  // of the key that verified the signature (the header's kid when it has one)
};

// Verifies a compact JWS (three base64url parts) against `keys`:
//  - "jwt.malformed": not three parts, bad base64url, header/payload not a JSON object, a JWE
//    (5 parts), "crit" present, oversized (> 64 KiB)
//  - "jwt.alg_refused": alg "none", any HS*, or not in `allowed` (message names the alg);
//    decided from the header alone, before any key is touched
//  - "jwt.unknown_kid": header kid not in the set; also a token without kid when the set has no
//    key of the alg's type at all (in both cases the caller may refetch the JWKS once and retry)
//  - "jwt.bad_signature": signature does not verify; also when the key's kty does not fit the alg
//    (RS*/PS* need RSA, ES256 needs EC P-256, EdDSA needs OKP Ed25519) or the JWK's own "alg" differs
// Without a kid: try every key whose type fits the alg; any match verifies.
// Header members that point at keys ("jwk", "jku", "x5u", "x5c") are ignored: only `keys` count.
Result<VerifiedJwt> verify_jws(std::string_view compact, const KeySet& keys, std::span<const std::string> allowed);

struct IdTokenExpectations {
  std::string issuer;     // iss must equal it exactly
  std::string client_id;  // aud (string or array) must contain it; with several audiences azp must be present and equal it; if azp is present it must equal it anyway
  std::string nonce;      // must be present and equal (constant-time compare); empty is refused
  std::int64_t now = 0;   // unix seconds
  std::int64_t skew = 60; // seconds of tolerance for exp/iat/nbf
};
// "jwt.claims" with a message naming the claim and the problem ("token expired at …", "iat is in
// the future", "aud does not contain …", "nonce mismatch", "missing sub", …).
// Required: iss, sub (non-empty string), aud, exp (number), iat (number). exp <= now - skew →
// expired; iat > now + skew → future; nbf (if present) > now + skew → not yet valid.
Status check_id_token(const nlohmann::json& claims, const IdTokenExpectations& expected);

struct AccessTokenExpectations {
  std::string issuer;
  std::string audience;   // aud (string or array) must contain it
  std::int64_t now = 0;
  std::int64_t skew = 60;
};
// Bearer JWTs for API clients: iss, aud, exp required; nbf and iat checked when present;
// "jwt.claims" errors as above.
Status check_access_token(const nlohmann::json& claims, const AccessTokenExpectations& expected);

}  // namespace gatehouse::oidc
