#pragma once
// Test-only: signing keys and JWTs made to order, including deliberately broken ones, for the
// JOSE unit tests and the hostile OpenID provider (and the PKCE a test client computes). RSA and EC signatures come from cjose,
// Ed25519 from OpenSSL (cjose 0.6 has no EdDSA). Failures throw std::runtime_error: this is
// test code, and a test that cannot forge its input should stop loudly.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace gatehouse::test_support {

enum class KeyKind { rsa, ec_p256, ed25519 };

// A signing key pair with a kid. Copies share the key; signing is thread-safe.
class TestKey {
 public:
  // RSA keys are 2048 bits. `jwk_alg` non-empty: the public JWK carries that "alg" member.
  static TestKey generate(KeyKind kind, std::string kid, std::string jwk_alg = "");

  KeyKind kind() const;
  const std::string& kid() const;
  std::string default_alg() const;  // RS256, ES256 or EdDSA

  // kty and public members, plus "kid" (when not empty), "use":"sig" and "alg" (when given).
  nlohmann::json public_jwk() const;
  // public_jwk() plus the private members (d, p, q, …).
  nlohmann::json private_jwk() const;
  // The public key as SubjectPublicKeyInfo PEM, the secret of the classic HS256 key confusion.
  std::string public_pem() const;

  // Compact JWS of `payload` (any bytes) under `header` as given: set "alg" (which must suit
  // this key) and "kid" yourself. cjose 0.6 takes only string, object and array members.
  std::string sign(const nlohmann::json& header, std::string_view payload) const;
  // Compact JWT: header {"alg": alg or default_alg(), "kid": kid(), "typ": "JWT"}, payload `claims`.
  std::string sign_jwt(const nlohmann::json& claims, std::string alg = "") const;

 private:
  struct Impl;
  explicit TestKey(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// {"keys":[public_jwk()…]}
std::string jwks_json(const std::vector<TestKey>& keys);

// Three base64url parts of the given bytes, joined by dots: for structurally broken tokens.
std::string compact(std::string_view header, std::string_view payload, std::string_view signature);

// {"alg":"none"} (or `header`), the claims and an empty signature: "h.p."
std::string unsigned_token(const nlohmann::json& claims, const nlohmann::json& header = {{"alg", "none"}});

// HS256 with `secret` as the HMAC key, e.g. a provider's public key PEM or JWK text.
// `header` must hold at least "alg" (HS256); add a "kid" to aim at a published key.
std::string hs256_token(std::string_view secret, const nlohmann::json& claims,
                        const nlohmann::json& header = {{"alg", "HS256"}});

// The same token with one bit of signature byte `byte_index` flipped (header and payload intact).
std::string corrupt_signature(std::string_view token, std::size_t byte_index = 0);

// PKCE (RFC 7636) as a client computes it: a random 43-character verifier and its S256 challenge.
struct Pkce {
  std::string verifier;
  std::string challenge;  // base64url(SHA-256(verifier))
};
Pkce make_pkce();
std::string pkce_s256(std::string_view verifier);

}  // namespace gatehouse::test_support
