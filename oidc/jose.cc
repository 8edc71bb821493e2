#include "oidc/jose.h"

#include <cjose/cjose.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <optional>

#include "common/encoding.h"

namespace gatehouse::oidc {

using nlohmann::json;

struct KeySet::Key {
  // cjose 0.6 (Debian's libcjose 0.6.2) has neither OKP keys nor the EdDSA algorithm, so
  // Ed25519 keys are held and checked by OpenSSL's EVP interface; RSA and EC go to cjose.
  enum class Type { rsa, ec_p256, ed25519 };
  // unique_ptr deleter calling a C library's release function.
  template <auto release>
  struct Releaser {
    template <class T>
    void operator()(T* p) const {
      release(p);
    }
  };
  using JwkPtr = std::unique_ptr<cjose_jwk_t, Releaser<cjose_jwk_release>>;

  std::string kid;
  std::string alg;  // the JWK's own "alg"; empty when it has none
  Type type = Type::rsa;
  std::size_t signature_bytes = 0;  // what a signature of this key is long
  JwkPtr jwk;
  std::unique_ptr<EVP_PKEY, Releaser<EVP_PKEY_free>> ed25519;
};

namespace {

using Key = KeySet::Key;

constexpr std::size_t kMaxCompactBytes = 64 * 1024;
constexpr std::size_t kMinRsaBits = 2048;
constexpr std::size_t kP256CoordinateBytes = 32;
constexpr std::size_t kEd25519KeyBytes = 32;
constexpr std::size_t kEcdsaP256SignatureBytes = 64;
constexpr std::size_t kEd25519SignatureBytes = 64;

using JwsPtr = std::unique_ptr<cjose_jws_t, Key::Releaser<cjose_jws_release>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Key::Releaser<EVP_MD_CTX_free>>;

// Strings chosen by whoever made the token or JWKS (a kid, an alg, an issuer) appear in
// error messages and logs: short, printable, never able to forge a log line.
std::string shown(std::string_view text) {
  constexpr std::size_t kMax = 80;
  std::string out = "\"";
  for (char c : text.substr(0, kMax)) out += (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? c : '?';
  if (text.size() > kMax) out += "...";
  return out + "\"";
}

std::string_view type_name(Key::Type type) {
  switch (type) {
    case Key::Type::rsa: return "RSA";
    case Key::Type::ec_p256: return "EC P-256";
    case Key::Type::ed25519: return "OKP Ed25519";
  }
  return "?";
}

// The key type each accepted algorithm needs; nullopt for algorithms gatehouse never accepts.
std::optional<Key::Type> key_type_for(std::string_view alg) {
  if (alg == "RS256" || alg == "PS256") return Key::Type::rsa;
  if (alg == "ES256") return Key::Type::ec_p256;
  if (alg == "EdDSA") return Key::Type::ed25519;
  return std::nullopt;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string cjose_message(const cjose_err& err) {
  return err.message != nullptr ? err.message : "unknown cjose error";
}

// ---- JWKS ------------------------------------------------------------------------------

Error jwks_error(std::string message) { return make_error("oidc.jwks", std::move(message)); }

// Member `name` of a JWK: "" when absent, an error when present but not a string.
Result<std::string> optional_string(const json& jwk, const char* name, const std::string& where) {
  auto it = jwk.find(name);
  if (it == jwk.end()) return std::string();
  if (!it->is_string()) return jwks_error(where + ": \"" + name + "\" is not a string");
  return it->get<std::string>();
}

// Member `name` of a JWK holding base64url bytes: their decoding (exactly `size` bytes unless 0).
Result<std::string> required_bytes(const json& jwk, const char* name, const std::string& where,
                                   std::size_t size = 0) {
  auto it = jwk.find(name);
  if (it == jwk.end()) return jwks_error(where + ": \"" + name + "\" is missing");
  if (!it->is_string()) return jwks_error(where + ": \"" + name + "\" is not a base64url string");
  auto bytes = base64url_decode(it->get_ref<const std::string&>());
  if (!bytes || bytes->empty()) return jwks_error(where + ": \"" + name + "\" is not base64url");
  if (size != 0 && bytes->size() != size)
    return jwks_error(where + ": \"" + name + "\" is " + std::to_string(bytes->size()) + " bytes, not " +
                      std::to_string(size));
  return std::move(*bytes);
}

std::size_t bit_length(std::string_view big_endian) {
  std::size_t i = 0;
  while (i < big_endian.size() && big_endian[i] == '\0') ++i;
  if (i == big_endian.size()) return 0;
  const auto first = static_cast<unsigned char>(big_endian[i]);
  return (big_endian.size() - i) * 8 - static_cast<std::size_t>(std::countl_zero(first));
}

// Gives the public members to cjose and nothing else: a private key published by mistake
// never becomes a signing key here.
Result<Key::JwkPtr> cjose_import(const json& public_members, const std::string& where) {
  const std::string text = public_members.dump();
  cjose_err err{};
  Key::JwkPtr jwk(cjose_jwk_import(text.data(), text.size(), &err));
  if (!jwk) {
    ERR_clear_error();
    return jwks_error(where + ": " + cjose_message(err));
  }
  return jwk;
}

// A key of a supported kty and curve: filled in `key`, or an error naming what is wrong with it.
Status load_rsa(const json& jwk, const std::string& where, Key& key, bool& usable) {
  auto n = required_bytes(jwk, "n", where);
  if (!n) return n.error();
  auto e = required_bytes(jwk, "e", where);
  if (!e) return e.error();
  // An even or unit exponent is no RSA key (e = 1 would make every message its own signature).
  if (bit_length(*e) < 2 || (static_cast<unsigned char>(e->back()) & 1) == 0)
    return jwks_error(where + ": \"e\" is not a valid RSA exponent");
  const std::size_t bits = bit_length(*n);
  if (bits < kMinRsaBits) {
    usable = false;  // too weak to trust, but an old key beside good ones is no reason to fail
    return Ok{};
  }
  auto imported = cjose_import({{"kty", "RSA"}, {"n", jwk.at("n")}, {"e", jwk.at("e")}}, where);
  if (!imported) return imported.error();
  key.type = Key::Type::rsa;
  key.signature_bytes = (bits + 7) / 8;
  key.jwk = std::move(*imported);
  return Ok{};
}

Status load_ec(const json& jwk, const std::string& where, Key& key) {
  auto x = required_bytes(jwk, "x", where, kP256CoordinateBytes);
  if (!x) return x.error();
  auto y = required_bytes(jwk, "y", where, kP256CoordinateBytes);
  if (!y) return y.error();
  // cjose (OpenSSL underneath) refuses a point that is not on the curve.
  auto imported = cjose_import({{"kty", "EC"}, {"crv", "P-256"}, {"x", jwk.at("x")}, {"y", jwk.at("y")}}, where);
  if (!imported) return imported.error();
  key.type = Key::Type::ec_p256;
  key.signature_bytes = kEcdsaP256SignatureBytes;
  key.jwk = std::move(*imported);
  return Ok{};
}

Status load_okp(const json& jwk, const std::string& where, Key& key) {
  auto x = required_bytes(jwk, "x", where, kEd25519KeyBytes);
  if (!x) return x.error();
  key.ed25519.reset(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x->data()), x->size()));
  if (!key.ed25519) {
    ERR_clear_error();
    return jwks_error(where + ": OpenSSL refused the Ed25519 public key");
  }
  key.type = Key::Type::ed25519;
  key.signature_bytes = kEd25519SignatureBytes;
  return Ok{};
}

// One member of "keys": appended to `out` when gatehouse can use it for verifying.
Status load_key(const json& jwk, std::size_t index, std::vector<Key>& out) {
  std::string where = "key #" + std::to_string(index + 1);
  if (!jwk.is_object()) return jwks_error(where + " is not a JSON object");
  auto kty_it = jwk.find("kty");
  if (kty_it == jwk.end() || !kty_it->is_string()) return Ok{};
  const std::string kty = kty_it->get<std::string>();
  if (kty != "RSA" && kty != "EC" && kty != "OKP") return Ok{};

  auto kid = optional_string(jwk, "kid", where);
  if (!kid) return kid.error();
  if (!kid->empty()) where += " (kid " + shown(*kid) + ")";
  auto use = optional_string(jwk, "use", where);
  if (!use) return use.error();
  if (!use->empty() && *use != "sig") return Ok{};
  if (auto ops = jwk.find("key_ops"); ops != jwk.end()) {
    if (!ops->is_array()) return jwks_error(where + ": \"key_ops\" is not an array");
    if (std::find(ops->begin(), ops->end(), json("verify")) == ops->end()) return Ok{};
  }
  auto alg = optional_string(jwk, "alg", where);
  if (!alg) return alg.error();
  if (kty != "RSA") {
    auto crv = optional_string(jwk, "crv", where);
    if (!crv) return crv.error();
    if (*crv != (kty == "EC" ? "P-256" : "Ed25519")) return Ok{};
  }

  Key key;
  key.kid = std::move(*kid);
  key.alg = std::move(*alg);
  bool usable = true;
  Status loaded = kty == "RSA"  ? load_rsa(jwk, where, key, usable)
                  : kty == "EC" ? load_ec(jwk, where, key)
                                : load_okp(jwk, where, key);
  if (!loaded) return loaded;
  if (usable) out.push_back(std::move(key));
  return Ok{};
}

// ---- JWS -------------------------------------------------------------------------------

Error malformed(std::string message) { return make_error("jwt.malformed", std::move(message)); }

Result<json> decode_object(std::string_view part, const char* what) {
  auto bytes = base64url_decode(part);
  if (!bytes) return malformed(std::string("the ") + what + " is not base64url");
  json value = json::parse(*bytes, nullptr, false);
  if (value.is_discarded() || !value.is_object())
    return malformed(std::string("the ") + what + " is not a JSON object");
  return value;
}

Status check_algorithm(const std::string& alg, std::span<const std::string> allowed) {
  if (iequals(alg, "none"))
    return make_error("jwt.alg_refused", "alg \"none\" (an unsigned token) is never accepted");
  if (alg.size() >= 2 && iequals(alg.substr(0, 2), "HS"))
    return make_error("jwt.alg_refused", "alg " + shown(alg) +
                                             " is never accepted: a provider's public key must not "
                                             "serve as an HMAC secret");
  if (!key_type_for(alg) || std::find(allowed.begin(), allowed.end(), alg) == allowed.end()) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    return make_error("jwt.alg_refused", "alg " + shown(alg) + " is not accepted (accepted: " + list + ")");
  }
  return Ok{};
}

// cjose parses the header again (jansson); a header that two parsers could read differently
// (duplicate "alg" members, say) is refused rather than verified under the other reading.
bool verify_with_cjose(std::string_view compact, const std::string& alg, const Key& key) {
  cjose_err err{};
  JwsPtr jws(cjose_jws_import(compact.data(), compact.size(), &err));
  if (!jws) return false;
  const char* seen = cjose_header_get(cjose_jws_get_protected(jws.get()), CJOSE_HDR_ALG, &err);
  if (seen == nullptr || alg != seen) return false;
  return cjose_jws_verify(jws.get(), key.jwk.get(), &err);
}

bool verify_ed25519(std::string_view signing_input, const std::string& signature, const Key& key) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.ed25519.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                          reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) == 1;
}

// ---- claims ----------------------------------------------------------------------------

Error claims_error(std::string message) { return make_error("jwt.claims", std::move(message)); }

Status check_issuer(const json& claims, const std::string& expected) {
  auto it = claims.find("iss");
  if (it == claims.end()) return claims_error("missing iss");
  if (!it->is_string()) return claims_error("iss is not a string");
  if (it->get_ref<const std::string&>() != expected)
    return claims_error("iss " + shown(it->get_ref<const std::string&>()) + " is not the expected issuer " +
                        shown(expected));
  return Ok{};
}

// aud, a string or an array of strings, must contain `expected`; `count` is how many it names.
Status check_audience(const json& claims, const std::string& expected, std::size_t& count) {
  auto it = claims.find("aud");
  if (it == claims.end()) return claims_error("missing aud");
  std::vector<std::string> audiences;
  if (it->is_string()) {
    audiences.push_back(it->get<std::string>());
  } else if (it->is_array()) {
    for (const auto& a : *it) {
      if (!a.is_string()) return claims_error("aud must be a string or an array of strings");
      audiences.push_back(a.get<std::string>());
    }
  } else {
    return claims_error("aud must be a string or an array of strings");
  }
  count = audiences.size();
  if (std::find(audiences.begin(), audiences.end(), expected) == audiences.end())
    return claims_error("aud does not contain " + shown(expected));
  return Ok{};
}

// NumericDate claims: exp (always required), iat (required when `iat_required`), nbf.
Status check_times(const json& claims, std::int64_t now, std::int64_t skew, bool iat_required) {
  auto number = [&](const char* name, bool required, std::optional<double>& out) -> Status {
    auto it = claims.find(name);
    if (it == claims.end()) {
      if (required) return claims_error(std::string("missing ") + name);
      return Ok{};
    }
    if (!it->is_number()) return claims_error(std::string(name) + " is not a number");
    out = it->get<double>();
    return Ok{};
  };
  const std::string at_now = " (now " + std::to_string(now) + ", clock skew " + std::to_string(skew) + " s)";
  std::optional<double> exp, iat, nbf;
  if (auto s = number("exp", true, exp); !s) return s;
  if (auto s = number("iat", iat_required, iat); !s) return s;
  if (auto s = number("nbf", false, nbf); !s) return s;
  if (*exp <= static_cast<double>(now - skew))
    return claims_error("token expired at " + claims.at("exp").dump() + at_now);
  if (iat && *iat > static_cast<double>(now + skew))
    return claims_error("iat " + claims.at("iat").dump() + " is in the future" + at_now);
  if (nbf && *nbf > static_cast<double>(now + skew))
    return claims_error("token is not valid before " + claims.at("nbf").dump() + " (nbf)" + at_now);
  return Ok{};
}

// Runs a claims check; a JSON type surprise becomes a "jwt.claims" error, never an exception.
template <class Check>
Status guarded(const json& claims, Check check) {
  if (!claims.is_object()) return claims_error("the claims are not a JSON object");
  try {
    return check();
  } catch (const json::exception& e) {
    return claims_error(std::string("unexpected claim type: ") + e.what());
  }
}

}  // namespace

std::vector<std::string> default_algorithms() { return {"RS256", "PS256", "ES256", "EdDSA"}; }

KeySet::KeySet() : keys_(std::make_shared<const std::vector<Key>>()) {}

KeySet::KeySet(std::shared_ptr<const std::vector<Key>> keys) : keys_(std::move(keys)) {}

Result<KeySet> KeySet::parse(std::string_view text) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) return jwks_error("the JWKS is not JSON");
  auto list = doc.is_object() ? doc.find("keys") : doc.end();
  if (list == doc.end() || !list->is_array()) return jwks_error("the JWKS has no \"keys\" array");
  auto keys = std::make_shared<std::vector<Key>>();
  try {
    for (std::size_t i = 0; i < list->size(); ++i) {
      if (auto loaded = load_key((*list)[i], i, *keys); !loaded) return loaded.error();
    }
  } catch (const json::exception& e) {
    return jwks_error(std::string("unexpected JSON in the JWKS: ") + e.what());
  }
  return KeySet(std::move(keys));
}

std::size_t KeySet::size() const { return keys_->size(); }

bool KeySet::has_kid(std::string_view kid) const {
  return std::any_of(keys_->begin(), keys_->end(), [&](const Key& k) { return k.kid == kid; });
}

Result<VerifiedJwt> verify_jws(std::string_view compact, const KeySet& keys, std::span<const std::string> allowed) {
  if (compact.size() > kMaxCompactBytes) return malformed("the token is larger than 64 KiB");
  const auto dots = std::count(compact.begin(), compact.end(), '.');
  if (dots == 4) return malformed("an encrypted token (JWE, five parts) is not accepted");
  if (dots != 2) return malformed("the token is not three dot-separated parts");
  const std::size_t d1 = compact.find('.');
  const std::size_t d2 = compact.find('.', d1 + 1);
  const std::string_view signing_input = compact.substr(0, d2);

  VerifiedJwt out;
  try {
    auto header = decode_object(compact.substr(0, d1), "header");
    if (!header) return header.error();
    out.header = std::move(*header);
    if (out.header.contains("crit")) return malformed("the header has \"crit\" (no extension is understood)");
    auto alg = out.header.find("alg");
    if (alg == out.header.end() || !alg->is_string()) return malformed("the header has no alg");
    out.alg = alg->get<std::string>();
    std::string kid;
    if (auto k = out.header.find("kid"); k != out.header.end()) {
      if (!k->is_string()) return malformed("the header's kid is not a string");
      kid = k->get<std::string>();
    }
    if (auto accepted = check_algorithm(out.alg, allowed); !accepted) return accepted.error();

    auto claims = decode_object(compact.substr(d1 + 1, d2 - d1 - 1), "payload");
    if (!claims) return claims.error();
    out.claims = std::move(*claims);
    auto signature = base64url_decode(compact.substr(d2 + 1));
    if (!signature) return malformed("the signature is not base64url");

    const Key::Type needed = *key_type_for(out.alg);
    std::vector<const Key*> candidates;
    const Key* misfit = nullptr;
    for (const Key& key : *keys.keys_) {
      if (!kid.empty() && key.kid != kid) continue;
      if (key.type != needed || (!key.alg.empty() && key.alg != out.alg)) {
        misfit = &key;
        continue;
      }
      candidates.push_back(&key);
    }
    if (candidates.empty()) {
      if (!kid.empty() && misfit == nullptr)
        return make_error("jwt.unknown_kid", "no key with kid " + shown(kid) + " in the provider's JWKS");
      if (misfit != nullptr && !kid.empty())
        return make_error("jwt.bad_signature",
                          "key " + shown(kid) + " (" + std::string(type_name(misfit->type)) +
                              (misfit->alg.empty() ? "" : ", alg " + shown(misfit->alg)) + ") cannot verify " +
                              out.alg);
      return make_error("jwt.unknown_kid", "the token has no kid and no key in the provider's JWKS fits " + out.alg);
    }

    bool verified = false;
    for (const Key* key : candidates) {
      if (signature->size() != key->signature_bytes) continue;
      verified = key->type == Key::Type::ed25519 ? verify_ed25519(signing_input, *signature, *key)
                                                 : verify_with_cjose(compact, out.alg, *key);
      if (verified) {
        out.kid = key->kid;
        break;
      }
    }
    ERR_clear_error();  // failed checks leave OpenSSL's per-thread error queue filled
    if (!verified)
      return make_error("jwt.bad_signature",
                        kid.empty() ? "the signature does not verify with any of the provider's " + out.alg + " keys"
                                    : "the signature does not verify with key " + shown(kid));
  } catch (const json::exception& e) {
    return malformed(std::string("unexpected JSON: ") + e.what());
  }
  return out;
}

Status check_id_token(const json& claims, const IdTokenExpectations& expected) {
  return guarded(claims, [&]() -> Status {
    if (auto s = check_issuer(claims, expected.issuer); !s) return s;
    auto sub = claims.find("sub");
    if (sub == claims.end()) return claims_error("missing sub");
    if (!sub->is_string() || sub->get_ref<const std::string&>().empty())
      return claims_error("sub is not a non-empty string");
    std::size_t audiences = 0;
    if (auto s = check_audience(claims, expected.client_id, audiences); !s) return s;
    auto azp = claims.find("azp");
    if (azp == claims.end() && audiences > 1)
      return claims_error("missing azp (required when aud names several audiences)");
    if (azp != claims.end()) {
      if (!azp->is_string()) return claims_error("azp is not a string");
      if (azp->get_ref<const std::string&>() != expected.client_id)
        return claims_error("azp " + shown(azp->get_ref<const std::string&>()) + " is not the client " +
                            shown(expected.client_id));
    }
    if (auto s = check_times(claims, expected.now, expected.skew, true); !s) return s;
    if (expected.nonce.empty()) return claims_error("no nonce to compare with (the login sent none)");
    auto nonce = claims.find("nonce");
    if (nonce == claims.end()) return claims_error("missing nonce");
    if (!nonce->is_string()) return claims_error("nonce is not a string");
    if (!constant_time_equal(nonce->get_ref<const std::string&>(), expected.nonce))
      return claims_error("nonce mismatch");
    return Ok{};
  });
}

Status check_access_token(const json& claims, const AccessTokenExpectations& expected) {
  return guarded(claims, [&]() -> Status {
    if (auto s = check_issuer(claims, expected.issuer); !s) return s;
    std::size_t audiences = 0;
    if (auto s = check_audience(claims, expected.audience, audiences); !s) return s;
    return check_times(claims, expected.now, expected.skew, false);
  });
}

}  // namespace gatehouse::oidc
