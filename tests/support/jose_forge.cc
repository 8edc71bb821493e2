#include "support/jose_forge.h"

#include <cjose/cjose.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include <fstream>
#include <mutex>
#include <stdexcept>

#include "common/encoding.h"

namespace gatehouse::test_support {
namespace {

using nlohmann::json;

// unique_ptr deleter calling a C library's release function.
template <auto release>
struct Releaser {
  template <class T>
  void operator()(T* p) const {
    release(p);
  }
};
template <class T, auto release>
using Owned = std::unique_ptr<T, Releaser<release>>;

void cjose_free(char* p) { cjose_get_dealloc()(p); }

using Jwk = Owned<cjose_jwk_t, cjose_jwk_release>;
using Pkey = Owned<EVP_PKEY, EVP_PKEY_free>;

[[noreturn]] void fail(const std::string& what) {
  ERR_clear_error();
  throw std::runtime_error("jose_forge: " + what);
}

std::string cjose_message(const cjose_err& err) {
  return err.message != nullptr ? err.message : "unknown cjose error";
}

std::string as_text(const unsigned char* p, std::size_t n) { return std::string(reinterpret_cast<const char*>(p), n); }

std::string decode(const json& b64u) {
  auto bytes = base64url_decode(b64u.get<std::string>());
  if (!bytes) fail("bad base64url in a generated JWK");
  return *bytes;
}

json cjose_to_json(const cjose_jwk_t* jwk, bool with_private) {
  cjose_err err{};
  Owned<char, cjose_free> text(cjose_jwk_to_json(jwk, with_private, &err));
  if (!text) fail("cjose_jwk_to_json: " + cjose_message(err));
  return json::parse(text.get());
}

// The public half of an RSA or EC JWK as an OpenSSL key (for PEM output).
Pkey pkey_from_public_jwk(const json& jwk) {
  Owned<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free> bld(OSSL_PARAM_BLD_new());
  Owned<BIGNUM, BN_free> n, e;
  std::string point;
  const bool rsa = jwk.at("kty") == "RSA";
  if (rsa) {
    const std::string nb = decode(jwk.at("n")), eb = decode(jwk.at("e"));
    n.reset(BN_bin2bn(reinterpret_cast<const unsigned char*>(nb.data()), static_cast<int>(nb.size()), nullptr));
    e.reset(BN_bin2bn(reinterpret_cast<const unsigned char*>(eb.data()), static_cast<int>(eb.size()), nullptr));
    if (!bld || !n || !e || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1)
      fail("RSA parameters");
  } else {
    point = "\x04" + decode(jwk.at("x")) + decode(jwk.at("y"));
    if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1)
      fail("EC parameters");
  }
  Owned<OSSL_PARAM, OSSL_PARAM_free> params(OSSL_PARAM_BLD_to_param(bld.get()));
  Owned<EVP_PKEY_CTX, EVP_PKEY_CTX_free> ctx(EVP_PKEY_CTX_new_from_name(nullptr, rsa ? "RSA" : "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    fail("EVP_PKEY_fromdata");
  return Pkey(raw);
}

std::string signing_input(const json& header, std::string_view payload) {
  return base64url_encode(header.dump()) + "." + base64url_encode(payload);
}

// A JWS through cjose: RS*, PS*, ES* with an asymmetric key, HS* with an oct key.
std::string cjose_sign(const cjose_jwk_t* jwk, const json& header, std::string_view payload) {
  cjose_err err{};
  Owned<cjose_header_t, cjose_header_release> hdr(cjose_header_new(&err));
  if (!hdr) fail("cjose_header_new: " + cjose_message(err));
  // cjose 0.6 sets string members, and through jansson's default parse only objects and arrays
  // as raw JSON: numbers, booleans and null cannot be header members here.
  for (const auto& [name, value] : header.items()) {
    const bool set = value.is_string()
                         ? cjose_header_set(hdr.get(), name.c_str(), value.get_ref<const std::string&>().c_str(), &err)
                         : (value.is_structured() && cjose_header_set_raw(hdr.get(), name.c_str(), value.dump().c_str(), &err));
    if (!set) fail("header member \"" + name + "\" (only strings, objects and arrays): " + cjose_message(err));
  }
  Owned<cjose_jws_t, cjose_jws_release> jws(
      cjose_jws_sign(jwk, hdr.get(), reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size(), &err));
  if (!jws) fail("cjose_jws_sign: " + cjose_message(err));
  const char* out = nullptr;
  if (!cjose_jws_export(jws.get(), &out, &err)) fail("cjose_jws_export: " + cjose_message(err));
  return out;
}

}  // namespace

struct TestKey::Impl {
  KeyKind kind = KeyKind::rsa;
  std::string kid;
  std::string jwk_alg;
  Jwk jwk;        // RSA and EC
  Pkey ed25519;   // cjose 0.6 has no OKP keys
  std::mutex sign_mu;  // cjose keys are not documented as safe for concurrent signing
};

TestKey::TestKey(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

namespace {

// RSA key generation takes a good part of a second, and ctest runs every test in a
// process of its own: the first keys of a process come from a file of published test
// keys (tests/fixtures/jose/), each handed out once; more are generated.
std::string next_pooled_rsa_key() {
  static std::mutex mu;
  static std::vector<std::string> pool;
  static bool loaded = false;
  static std::size_t next = 0;
  std::lock_guard lock(mu);
  if (!loaded) {
    loaded = true;
    std::ifstream in(std::string(GATEHOUSE_FIXTURES_DIR) + "/jose/test-rsa-keys.json");
    json doc = json::parse(in, nullptr, false);
    if (doc.is_object() && doc.contains("keys") && doc["keys"].is_array())
      for (const auto& k : doc["keys"]) pool.push_back(k.dump());
  }
  return next < pool.size() ? pool[next++] : std::string();
}

}  // namespace

TestKey TestKey::generate(KeyKind kind, std::string kid, std::string jwk_alg) {
  auto impl = std::make_shared<Impl>();
  impl->kind = kind;
  impl->kid = std::move(kid);
  impl->jwk_alg = std::move(jwk_alg);
  cjose_err err{};
  switch (kind) {
    case KeyKind::rsa: {
      static const std::uint8_t kExponent[] = {0x01, 0x00, 0x01};
      if (const std::string pooled = next_pooled_rsa_key(); !pooled.empty())
        impl->jwk.reset(cjose_jwk_import(pooled.c_str(), pooled.size(), &err));
      else
        impl->jwk.reset(cjose_jwk_create_RSA_random(2048, kExponent, sizeof kExponent, &err));
      if (!impl->jwk) fail("RSA key: " + cjose_message(err));
      break;
    }
    case KeyKind::ec_p256:
      impl->jwk.reset(cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err));
      if (!impl->jwk) fail("EC key: " + cjose_message(err));
      break;
    case KeyKind::ed25519:
      impl->ed25519.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
      if (!impl->ed25519) fail("Ed25519 key");
      break;
  }
  return TestKey(std::move(impl));
}

KeyKind TestKey::kind() const { return impl_->kind; }

const std::string& TestKey::kid() const { return impl_->kid; }

std::string TestKey::default_alg() const {
  switch (impl_->kind) {
    case KeyKind::rsa: return "RS256";
    case KeyKind::ec_p256: return "ES256";
    case KeyKind::ed25519: return "EdDSA";
  }
  return "";
}

namespace {

json ed25519_jwk(EVP_PKEY* key, bool with_private) {
  unsigned char raw[32];
  std::size_t len = sizeof raw;
  if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1) fail("Ed25519 public key");
  json jwk = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", base64url_encode(as_text(raw, len))}};
  if (with_private) {
    len = sizeof raw;
    if (EVP_PKEY_get_raw_private_key(key, raw, &len) != 1) fail("Ed25519 private key");
    jwk["d"] = base64url_encode(as_text(raw, len));
  }
  return jwk;
}

}  // namespace

json TestKey::public_jwk() const {
  json jwk = impl_->ed25519 ? ed25519_jwk(impl_->ed25519.get(), false) : cjose_to_json(impl_->jwk.get(), false);
  if (!impl_->kid.empty()) jwk["kid"] = impl_->kid;
  jwk["use"] = "sig";
  if (!impl_->jwk_alg.empty()) jwk["alg"] = impl_->jwk_alg;
  return jwk;
}

json TestKey::private_jwk() const {
  json jwk = public_jwk();
  json full = impl_->ed25519 ? ed25519_jwk(impl_->ed25519.get(), true) : cjose_to_json(impl_->jwk.get(), true);
  jwk.update(full);
  return jwk;
}

std::string TestKey::public_pem() const {
  Pkey converted;
  EVP_PKEY* key = impl_->ed25519.get();
  if (key == nullptr) {
    converted = pkey_from_public_jwk(public_jwk());
    key = converted.get();
  }
  Owned<BIO, BIO_free> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) fail("PEM_write_bio_PUBKEY");
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string TestKey::sign(const json& header, std::string_view payload) const {
  std::lock_guard lock(impl_->sign_mu);
  if (!impl_->ed25519) return cjose_sign(impl_->jwk.get(), header, payload);
  const std::string input = signing_input(header, payload);
  Owned<EVP_MD_CTX, EVP_MD_CTX_free> ctx(EVP_MD_CTX_new());
  unsigned char sig[64];
  std::size_t sig_len = sizeof sig;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, impl_->ed25519.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig, &sig_len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
    fail("Ed25519 signature");
  return input + "." + base64url_encode(as_text(sig, sig_len));
}

std::string TestKey::sign_jwt(const json& claims, std::string alg) const {
  json header = {{"alg", alg.empty() ? default_alg() : alg}};
  if (!impl_->kid.empty()) header["kid"] = impl_->kid;
  header["typ"] = "JWT";
  return sign(header, claims.dump());
}

std::string jwks_json(const std::vector<TestKey>& keys) {
  json list = json::array();
  for (const auto& k : keys) list.push_back(k.public_jwk());
  return json{{"keys", list}}.dump();
}

std::string compact(std::string_view header, std::string_view payload, std::string_view signature) {
  return base64url_encode(header) + "." + base64url_encode(payload) + "." + base64url_encode(signature);
}

std::string unsigned_token(const json& claims, const json& header) {
  return signing_input(header, claims.dump()) + ".";
}

std::string hs256_token(std::string_view secret, const json& claims, const json& header) {
  cjose_err err{};
  Jwk oct(cjose_jwk_create_oct_spec(reinterpret_cast<const std::uint8_t*>(secret.data()), secret.size(), &err));
  if (!oct) fail("oct key: " + cjose_message(err));
  return cjose_sign(oct.get(), header, claims.dump());
}

Pkce make_pkce() {
  Pkce p;
  p.verifier = base64url_encode(random_bytes(32));
  p.challenge = pkce_s256(p.verifier);
  return p;
}

std::string pkce_s256(std::string_view verifier) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(verifier.data()), verifier.size(), digest);
  return base64url_encode(as_text(digest, sizeof digest));
}

std::string corrupt_signature(std::string_view token, std::size_t byte_index) {
  const std::size_t dot = token.rfind('.');
  if (dot == std::string_view::npos) fail("not a compact JWS");
  auto sig = base64url_decode(token.substr(dot + 1));
  if (!sig || byte_index >= sig->size()) fail("no signature byte to corrupt");
  (*sig)[byte_index] = static_cast<char>((*sig)[byte_index] ^ 0x01);
  return std::string(token.substr(0, dot + 1)) + base64url_encode(*sig);
}

}  // namespace gatehouse::test_support
