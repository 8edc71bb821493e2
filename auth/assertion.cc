#include "auth/assertion.h"

#include <openssl/sha.h>
#include <sodium.h>

#include <nlohmann/json.hpp>

#include <cstring>

#include "common/encoding.h"

namespace gatehouse::auth {
namespace {

struct CjoseFree {
  void operator()(char* p) const { cjose_get_dealloc()(p); }
};

std::string cjose_message(const cjose_err& err) {
  return err.message != nullptr ? err.message : "unknown cjose error";
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

Result<Secret> AssertionSigner::new_private_jwk() {
  cjose_err err{};
  cjose_jwk_t* fresh = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err);
  if (fresh == nullptr) return make_error("assertion.keygen", cjose_message(err));
  std::unique_ptr<char, CjoseFree> json(cjose_jwk_to_json(fresh, true, &err));
  cjose_jwk_release(fresh);
  if (!json) return make_error("assertion.keygen", cjose_message(err));
  const std::size_t size = std::strlen(json.get());
  Secret out = Secret::copy_of(std::string_view(json.get(), size));
  sodium_memzero(json.get(), size);
  return out;
}

Result<std::unique_ptr<AssertionSigner>> AssertionSigner::from_jwk(const Secret& private_jwk) {
  const std::string_view plain = private_jwk.reveal();
  {
    // Only an EC P-256 private key signs ES256; anything else is refused before cjose.
    auto j = nlohmann::json::parse(plain, nullptr, false);
    auto text = [&](const char* k) { return j.is_object() && j.contains(k) && j[k].is_string(); };
    const bool ok = text("kty") && j["kty"] == "EC" && text("crv") && j["crv"] == "P-256" && text("x") && text("y") &&
                    text("d");
    if (text("d")) {
      auto& d = j["d"].get_ref<std::string&>();
      sodium_memzero(d.data(), d.size());
    }
    if (!ok) return make_error("assertion.key", "the signing key is not an EC P-256 private JWK");
  }
  cjose_err err{};
  cjose_jwk_t* jwk = cjose_jwk_import(plain.data(), plain.size(), &err);
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
