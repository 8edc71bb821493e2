#include "auth/assertion.h"

#include <openssl/sha.h>
#include <sodium.h>

#include <nlohmann/json.hpp>

#include "common/encoding.h"

namespace gatehouse::auth {
namespace {

constexpr const char* kStoreKey = "assertion_signing_key.v1";
constexpr std::string_view kWrapAd = "gatehouse-signing-key-v1";

struct CjoseFree {
  void operator()(char* p) const { cjose_get_dealloc()(p); }
};

std::string cjose_message(const cjose_err& err) {
  return err.message != nullptr ? err.message : "unknown cjose error";
}

std::string seal(const Key& key, const std::string& plain) {
  constexpr std::size_t n = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  std::string out(n + plain.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(o, n);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      o + n, &clen, reinterpret_cast<const unsigned char*>(plain.data()), plain.size(),
      reinterpret_cast<const unsigned char*>(kWrapAd.data()), kWrapAd.size(), nullptr, o, key.data());
  return out;
}

std::optional<std::string> unseal(const Key& key, const std::string& sealed) {
  constexpr std::size_t n = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  constexpr std::size_t a = crypto_aead_xchacha20poly1305_ietf_ABYTES;
  if (sealed.size() < n + a) return std::nullopt;
  std::string plain(sealed.size() - n - a, '\0');
  unsigned long long mlen = 0;
  const auto* s = reinterpret_cast<const unsigned char*>(sealed.data());
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plain.data()), &mlen, nullptr, s + n, sealed.size() - n,
          reinterpret_cast<const unsigned char*>(kWrapAd.data()), kWrapAd.size(), s, key.data()) != 0)
    return std::nullopt;
  plain.resize(mlen);
  return plain;
}

// RFC 7638 thumbprint of an EC public key: SHA-256 over {"crv","kty","x","y"} in order.
std::string thumbprint(const nlohmann::json& pub) {
  nlohmann::json t = {{"crv", pub.at("crv")}, {"kty", pub.at("kty")}, {"x", pub.at("x")},
                      {"y", pub.at("y")}};
  std::string canonical = t.dump();  // nlohmann orders object keys lexicographically
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(canonical.data()), canonical.size(), digest);
  return base64url_encode(std::string_view(reinterpret_cast<char*>(digest), sizeof digest));
}

}  // namespace

Result<std::unique_ptr<AssertionSigner>> AssertionSigner::load_or_create(store::KeyValueStore& kv,
                                                                         const MasterKey& master) {
  const Key wrap = master.derive(KeyPurpose::signing_key_wrap);
  auto existing = kv.get_value(kStoreKey);
  if (!existing) return existing.error();
  std::string sealed;
  if (existing->has_value()) {
    sealed = **existing;
  } else {
    cjose_err err{};
    cjose_jwk_t* fresh = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err);
    if (fresh == nullptr) return make_error("assertion.keygen", cjose_message(err));
    std::unique_ptr<char, CjoseFree> json(cjose_jwk_to_json(fresh, true, &err));
    cjose_jwk_release(fresh);
    if (!json) return make_error("assertion.keygen", cjose_message(err));
    std::string plain(json.get());
    sodium_memzero(json.get(), plain.size());
    auto stored = kv.put_value_if_absent(kStoreKey, seal(wrap, plain));
    sodium_memzero(plain.data(), plain.size());
    if (!stored) return stored.error();
    sealed = std::move(stored.value());
  }
  auto plain = unseal(wrap, sealed);
  if (!plain)
    return make_error("assertion.key",
                      "the stored signing key cannot be opened with this master key (was the "
                      "master key replaced?)");
  cjose_err err{};
  cjose_jwk_t* jwk = cjose_jwk_import(plain->data(), plain->size(), &err);
  sodium_memzero(plain->data(), plain->size());
  if (jwk == nullptr) return make_error("assertion.key", cjose_message(err));
  std::unique_ptr<char, CjoseFree> pub_json(cjose_jwk_to_json(jwk, false, &err));
  if (!pub_json) {
    cjose_jwk_release(jwk);
    return make_error("assertion.key", cjose_message(err));
  }
  auto pub = nlohmann::json::parse(pub_json.get());
  std::string kid = thumbprint(pub);
  cjose_jwk_set_kid(jwk, kid.data(), kid.size(), &err);
  pub["kid"] = kid;
  pub["use"] = "sig";
  pub["alg"] = "ES256";
  nlohmann::json jwks = {{"keys", nlohmann::json::array({pub})}};
  return std::unique_ptr<AssertionSigner>(new AssertionSigner(jwk, kid, jwks.dump()));
}

AssertionSigner::AssertionSigner(cjose_jwk_t* jwk, std::string kid, std::string jwks)
    : jwk_(jwk), kid_(std::move(kid)), jwks_(std::move(jwks)) {}

AssertionSigner::~AssertionSigner() { cjose_jwk_release(jwk_); }

std::string claims_to_json(const Claims& c) {
  nlohmann::json j = {
      {"iss", c.issuer},         {"aud", c.audience},       {"sub", c.subject},
      {"email", c.email},        {"name", c.name},          {"groups", c.groups},
      {"roles", c.roles},        {"real_party", c.real_party},
      {"effective_party", c.effective_party},               {"delegation", c.delegation},
      {"src", c.source},         {"iat", c.issued_at},      {"exp", c.expires_at}};
  j["delegation_until"] = c.delegation_until == 0 ? nlohmann::json(nullptr) : nlohmann::json(c.delegation_until);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<std::string> AssertionSigner::sign(const Claims& claims) const {
  const std::string payload = claims_to_json(claims);
  cjose_err err{};
  cjose_header_t* hdr = cjose_header_new(&err);
  if (hdr == nullptr) return make_error("assertion.sign", cjose_message(err));
  bool ok = cjose_header_set(hdr, CJOSE_HDR_ALG, CJOSE_HDR_ALG_ES256, &err) &&
            cjose_header_set(hdr, CJOSE_HDR_KID, kid_.c_str(), &err) &&
            cjose_header_set(hdr, "typ", "JWT", &err);
  if (!ok) {
    cjose_header_release(hdr);
    return make_error("assertion.sign", cjose_message(err));
  }
  std::string out;
  {
    std::lock_guard lock(mu_);
    cjose_jws_t* jws = cjose_jws_sign(jwk_, hdr, reinterpret_cast<const std::uint8_t*>(payload.data()),
                                      payload.size(), &err);
    cjose_header_release(hdr);
    if (jws == nullptr) return make_error("assertion.sign", cjose_message(err));
    const char* compact = nullptr;
    if (!cjose_jws_export(jws, &compact, &err)) {
      cjose_jws_release(jws);
      return make_error("assertion.sign", cjose_message(err));
    }
    out = compact;
    cjose_jws_release(jws);
  }
  return out;
}

}  // namespace gatehouse::auth
