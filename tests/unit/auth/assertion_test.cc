#include "auth/assertion.h"

#include <cjose/cjose.h>
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "auth/assertion_issuer.h"
#include "common/encoding.h"
#include "common/clock.h"
#include "unit/auth/fakes.h"

namespace gatehouse::auth {
namespace {

using nlohmann::json;

struct Jwt {
  std::string header_b64, payload_b64, signature_b64;
  json header, payload;
  std::string signature;  // raw bytes
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto pos = s.find(sep, start);
    out.push_back(s.substr(start, pos - start));
    if (pos == std::string::npos) break;
    start = pos + 1;
  }
  return out;
}

// Parses a compact JWS; fails the test (and returns nullopt) when it is not one.
std::optional<Jwt> parse_jwt(const std::string& compact) {
  auto parts = split(compact, '.');
  EXPECT_EQ(parts.size(), 3u) << compact;
  if (parts.size() != 3) return std::nullopt;
  auto h = base64url_decode(parts[0]);
  auto p = base64url_decode(parts[1]);
  auto s = base64url_decode(parts[2]);
  EXPECT_TRUE(h && p && s) << "every part must be unpadded base64url: " << compact;
  if (!h || !p || !s) return std::nullopt;
  Jwt jwt{parts[0], parts[1], parts[2], json::parse(*h), json::parse(*p), *s};
  return jwt;
}

json public_key(const AssertionSigner& signer) {
  return json::parse(signer.jwks_json()).at("keys").at(0);
}

// Verifies with cjose against the key published in the JWKS.
bool cjose_verifies(const json& jwk_json, const std::string& compact) {
  const std::string text = jwk_json.dump();
  cjose_err err{};
  cjose_jwk_t* jwk = cjose_jwk_import(text.data(), text.size(), &err);
  if (jwk == nullptr) {
    ADD_FAILURE() << "cjose_jwk_import: " << (err.message ? err.message : "?");
    return false;
  }
  cjose_jws_t* jws = cjose_jws_import(compact.data(), compact.size(), &err);
  bool ok = jws != nullptr && cjose_jws_verify(jws, jwk, &err);
  if (jws != nullptr) cjose_jws_release(jws);
  cjose_jwk_release(jwk);
  return ok;
}

// Verifies with OpenSSL, independently of cjose: the JWS signature of ES256 is the
// fixed-width R || S (RFC 7518 3.4), not DER.
bool openssl_verifies(const json& jwk_json, const std::string& compact) {
  auto x = base64url_decode(jwk_json.at("x").get<std::string>());
  auto y = base64url_decode(jwk_json.at("y").get<std::string>());
  if (!x || !y || x->size() != 32 || y->size() != 32) {
    ADD_FAILURE() << "JWK coordinates must be 32 bytes each";
    return false;
  }
  auto parts = split(compact, '.');
  if (parts.size() != 3) return false;
  auto sig = base64url_decode(parts[2]);
  if (!sig || sig->size() != 64) return false;
  const std::string signing_input = parts[0] + "." + parts[1];

  std::string point = std::string(1, '\x04') + *x + *y;
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
  OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* pctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  EVP_PKEY* pkey = nullptr;
  bool key_ok = pctx != nullptr && EVP_PKEY_fromdata_init(pctx) == 1 &&
                EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
  EVP_PKEY_CTX_free(pctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  if (!key_ok) {
    ADD_FAILURE() << "OpenSSL rejected the public key";
    return false;
  }

  const auto* raw = reinterpret_cast<const unsigned char*>(sig->data());
  ECDSA_SIG* es = ECDSA_SIG_new();
  ECDSA_SIG_set0(es, BN_bin2bn(raw, 32, nullptr), BN_bin2bn(raw + 32, 32, nullptr));
  unsigned char* der = nullptr;
  int der_len = i2d_ECDSA_SIG(es, &der);
  ECDSA_SIG_free(es);

  EVP_MD_CTX* md = EVP_MD_CTX_new();
  bool ok = der_len > 0 && EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, pkey) == 1 &&
            EVP_DigestVerify(md, der, static_cast<std::size_t>(der_len),
                             reinterpret_cast<const unsigned char*>(signing_input.data()),
                             signing_input.size()) == 1;
  EVP_MD_CTX_free(md);
  OPENSSL_free(der);
  EVP_PKEY_free(pkey);
  return ok;
}

// RFC 7638 thumbprint, computed here independently of the production code.
std::string expected_thumbprint(const json& key) {
  const std::string canonical = "{\"crv\":\"" + key.at("crv").get<std::string>() +
                                "\",\"kty\":\"" + key.at("kty").get<std::string>() +
                                "\",\"x\":\"" + key.at("x").get<std::string>() + "\",\"y\":\"" +
                                key.at("y").get<std::string>() + "\"}";
  unsigned char digest[32];
  unsigned int len = 0;
  EVP_Digest(canonical.data(), canonical.size(), digest, &len, EVP_sha256(), nullptr);
  return base64url_encode(std::string_view(reinterpret_cast<char*>(digest), len));
}

Claims sample_claims() {
  Claims c;
  c.issuer = "https://gate.example.org";
  c.audience = "api.example.org/app";
  c.subject = "alice";
  c.email = "alice@example.org";
  c.name = "Alice Ünïcode \"Quoted\"";
  c.groups = {"staff", "admins"};
  c.roles = {"reader"};
  c.real_party = "example";
  c.effective_party = "customer";
  c.delegation = "d-42";
  c.issued_at = 1'700'000'000;
  c.expires_at = 1'700'000'120;
  return c;
}

std::unique_ptr<AssertionSigner> make_signer(const Secret& jwk) {
  auto s = AssertionSigner::from_jwk(jwk);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? std::move(s.value()) : nullptr;
}

std::unique_ptr<AssertionSigner> make_signer() {
  auto jwk = AssertionSigner::new_private_jwk();
  EXPECT_TRUE(jwk.ok());
  return jwk.ok() ? make_signer(*jwk) : nullptr;
}

// Where the key is kept (sealed, once per installation) is vault/system_keys, tested in
// unit/vault; here: one JWK gives one signer, wherever it is loaded.
TEST(AssertionSignerTest, TheSameJwkGivesTheSameKidAndVerifyingSignatures) {
  auto jwk = AssertionSigner::new_private_jwk();
  ASSERT_TRUE(jwk.ok());
  EXPECT_NE(jwk->reveal().find("\"d\""), std::string::npos) << "a private JWK carries d";
  auto first = make_signer(*jwk);
  auto second = make_signer(*jwk);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(second->key_id(), first->key_id());
  EXPECT_EQ(second->jwks_json(), first->jwks_json());
  EXPECT_EQ(second->jwks_json().find("\"d\""), std::string::npos) << "the JWKS must not publish d";
  auto jwt = first->sign(sample_claims());
  ASSERT_TRUE(jwt.ok());
  EXPECT_TRUE(cjose_verifies(public_key(*second), *jwt));
}

TEST(AssertionSignerTest, NewJwksAreDifferentKeys) {
  auto sa = make_signer();
  auto sb = make_signer();
  ASSERT_TRUE(sa && sb);
  EXPECT_NE(sa->key_id(), sb->key_id());
}

TEST(AssertionSignerTest, MalformedJwkIsAnError) {
  for (std::string bad : {"", "{}", "not json", "{\"kty\":\"EC\"}", "{\"kty\":\"oct\",\"k\":\"AAAA\"}", "[1,2]"}) {
    auto signer = AssertionSigner::from_jwk(Secret(bad));
    EXPECT_FALSE(signer.ok()) << bad;
  }
}

TEST(AssertionSignerTest, JwksHoldsOnePublicP256SigningKey) {
  auto signer = make_signer();
  ASSERT_NE(signer, nullptr);
  const json jwks = json::parse(signer->jwks_json());
  ASSERT_TRUE(jwks.contains("keys"));
  ASSERT_TRUE(jwks["keys"].is_array());
  ASSERT_EQ(jwks["keys"].size(), 1u);
  const json& key = jwks["keys"][0];
  EXPECT_EQ(key.value("kty", ""), "EC");
  EXPECT_EQ(key.value("crv", ""), "P-256");
  EXPECT_EQ(key.value("use", ""), "sig");
  EXPECT_EQ(key.value("alg", ""), "ES256");
  EXPECT_EQ(key.value("kid", ""), signer->key_id());
  EXPECT_FALSE(signer->key_id().empty());
  EXPECT_FALSE(key.contains("d")) << "the JWKS publishes the private key";
  EXPECT_EQ(signer->jwks_json().find("\"d\""), std::string::npos);
  EXPECT_EQ(signer->key_id(), expected_thumbprint(key)) << "kid is the RFC 7638 thumbprint";
  auto x = base64url_decode(key.value("x", ""));
  auto y = base64url_decode(key.value("y", ""));
  ASSERT_TRUE(x && y);
  EXPECT_EQ(x->size(), 32u);
  EXPECT_EQ(y->size(), 32u);
}

TEST(AssertionSignerTest, SignedJwtHasEs256HeaderAndAllClaims) {
  auto signer = make_signer();
  ASSERT_NE(signer, nullptr);
  const Claims c = sample_claims();
  auto compact = signer->sign(c);
  ASSERT_TRUE(compact.ok()) << compact.error().message;
  auto jwt = parse_jwt(*compact);
  ASSERT_TRUE(jwt.has_value());

  EXPECT_EQ(jwt->header.value("alg", ""), "ES256");
  EXPECT_EQ(jwt->header.value("kid", ""), signer->key_id());
  EXPECT_EQ(jwt->header.value("typ", ""), "JWT");

  const json& p = jwt->payload;
  EXPECT_EQ(p.value("iss", ""), c.issuer);
  EXPECT_EQ(p.value("aud", ""), c.audience);
  EXPECT_EQ(p.value("sub", ""), c.subject);
  EXPECT_EQ(p.value("email", ""), c.email);
  EXPECT_EQ(p.value("name", ""), c.name);
  EXPECT_EQ(p.at("groups").get<std::vector<std::string>>(), c.groups);
  EXPECT_EQ(p.at("roles").get<std::vector<std::string>>(), c.roles);
  EXPECT_EQ(p.value("real_party", ""), c.real_party);
  EXPECT_EQ(p.value("effective_party", ""), c.effective_party);
  EXPECT_EQ(p.value("delegation", ""), c.delegation);
  ASSERT_TRUE(p.at("iat").is_number_integer());
  ASSERT_TRUE(p.at("exp").is_number_integer());
  EXPECT_EQ(p.at("iat").get<std::int64_t>(), c.issued_at);
  EXPECT_EQ(p.at("exp").get<std::int64_t>(), c.expires_at);
  EXPECT_EQ(jwt->signature.size(), 64u) << "ES256 signatures are R || S, 64 bytes";
}

TEST(AssertionSignerTest, ClaimsWithQuotesAndNewlinesStayValidJson) {
  auto signer = make_signer();
  ASSERT_NE(signer, nullptr);
  Claims c = sample_claims();
  c.subject = "a\"b\\c\nd";
  c.groups = {"x\",\"admins"};
  auto compact = signer->sign(c);
  ASSERT_TRUE(compact.ok());
  auto jwt = parse_jwt(*compact);
  ASSERT_TRUE(jwt.has_value());
  EXPECT_EQ(jwt->payload.value("sub", ""), c.subject);
  EXPECT_EQ(jwt->payload.at("groups").get<std::vector<std::string>>(), c.groups);
}

TEST(AssertionSignerTest, SignatureVerifiesAndFailsAfterAnyPayloadChange) {
  auto signer = make_signer();
  ASSERT_NE(signer, nullptr);
  const json key = public_key(*signer);
  auto compact = signer->sign(sample_claims());
  ASSERT_TRUE(compact.ok());
  EXPECT_TRUE(cjose_verifies(key, *compact));
  EXPECT_TRUE(openssl_verifies(key, *compact));

  auto parts = split(*compact, '.');
  ASSERT_EQ(parts.size(), 3u);
  auto payload = base64url_decode(parts[1]);
  ASSERT_TRUE(payload.has_value());
  for (std::size_t i : {std::size_t{0}, payload->size() / 2, payload->size() - 1}) {
    std::string flipped = *payload;
    flipped[i] ^= 0x01;
    const std::string forged = parts[0] + "." + base64url_encode(flipped) + "." + parts[2];
    EXPECT_FALSE(cjose_verifies(key, forged)) << "byte " << i;
    EXPECT_FALSE(openssl_verifies(key, forged)) << "byte " << i;
  }
  // A privilege-raising edit of a well-formed payload.
  json edited = json::parse(*payload);
  edited["groups"] = {"admins", "root"};
  const std::string forged = parts[0] + "." + base64url_encode(edited.dump()) + "." + parts[2];
  EXPECT_FALSE(cjose_verifies(key, forged));
  EXPECT_FALSE(openssl_verifies(key, forged));
}

TEST(AssertionSignerTest, SignatureFromAnotherKeyDoesNotVerify) {
  auto sa = make_signer();
  auto sb = make_signer();
  ASSERT_TRUE(sa && sb);
  auto jwt = sb->sign(sample_claims());
  ASSERT_TRUE(jwt.ok());
  EXPECT_FALSE(cjose_verifies(public_key(*sa), *jwt));
  EXPECT_FALSE(openssl_verifies(public_key(*sa), *jwt));
}

TEST(AssertionSignerTest, ThreeHundredSignaturesAllVerify) {
  // An R or S with a leading zero byte (about 1 in 128 signatures) exposes encodings
  // that drop or misplace it.
  auto signer = make_signer();
  ASSERT_NE(signer, nullptr);
  const json key = public_key(*signer);
  Claims c = sample_claims();
  int failures = 0;
  for (int i = 0; i < 300; ++i) {
    c.issued_at = 1'700'000'000 + i;
    c.expires_at = c.issued_at + 120;
    auto jwt = signer->sign(c);
    ASSERT_TRUE(jwt.ok()) << "signature " << i;
    auto parts = split(*jwt, '.');
    ASSERT_EQ(parts.size(), 3u);
    auto sig = base64url_decode(parts[2]);
    ASSERT_TRUE(sig.has_value());
    EXPECT_EQ(sig->size(), 64u) << "signature " << i;
    bool ok = cjose_verifies(key, *jwt) && openssl_verifies(key, *jwt);
    if (!ok) ++failures;
    EXPECT_TRUE(ok) << "signature " << i << ": " << *jwt;
  }
  EXPECT_EQ(failures, 0);
}

TEST(AssertionSignerTest, ManyFreshKeysPublishFullLengthCoordinatesThatVerify) {
  // About 1 key in 64 has a coordinate with a leading zero byte; a JWK must still carry
  // it at full length (RFC 7518 6.2.1.2) or verifiers reject or misread the key.
  for (int i = 0; i < 200; ++i) {
    auto jwk = AssertionSigner::new_private_jwk();
    ASSERT_TRUE(jwk.ok());
    auto signer = make_signer(*jwk);
    ASSERT_NE(signer, nullptr);
    const json key = public_key(*signer);
    auto x = base64url_decode(key.value("x", ""));
    auto y = base64url_decode(key.value("y", ""));
    ASSERT_TRUE(x && y);
    EXPECT_EQ(x->size(), 32u) << "key " << i;
    EXPECT_EQ(y->size(), 32u) << "key " << i;
    auto jwt = signer->sign(sample_claims());
    ASSERT_TRUE(jwt.ok());
    EXPECT_TRUE(cjose_verifies(key, *jwt)) << "key " << i;
    EXPECT_TRUE(openssl_verifies(key, *jwt)) << "key " << i;
    // Loading the same private JWK again must give the same published key.
    auto again = make_signer(*jwk);
    ASSERT_NE(again, nullptr);
    EXPECT_EQ(again->jwks_json(), signer->jwks_json()) << "key " << i;
  }
}

// --- AssertionIssuer ---

Principal session_record() {
  Principal s;
  s.session_id = std::string(32, '\x07');
  s.user = {"corp", "alice"};
  s.email = "alice@example.org";
  s.display_name = "Alice";
  s.groups = {"staff", "admins"};
  s.real_party = "example";
  s.effective_party = "example";
  s.expires_at = 1'700'000'000 + 3600;
  return s;
}

class AssertionIssuerTest : public ::testing::Test {
 protected:
  static constexpr std::int64_t kTtl = 120;
  void SetUp() override {
    signer_ = make_signer();
    ASSERT_NE(signer_, nullptr);
    issuer_ = std::make_unique<AssertionIssuer>(*signer_, clock_, "https://gate.example.org", kTtl);
  }
  std::string issue(const Principal& s, const std::string& audience) {
    auto jwt = issuer_->issue(s, audience);
    EXPECT_TRUE(jwt.ok());
    return jwt.ok() ? *jwt : std::string();
  }

  std::unique_ptr<AssertionSigner> signer_;
  FakeClock clock_{1'700'000'000};
  std::unique_ptr<AssertionIssuer> issuer_;
};

TEST_F(AssertionIssuerTest, ReusesTheSameJwtForLessThanHalfItsLifetime) {
  const auto s = session_record();
  const std::string first = issue(s, "/app");
  clock_.advance(kTtl / 2 - 1);
  EXPECT_EQ(issue(s, "/app"), first);
}

TEST_F(AssertionIssuerTest, IssuesANewJwtOnceHalfItsLifetimePassed) {
  const auto s = session_record();
  const std::string first = issue(s, "/app");
  clock_.advance(kTtl / 2);
  const std::string second = issue(s, "/app");
  EXPECT_NE(second, first);
  auto jwt = parse_jwt(second);
  ASSERT_TRUE(jwt.has_value());
  EXPECT_EQ(jwt->payload.at("iat").get<std::int64_t>(), clock_.now());
  // and the new one is reused in turn
  clock_.advance(1);
  EXPECT_EQ(issue(s, "/app"), second);
}

TEST_F(AssertionIssuerTest, DifferentAudienceOrEffectivePartyOrSessionGetsItsOwnJwt) {
  const auto s = session_record();
  const std::string base = issue(s, "/app");

  const std::string other_audience = issue(s, "/other");
  EXPECT_NE(other_audience, base);
  EXPECT_EQ(parse_jwt(other_audience)->payload.value("aud", ""), "/other");

  auto switched = s;
  switched.effective_party = "customer";
  const std::string other_party = issue(switched, "/app");
  EXPECT_NE(other_party, base);
  EXPECT_EQ(parse_jwt(other_party)->payload.value("effective_party", ""), "customer");

  auto other_session = s;
  other_session.session_id = std::string(32, '\x08');
  other_session.user.name = "bob";
  const std::string bob = issue(other_session, "/app");
  EXPECT_NE(bob, base);
  EXPECT_EQ(parse_jwt(bob)->payload.value("sub", ""), "bob");

  EXPECT_EQ(issue(s, "/app"), base) << "the original is still cached";
}

TEST_F(AssertionIssuerTest, AChangeToAnyClaimOfTheSameSessionGetsAFreshJwtAtOnce) {
  // After an OpenID refresh changes groups, e-mail or name, the signed claims must say
  // what the headers say, not what the cached assertion said.
  const auto s = session_record();
  const std::string base = issue(s, "/app");
  auto changed = [&](auto&& change, const char* claim, const nlohmann::json& expected) {
    auto t = s;
    change(t);
    const std::string jwt = issue(t, "/app");
    EXPECT_NE(jwt, base) << claim;
    EXPECT_EQ(parse_jwt(jwt)->payload.at(claim), expected) << claim;
  };
  changed([](auto& t) { t.groups = {"staff"}; }, "groups", nlohmann::json::array({"staff"}));
  changed([](auto& t) { t.groups = {"staff", "admins", "ops"}; }, "groups",
          nlohmann::json::array({"staff", "admins", "ops"}));
  changed([](auto& t) { t.groups = {"staffadmins"}; }, "groups", nlohmann::json::array({"staffadmins"}));
  changed([](auto& t) { t.groups = {}; }, "groups", nlohmann::json::array());
  changed([](auto& t) { t.email = "alice@new.example"; }, "email", "alice@new.example");
  changed([](auto& t) { t.display_name = "Alice New"; }, "name", "Alice New");
  changed([](auto& t) { t.real_party = "other"; }, "real_party", "other");
  changed([](auto& t) { t.user.source = "partners"; }, "src", "partners");
  changed([](auto& t) { t.roles = {"sales"}; }, "roles", nlohmann::json::array({"sales"}));
  changed([](auto& t) { t.delegation_id = 7; }, "delegation", "7");
  changed([](auto& t) { t.delegation_id = 7; t.delegation_until = 1'800'000'000; }, "delegation_until", 1'800'000'000);
  EXPECT_EQ(issue(s, "/app"), base);
}

TEST_F(AssertionIssuerTest, ADelegatedAssertionNeverOutlivesItsDelegation) {
  auto s = session_record();
  s.effective_party = "customer";
  s.delegation_id = 12;
  s.delegation_until = clock_.now() + 30;  // sooner than the ttl
  auto jwt = parse_jwt(issue(s, "/app"));
  ASSERT_TRUE(jwt.has_value());
  EXPECT_EQ(jwt->payload.at("exp").get<std::int64_t>(), s.delegation_until);
  EXPECT_EQ(jwt->payload.value("delegation", ""), "12");
  EXPECT_EQ(jwt->payload.at("delegation_until").get<std::int64_t>(), s.delegation_until);
  EXPECT_EQ(jwt->payload.value("effective_party", ""), "customer");
  // A delegation that lasts longer than the ttl: the ttl decides.
  s.delegation_until = clock_.now() + 10 * kTtl;
  jwt = parse_jwt(issue(s, "/app"));
  EXPECT_EQ(jwt->payload.at("exp").get<std::int64_t>(), clock_.now() + kTtl);
  // Not delegated: the claim is null, the delegation empty.
  jwt = parse_jwt(issue(session_record(), "/app"));
  EXPECT_TRUE(jwt->payload.at("delegation_until").is_null());
  EXPECT_EQ(jwt->payload.value("delegation", "x"), "");
  EXPECT_EQ(jwt->payload.value("src", ""), "corp");
}

TEST_F(AssertionIssuerTest, ClaimsComeFromTheSessionAndExpireAfterTtl) {
  const auto s = session_record();
  auto jwt = parse_jwt(issue(s, "api.example.org/"));
  ASSERT_TRUE(jwt.has_value());
  const json& p = jwt->payload;
  EXPECT_EQ(p.value("iss", ""), "https://gate.example.org");
  EXPECT_EQ(p.value("aud", ""), "api.example.org/");
  EXPECT_EQ(p.value("sub", ""), "alice");
  EXPECT_EQ(p.value("email", ""), "alice@example.org");
  EXPECT_EQ(p.value("name", ""), "Alice");
  EXPECT_EQ(p.at("groups").get<std::vector<std::string>>(), s.groups);
  EXPECT_EQ(p.value("real_party", ""), "example");
  EXPECT_EQ(p.value("effective_party", ""), "example");
  EXPECT_EQ(p.at("iat").get<std::int64_t>(), clock_.now());
  EXPECT_EQ(p.at("exp").get<std::int64_t>(), p.at("iat").get<std::int64_t>() + kTtl);
  EXPECT_TRUE(cjose_verifies(public_key(*signer_), issue(s, "api.example.org/")));
}

TEST_F(AssertionIssuerTest, ClaimsForUsesTheClockAndTtl) {
  const auto c = issuer_->claims_for(session_record(), "/app");
  EXPECT_EQ(c.issued_at, clock_.now());
  EXPECT_EQ(c.expires_at, clock_.now() + kTtl);
  EXPECT_EQ(c.audience, "/app");
}

TEST_F(AssertionIssuerTest, SweepKeepsEntriesThatAreStillReusable) {
  const auto s = session_record();
  const std::string first = issue(s, "/app");
  clock_.advance(1);
  issuer_->sweep();
  EXPECT_EQ(issue(s, "/app"), first) << "a fresh entry must survive the sweep";
  clock_.advance(kTtl);
  issuer_->sweep();
  EXPECT_NE(issue(s, "/app"), first);
}

}  // namespace
}  // namespace gatehouse::auth
