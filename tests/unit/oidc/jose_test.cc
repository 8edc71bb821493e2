#include "oidc/jose.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <thread>

#include "common/encoding.h"
#include "support/jose_forge.h"

namespace gatehouse::oidc {
namespace {

using nlohmann::json;
using test_support::KeyKind;
using test_support::TestKey;

constexpr std::int64_t kNow = 1'700'000'000;

// Key generation (RSA especially) is slow under the sanitizers: one set for the whole suite.
struct Keys {
  TestKey rsa = TestKey::generate(KeyKind::rsa, "r1");
  TestKey rsa2 = TestKey::generate(KeyKind::rsa, "r2");
  TestKey ec = TestKey::generate(KeyKind::ec_p256, "e1");
  TestKey ed = TestKey::generate(KeyKind::ed25519, "d1");
  TestKey rs256_only = TestKey::generate(KeyKind::rsa, "r-rs256", "RS256");
  TestKey stranger = TestKey::generate(KeyKind::rsa, "r1");  // same kid as `rsa`, never published
};

const Keys& keys() {
  static const Keys k;
  return k;
}

KeySet key_set(const std::vector<TestKey>& list) {
  auto set = KeySet::parse(test_support::jwks_json(list));
  EXPECT_TRUE(set.ok()) << (set.ok() ? "" : set.error().message);
  return set.ok() ? *set : KeySet();
}

KeySet all_keys() {
  const Keys& k = keys();
  return key_set({k.rsa, k.rsa2, k.ec, k.ed, k.rs256_only});
}

const std::vector<std::string>& defaults() {
  static const std::vector<std::string> algs = default_algorithms();
  return algs;
}

json sample_claims() {
  return {{"iss", "https://idp.example"}, {"sub", "u1"}, {"aud", "gatehouse"}, {"exp", kNow + 300},
          {"iat", kNow}, {"nonce", "n-123"}};
}

// The error code of a failed verification, and a check that its message keeps the token out.
std::string error_code(const Result<VerifiedJwt>& r, std::string_view token) {
  if (r.ok()) return "ok";
  if (!token.empty()) {
    EXPECT_EQ(r.error().message.find(token), std::string::npos) << "the message repeats the token";
  }
  const auto sig = token.substr(token.rfind('.') + 1);
  if (sig.size() > 8) {
    EXPECT_EQ(r.error().message.find(sig), std::string::npos) << "the message repeats the signature";
  }
  return r.error().code;
}

std::string verify_code(const std::string& token, const KeySet& set,
                        const std::vector<std::string>& allowed = default_algorithms()) {
  return error_code(verify_jws(token, set, allowed), token);
}

// ---- default_algorithms -----------------------------------------------------------------

TEST(JoseAlgorithms, DefaultsAreTheFourAsymmetricOnes) {
  EXPECT_EQ(default_algorithms(), (std::vector<std::string>{"RS256", "PS256", "ES256", "EdDSA"}));
}

// ---- KeySet ---------------------------------------------------------------------------

TEST(JoseKeySet, ParsesRsaEcAndOkpKeys) {
  KeySet set = all_keys();
  EXPECT_EQ(set.size(), 5u);
  for (const char* kid : {"r1", "r2", "e1", "d1", "r-rs256"}) EXPECT_TRUE(set.has_kid(kid)) << kid;
  EXPECT_FALSE(set.has_kid("nope"));
  EXPECT_FALSE(set.has_kid(""));
}

TEST(JoseKeySet, EmptySetByDefaultAndForAnEmptyList) {
  EXPECT_EQ(KeySet().size(), 0u);
  auto set = KeySet::parse(R"({"keys":[]})");
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->size(), 0u);
}

TEST(JoseKeySet, CopiesShareTheKeys) {
  KeySet a = all_keys();
  KeySet b = a;
  a = KeySet();
  EXPECT_EQ(b.size(), 5u);
  json claims = sample_claims();
  EXPECT_EQ(verify_code(keys().rsa.sign_jwt(claims), b), "ok");
}

TEST(JoseKeySet, SkipsKeysItCannotOrMustNotUse) {
  json rsa = keys().rsa.public_jwk();
  json enc = rsa;
  enc["use"] = "enc";
  enc["kid"] = "enc";
  json wrap_ops = rsa;
  wrap_ops.erase("use");
  wrap_ops["key_ops"] = {"wrapKey"};
  wrap_ops["kid"] = "wrap";
  json verify_ops = rsa;
  verify_ops.erase("use");
  verify_ops["key_ops"] = {"verify"};
  verify_ops["kid"] = "ops-verify";
  json oct = {{"kty", "oct"}, {"k", "c2VjcmV0"}, {"kid", "oct"}};
  json p384 = {{"kty", "EC"}, {"crv", "P-384"}, {"x", "AAAA"}, {"y", "AAAA"}, {"kid", "p384"}};
  json x25519 = {{"kty", "OKP"}, {"crv", "X25519"}, {"x", "AAAA"}, {"kid", "x25519"}};
  json no_kty = {{"kid", "nokty"}, {"n", "AAAA"}};
  // A 1024-bit modulus: too weak to trust, skipped rather than failing the whole set.
  json weak = {{"kty", "RSA"}, {"kid", "weak"}, {"e", "AQAB"},
               {"n", base64url_encode(std::string(1, '\xc1') + std::string(127, '\x55'))}};
  json doc = {{"keys", {rsa, enc, wrap_ops, verify_ops, oct, p384, x25519, no_kty, weak}}};
  auto set = KeySet::parse(doc.dump());
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_EQ(set->size(), 2u);
  EXPECT_TRUE(set->has_kid("r1"));
  EXPECT_TRUE(set->has_kid("ops-verify"));
  for (const char* kid : {"enc", "wrap", "oct", "p384", "x25519", "nokty", "weak"})
    EXPECT_FALSE(set->has_kid(kid)) << kid;
}

TEST(JoseKeySet, PrivateMembersAreIgnored) {
  const Keys& k = keys();
  json doc = {{"keys", {k.rsa.private_jwk(), k.ec.private_jwk(), k.ed.private_jwk()}}};
  ASSERT_TRUE(doc["keys"][0].contains("d"));
  auto set = KeySet::parse(doc.dump());
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_EQ(set->size(), 3u);
  EXPECT_EQ(verify_code(k.rsa.sign_jwt(sample_claims()), *set), "ok");
  EXPECT_EQ(verify_code(k.ec.sign_jwt(sample_claims()), *set), "ok");
  EXPECT_EQ(verify_code(k.ed.sign_jwt(sample_claims()), *set), "ok");
}

struct BadJwks {
  const char* name;
  std::function<std::string()> document;
  const char* message_part;
};

class JoseKeySetErrors : public ::testing::TestWithParam<BadJwks> {};

std::string with_key(std::function<void(json&)> edit, const TestKey& key) {
  json jwk = key.public_jwk();
  edit(jwk);
  return json{{"keys", {jwk}}}.dump();
}

TEST_P(JoseKeySetErrors, RefusedWithJwksError) {
  auto set = KeySet::parse(GetParam().document());
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error().code, "oidc.jwks");
  EXPECT_NE(set.error().message.find(GetParam().message_part), std::string::npos) << set.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, JoseKeySetErrors,
    ::testing::Values(
        BadJwks{"NotJson", [] { return std::string("{\"keys\":"); }, "not JSON"},
        BadJwks{"NoKeys", [] { return std::string("{}"); }, "no \"keys\" array"},
        BadJwks{"KeysNotArray", [] { return std::string(R"({"keys":{}})"); }, "no \"keys\" array"},
        BadJwks{"TopLevelArray", [] { return std::string("[]"); }, "no \"keys\" array"},
        BadJwks{"KeyNotObject", [] { return std::string(R"({"keys":[42]})"); }, "key #1 is not a JSON object"},
        BadJwks{"RsaWithoutN", [] { return with_key([](json& j) { j.erase("n"); }, keys().rsa); }, "\"n\" is missing"},
        BadJwks{"RsaBadBase64N", [] { return with_key([](json& j) { j["n"] = "!!!"; }, keys().rsa); },
                "\"n\" is not base64url"},
        BadJwks{"RsaNumericE", [] { return with_key([](json& j) { j["e"] = 65537; }, keys().rsa); },
                "\"e\" is not a base64url string"},
        BadJwks{"RsaEvenE", [] { return with_key([](json& j) { j["e"] = "AQAA"; }, keys().rsa); },
                "not a valid RSA exponent"},
        BadJwks{"RsaUnitE", [] { return with_key([](json& j) { j["e"] = "AQ"; }, keys().rsa); },
                "not a valid RSA exponent"},
        BadJwks{"EcShortX", [] { return with_key([](json& j) { j["x"] = "AAAA"; }, keys().ec); },
                "\"x\" is 3 bytes, not 32"},
        BadJwks{"EcWithoutY", [] { return with_key([](json& j) { j.erase("y"); }, keys().ec); }, "\"y\" is missing"},
        BadJwks{"EcPointOffCurve",
                [] {
                  return with_key([](json& j) { j["y"] = base64url_encode(std::string(32, '\x01')); }, keys().ec);
                },
                "key #1 (kid \"e1\")"},
        BadJwks{"EcNumericCrv", [] { return with_key([](json& j) { j["crv"] = 256; }, keys().ec); },
                "\"crv\" is not a string"},
        BadJwks{"OkpLongX",
                [] { return with_key([](json& j) { j["x"] = base64url_encode(std::string(33, 'x')); }, keys().ed); },
                "\"x\" is 33 bytes, not 32"},
        BadJwks{"KidNotString", [] { return with_key([](json& j) { j["kid"] = 7; }, keys().rsa); },
                "\"kid\" is not a string"},
        BadJwks{"UseNotString", [] { return with_key([](json& j) { j["use"] = json::array(); }, keys().rsa); },
                "\"use\" is not a string"},
        BadJwks{"AlgNotString", [] { return with_key([](json& j) { j["alg"] = true; }, keys().rsa); },
                "\"alg\" is not a string"},
        BadJwks{"KeyOpsNotArray", [] { return with_key([](json& j) { j["key_ops"] = "verify"; }, keys().rsa); },
                "\"key_ops\" is not an array"}),
    [](const auto& info) { return std::string(info.param.name); });

// ---- verify_jws: good tokens ------------------------------------------------------------

struct GoodCase {
  const char* name;
  const TestKey& (*key)();
  const char* alg;
};

class JoseVerifyValid : public ::testing::TestWithParam<GoodCase> {};

TEST_P(JoseVerifyValid, VerifiesAndReturnsHeaderAndClaims) {
  const TestKey& key = GetParam().key();
  json claims = sample_claims();
  claims["groups"] = {"a", "b"};
  const std::string token = key.sign_jwt(claims, GetParam().alg);
  auto r = verify_jws(token, all_keys(), defaults());
  ASSERT_TRUE(r.ok()) << r.error().code << ": " << r.error().message;
  EXPECT_EQ(r->claims, claims);
  EXPECT_EQ(r->alg, GetParam().alg);
  EXPECT_EQ(r->kid, key.kid());
  EXPECT_EQ(r->header["alg"], GetParam().alg);
  EXPECT_EQ(r->header["typ"], "JWT");
  // The same token with one signature bit flipped does not verify.
  EXPECT_EQ(verify_code(test_support::corrupt_signature(token), all_keys()), "jwt.bad_signature");
  EXPECT_EQ(verify_code(test_support::corrupt_signature(token, 31), all_keys()), "jwt.bad_signature");
}

INSTANTIATE_TEST_SUITE_P(Algorithms, JoseVerifyValid,
                         ::testing::Values(GoodCase{"RS256", []() -> const TestKey& { return keys().rsa; }, "RS256"},
                                           GoodCase{"PS256", []() -> const TestKey& { return keys().rsa; }, "PS256"},
                                           GoodCase{"ES256", []() -> const TestKey& { return keys().ec; }, "ES256"},
                                           GoodCase{"EdDSA", []() -> const TestKey& { return keys().ed; }, "EdDSA"}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(JoseVerify, TamperedPayloadFailsTheSignature) {
  const std::string token = keys().rsa.sign_jwt(sample_claims());
  json evil = sample_claims();
  evil["sub"] = "admin";
  const std::size_t d1 = token.find('.'), d2 = token.rfind('.');
  const std::string tampered = token.substr(0, d1 + 1) + base64url_encode(evil.dump()) + token.substr(d2);
  EXPECT_EQ(verify_code(tampered, all_keys()), "jwt.bad_signature");
}

TEST(JoseVerify, WithoutKidEveryFittingKeyIsTried) {
  json header = {{"alg", "RS256"}};
  const std::string token = keys().rsa2.sign(header, sample_claims().dump());
  auto r = verify_jws(token, all_keys(), defaults());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->kid, "r2");
  const std::string ed_token = keys().ed.sign({{"alg", "EdDSA"}}, sample_claims().dump());
  auto e = verify_jws(ed_token, all_keys(), defaults());
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->kid, "d1");
}

TEST(JoseVerify, WithoutKidAndNoKeyVerifyingIsABadSignature) {
  const std::string token = keys().stranger.sign({{"alg", "RS256"}}, sample_claims().dump());
  EXPECT_EQ(verify_code(token, all_keys()), "jwt.bad_signature");
}

TEST(JoseVerify, WithoutKidAndNoKeyOfTheTypeIsAnUnknownKey) {
  const std::string token = keys().ec.sign({{"alg", "ES256"}}, sample_claims().dump());
  EXPECT_EQ(verify_code(token, key_set({keys().rsa})), "jwt.unknown_kid");
  EXPECT_EQ(verify_code(token, KeySet()), "jwt.unknown_kid");
}

TEST(JoseVerify, UnknownKid) {
  const TestKey other = TestKey::generate(KeyKind::ec_p256, "rotated-away");
  auto r = verify_jws(other.sign_jwt(sample_claims()), all_keys(), defaults());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "jwt.unknown_kid");
  EXPECT_NE(r.error().message.find("\"rotated-away\""), std::string::npos) << r.error().message;
}

TEST(JoseVerify, KidOfAnotherKeyTypeIsABadSignature) {
  // An EC signature claiming the kid of an RSA key.
  const std::string token = keys().ec.sign({{"alg", "ES256"}, {"kid", "r1"}}, sample_claims().dump());
  auto r = verify_jws(token, all_keys(), defaults());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "jwt.bad_signature");
  EXPECT_NE(r.error().message.find("RSA"), std::string::npos) << r.error().message;
  // EdDSA against an EC kid, RS256 against an OKP kid.
  EXPECT_EQ(verify_code(keys().ed.sign({{"alg", "EdDSA"}, {"kid", "e1"}}, "{}"), all_keys()), "jwt.bad_signature");
  EXPECT_EQ(verify_code(keys().rsa.sign({{"alg", "RS256"}, {"kid", "d1"}}, "{}"), all_keys()), "jwt.bad_signature");
}

TEST(JoseVerify, JwkAlgMustMatchTheTokenAlg) {
  const TestKey& key = keys().rs256_only;
  EXPECT_EQ(verify_code(key.sign_jwt(sample_claims(), "RS256"), all_keys()), "ok");
  auto r = verify_jws(key.sign_jwt(sample_claims(), "PS256"), all_keys(), defaults());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "jwt.bad_signature");
  EXPECT_NE(r.error().message.find("alg \"RS256\""), std::string::npos) << r.error().message;
}

TEST(JoseVerify, SameKidButAnotherKeyIsABadSignature) {
  EXPECT_EQ(verify_code(keys().stranger.sign_jwt(sample_claims()), all_keys()), "jwt.bad_signature");
}

TEST(JoseVerify, SignatureOfTheWrongLengthIsABadSignature) {
  for (const TestKey* key : {&keys().rsa, &keys().ec, &keys().ed}) {
    const std::string token = key->sign_jwt(sample_claims());
    const std::string header_payload = token.substr(0, token.rfind('.') + 1);
    auto sig = base64url_decode(token.substr(token.rfind('.') + 1));
    ASSERT_TRUE(sig.has_value());
    EXPECT_EQ(verify_code(header_payload + base64url_encode(sig->substr(1)), all_keys()), "jwt.bad_signature")
        << key->kid();
    EXPECT_EQ(verify_code(header_payload + base64url_encode(*sig + '\0'), all_keys()), "jwt.bad_signature")
        << key->kid();
    EXPECT_EQ(verify_code(header_payload, all_keys()), "jwt.bad_signature") << key->kid();
  }
}

TEST(JoseVerify, ConcurrentVerificationsShareTheKeys) {
  const KeySet set = all_keys();
  std::vector<std::string> tokens;
  for (const TestKey* key : {&keys().rsa, &keys().ec, &keys().ed}) tokens.push_back(key->sign_jwt(sample_claims()));
  tokens.push_back(keys().rsa.sign_jwt(sample_claims(), "PS256"));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i)
        for (const auto& token : tokens)
          if (!verify_jws(token, set, defaults()).ok()) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

// ---- verify_jws: refused algorithms ---------------------------------------------------

TEST(JoseVerify, AlgNoneIsRefused) {
  for (const char* none : {"none", "None", "NONE"}) {
    const std::string token = test_support::unsigned_token(sample_claims(), {{"alg", none}, {"kid", "r1"}});
    ASSERT_EQ(token.back(), '.');
    auto r = verify_jws(token, all_keys(), defaults());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "jwt.alg_refused") << none;
  }
  // Even when a misconfigured allow-list names it.
  const std::vector<std::string> with_none = {"none", "RS256"};
  EXPECT_EQ(verify_code(test_support::unsigned_token(sample_claims()), all_keys(), with_none), "jwt.alg_refused");
}

TEST(JoseVerify, Hs256SignedWithThePublicKeyIsRefusedBeforeAnyKeyUse) {
  const TestKey& rsa = keys().rsa;
  const std::vector<std::string> secrets = {rsa.public_pem(), rsa.public_jwk().dump(),
                                            test_support::jwks_json({rsa})};
  ASSERT_NE(secrets[0].find("BEGIN PUBLIC KEY"), std::string::npos);
  const std::vector<std::string> with_hs = {"HS256", "RS256"};
  for (const auto& secret : secrets) {
    for (const char* alg : {"HS256", "HS384", "HS512"}) {
      const std::string token = test_support::hs256_token(secret, sample_claims(), {{"alg", alg}, {"kid", "r1"}});
      auto r = verify_jws(token, all_keys(), with_hs);
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error().code, "jwt.alg_refused") << alg;
      EXPECT_NE(r.error().message.find("HMAC"), std::string::npos) << r.error().message;
    }
  }
  // Spellings cjose would not sign are refused all the same.
  const std::string lower = test_support::compact(R"({"alg":"hs256","kid":"r1"})", sample_claims().dump(),
                                                  std::string(32, 'x'));
  EXPECT_EQ(verify_code(lower, all_keys()), "jwt.alg_refused");
  // Refused from the header alone: the same token against an empty key set still says alg.
  EXPECT_EQ(verify_code(test_support::hs256_token(secrets[0], sample_claims(), {{"alg", "HS256"}, {"kid", "r1"}}),
                        KeySet()),
            "jwt.alg_refused");
}

TEST(JoseVerify, AlgOutsideANarrowedAllowListIsRefused) {
  const std::vector<std::string> es_only = {"ES256"};
  EXPECT_EQ(verify_code(keys().ec.sign_jwt(sample_claims()), all_keys(), es_only), "ok");
  auto r = verify_jws(keys().rsa.sign_jwt(sample_claims()), all_keys(), es_only);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "jwt.alg_refused");
  EXPECT_NE(r.error().message.find("\"RS256\""), std::string::npos) << r.error().message;
  EXPECT_EQ(verify_code(keys().ed.sign_jwt(sample_claims()), all_keys(), es_only), "jwt.alg_refused");
  EXPECT_EQ(verify_code(keys().rsa.sign_jwt(sample_claims(), "PS256"), all_keys(), es_only), "jwt.alg_refused");
  EXPECT_EQ(verify_code(keys().ec.sign_jwt(sample_claims()), all_keys(), {}), "jwt.alg_refused");
}

TEST(JoseVerify, AlgorithmsGatehouseDoesNotImplementAreRefusedEvenIfAllowed) {
  const std::vector<std::string> wide = {"RS256", "RS384", "ES384"};
  EXPECT_EQ(verify_code(keys().rsa.sign_jwt(sample_claims(), "RS384"), all_keys(), wide), "jwt.alg_refused");
}

// ---- verify_jws: malformed ------------------------------------------------------------

TEST(JoseVerify, MalformedTokens) {
  const std::string good = keys().rsa.sign_jwt(sample_claims());
  const std::string h = good.substr(0, good.find('.'));
  const std::string p = good.substr(good.find('.') + 1, good.rfind('.') - good.find('.') - 1);
  const std::string s = good.substr(good.rfind('.') + 1);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"one part", h},
      {"two parts", h + "." + p},
      {"four parts", h + "." + p + "." + s + "." + s},
      {"five parts (JWE)", h + ".." + s + "." + s + "." + s},
      {"bad base64 header", "e30*." + p + "." + s},
      {"padded header", h + "==." + p + "." + s},
      {"bad base64 payload", h + ".a." + s},
      {"bad base64 signature", h + "." + p + "." + s.substr(0, s.size() - 1) + "*"},
      {"header not JSON", base64url_encode("not json") + "." + p + "." + s},
      {"header an array", base64url_encode(R"(["alg","RS256"])") + "." + p + "." + s},
      {"header without alg", base64url_encode(R"({"kid":"r1"})") + "." + p + "." + s},
      {"alg not a string", base64url_encode(R"({"alg":["RS256"]})") + "." + p + "." + s},
      {"kid not a string", base64url_encode(R"({"alg":"RS256","kid":1})") + "." + p + "." + s},
      {"payload not JSON", h + "." + base64url_encode("{") + "." + s},
      {"deeply nested header", base64url_encode(std::string(20000, '[') + std::string(20000, ']')) + "." + p + "." + s},
      {"huge", h + "." + std::string(70 * 1024, 'A') + "." + s},
  };
  for (const auto& [name, token] : cases) EXPECT_EQ(verify_code(token, all_keys()), "jwt.malformed") << name;
}

TEST(JoseVerify, SignedButMalformedPayloadsAndHeaders) {
  const TestKey& rsa = keys().rsa;
  const json header = {{"alg", "RS256"}, {"kid", "r1"}};
  EXPECT_EQ(verify_code(rsa.sign(header, R"(["sub","u1"])"), all_keys()), "jwt.malformed");
  EXPECT_EQ(verify_code(rsa.sign(header, "\"just a string\""), all_keys()), "jwt.malformed");
  EXPECT_EQ(verify_code(rsa.sign(header, "not json at all"), all_keys()), "jwt.malformed");
  json big = sample_claims();
  big["padding"] = std::string(64 * 1024, 'x');
  EXPECT_EQ(verify_code(rsa.sign_jwt(big), all_keys()), "jwt.malformed");
  json crit = header;
  crit["crit"] = {"x-gatehouse-test"};
  crit["x-gatehouse-test"] = "must be understood";
  const std::string crit_token = rsa.sign(crit, sample_claims().dump());
  auto r = verify_jws(crit_token, all_keys(), defaults());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "jwt.malformed");
  EXPECT_NE(r.error().message.find("crit"), std::string::npos);
  // Just under the limit is fine: the limit is about size, not content.
  json large = sample_claims();
  large["padding"] = std::string(40 * 1024, 'x');
  EXPECT_EQ(verify_code(rsa.sign_jwt(large), all_keys()), "ok");
}

TEST(JoseVerify, KeysNamedInTheHeaderAreIgnored) {
  // A token that brings its own key ("jwk") verifies only against the provider's keys.
  const TestKey attacker = TestKey::generate(KeyKind::ec_p256, "");
  json header = {{"alg", "ES256"}, {"jwk", attacker.public_jwk()}, {"jku", "http://evil.example/jwks"}};
  EXPECT_EQ(verify_code(attacker.sign(header, sample_claims().dump()), all_keys()), "jwt.bad_signature");
}

// ---- check_id_token ---------------------------------------------------------------------

IdTokenExpectations id_expectations() {
  IdTokenExpectations e;
  e.issuer = "https://idp.example";
  e.client_id = "gatehouse";
  e.nonce = "n-123";
  e.now = kNow;
  e.skew = 60;
  return e;
}

struct ClaimCase {
  const char* name;
  std::function<void(json&)> edit;
  const char* error;  // nullptr: accepted; else a part of the "jwt.claims" message
};

std::string describe(const Status& s) { return s.ok() ? "ok" : s.error().code + ": " + s.error().message; }

void expect_claims(const Status& s, const ClaimCase& c) {
  if (c.error == nullptr) {
    EXPECT_TRUE(s.ok()) << c.name << " -> " << describe(s);
    return;
  }
  ASSERT_FALSE(s.ok()) << c.name << " was accepted";
  EXPECT_EQ(s.error().code, "jwt.claims") << c.name;
  EXPECT_NE(s.error().message.find(c.error), std::string::npos) << c.name << " -> " << s.error().message;
}

class JoseIdToken : public ::testing::TestWithParam<ClaimCase> {};

TEST_P(JoseIdToken, Rule) {
  json claims = sample_claims();
  GetParam().edit(claims);
  expect_claims(check_id_token(claims, id_expectations()), GetParam());
}

const auto set_claim = [](const char* name, json value) { return [=](json& c) { c[name] = value; }; };
const auto drop_claim = [](const char* name) { return [=](json& c) { c.erase(name); }; };

INSTANTIATE_TEST_SUITE_P(
    Claims, JoseIdToken,
    ::testing::Values(
        ClaimCase{"Valid", [](json&) {}, nullptr},
        ClaimCase{"MissingIss", drop_claim("iss"), "missing iss"},
        ClaimCase{"WrongIss", set_claim("iss", "https://evil.example"), "iss \"https://evil.example\" is not the expected"},
        ClaimCase{"IssWithTrailingSlash", set_claim("iss", "https://idp.example/"), "is not the expected issuer"},
        ClaimCase{"IssNotString", set_claim("iss", 1), "iss is not a string"},
        ClaimCase{"MissingSub", drop_claim("sub"), "missing sub"},
        ClaimCase{"EmptySub", set_claim("sub", ""), "sub is not a non-empty string"},
        ClaimCase{"SubNotString", set_claim("sub", 42), "sub is not a non-empty string"},
        ClaimCase{"MissingAud", drop_claim("aud"), "missing aud"},
        ClaimCase{"WrongAud", set_claim("aud", "someone-else"), "aud does not contain \"gatehouse\""},
        ClaimCase{"AudNumber", set_claim("aud", 7), "aud must be a string or an array of strings"},
        ClaimCase{"AudObject", set_claim("aud", json::object()), "aud must be a string or an array of strings"},
        ClaimCase{"AudArrayWithNumber", set_claim("aud", json{"gatehouse", 1}), "aud must be a string or an array"},
        ClaimCase{"AudEmptyArray", set_claim("aud", json::array()), "aud does not contain"},
        ClaimCase{"AudArrayWithoutClient", set_claim("aud", json{"a", "b"}), "aud does not contain \"gatehouse\""},
        ClaimCase{"AudSingleElementArray", set_claim("aud", json{"gatehouse"}), nullptr},
        ClaimCase{"SeveralAudiencesNeedAzp", set_claim("aud", json{"gatehouse", "api"}), "missing azp"},
        ClaimCase{"SeveralAudiencesWithAzp",
                  [](json& c) {
                    c["aud"] = {"api", "gatehouse"};
                    c["azp"] = "gatehouse";
                  },
                  nullptr},
        ClaimCase{"SeveralAudiencesWithOtherAzp",
                  [](json& c) {
                    c["aud"] = {"gatehouse", "api"};
                    c["azp"] = "api";
                  },
                  "azp \"api\" is not the client \"gatehouse\""},
        ClaimCase{"SingleAudienceWithMatchingAzp", set_claim("azp", "gatehouse"), nullptr},
        ClaimCase{"SingleAudienceWithOtherAzp", set_claim("azp", "other"), "azp \"other\" is not the client"},
        ClaimCase{"AzpNotString", set_claim("azp", json::array()), "azp is not a string"},
        ClaimCase{"MissingExp", drop_claim("exp"), "missing exp"},
        ClaimCase{"ExpString", set_claim("exp", "1700000300"), "exp is not a number"},
        ClaimCase{"ExpBoolean", set_claim("exp", true), "exp is not a number"},
        ClaimCase{"ExpiredAtTheSkewEdge", set_claim("exp", kNow - 60), "token expired at 1699999940"},
        ClaimCase{"ValidOneSecondInsideTheSkew", set_claim("exp", kNow - 59), nullptr},
        ClaimCase{"ExpiredLongAgo", set_claim("exp", 0), "token expired at 0"},
        ClaimCase{"ExpFractional", set_claim("exp", static_cast<double>(kNow) - 59.5), nullptr},
        ClaimCase{"ExpFractionalExpired", set_claim("exp", static_cast<double>(kNow) - 60.5), "token expired"},
        ClaimCase{"ExpHuge", set_claim("exp", 1e300), nullptr},
        ClaimCase{"ExpNegativeHuge", set_claim("exp", -1e300), "token expired"},
        ClaimCase{"MissingIat", drop_claim("iat"), "missing iat"},
        ClaimCase{"IatString", set_claim("iat", "now"), "iat is not a number"},
        ClaimCase{"IatAtTheSkewEdge", set_claim("iat", kNow + 60), nullptr},
        ClaimCase{"IatInTheFuture", set_claim("iat", kNow + 61), "iat 1700000061 is in the future"},
        ClaimCase{"NbfAtTheSkewEdge", set_claim("nbf", kNow + 60), nullptr},
        ClaimCase{"NbfInTheFuture", set_claim("nbf", kNow + 61), "not valid before 1700000061"},
        ClaimCase{"NbfInThePast", set_claim("nbf", kNow - 1000), nullptr},
        ClaimCase{"NbfString", set_claim("nbf", "soon"), "nbf is not a number"},
        ClaimCase{"MissingNonce", drop_claim("nonce"), "missing nonce"},
        ClaimCase{"WrongNonce", set_claim("nonce", "n-124"), "nonce mismatch"},
        ClaimCase{"NoncePrefix", set_claim("nonce", "n-12"), "nonce mismatch"},
        ClaimCase{"EmptyNonce", set_claim("nonce", ""), "nonce mismatch"},
        ClaimCase{"NonceNotString", set_claim("nonce", 123), "nonce is not a string"},
        ClaimCase{"ExtraClaimsAreFine", set_claim("groups", json{"x"}), nullptr}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(JoseIdTokenChecks, ClaimsMustBeAnObject) {
  for (const json& claims : {json::array(), json("x"), json(), json(1)}) {
    Status s = check_id_token(claims, id_expectations());
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, "jwt.claims");
  }
}

TEST(JoseIdTokenChecks, AnEmptyExpectedNonceAcceptsNothing) {
  IdTokenExpectations e = id_expectations();
  e.nonce = "";
  json claims = sample_claims();
  claims["nonce"] = "";
  Status s = check_id_token(claims, e);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "jwt.claims");
}

TEST(JoseIdTokenChecks, SkewIsConfigurable) {
  IdTokenExpectations e = id_expectations();
  e.skew = 0;
  json claims = sample_claims();
  claims["exp"] = kNow;
  EXPECT_FALSE(check_id_token(claims, e).ok());
  claims["exp"] = kNow + 1;
  EXPECT_TRUE(check_id_token(claims, e).ok());
  claims["iat"] = kNow + 1;
  EXPECT_FALSE(check_id_token(claims, e).ok());
}

TEST(JoseIdTokenChecks, MessagesKeepAttackerTextPrintable) {
  json claims = sample_claims();
  claims["iss"] = "https://evil.example\n2024-01-01 INFO login ok user=admin";
  Status s = check_id_token(claims, id_expectations());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message.find('\n'), std::string::npos) << s.error().message;
}

// ---- check_access_token -----------------------------------------------------------------

AccessTokenExpectations access_expectations() {
  AccessTokenExpectations e;
  e.issuer = "https://idp.example";
  e.audience = "https://api.example";
  e.now = kNow;
  e.skew = 60;
  return e;
}

json access_claims() {
  return {{"iss", "https://idp.example"}, {"aud", "https://api.example"}, {"exp", kNow + 300}};
}

class JoseAccessToken : public ::testing::TestWithParam<ClaimCase> {};

TEST_P(JoseAccessToken, Rule) {
  json claims = access_claims();
  GetParam().edit(claims);
  expect_claims(check_access_token(claims, access_expectations()), GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    Claims, JoseAccessToken,
    ::testing::Values(
        ClaimCase{"ValidWithoutSubIatNbf", [](json&) {}, nullptr},
        ClaimCase{"MissingIss", drop_claim("iss"), "missing iss"},
        ClaimCase{"WrongIss", set_claim("iss", "https://idp.example.evil"), "is not the expected issuer"},
        ClaimCase{"MissingAud", drop_claim("aud"), "missing aud"},
        ClaimCase{"WrongAud", set_claim("aud", "gatehouse"), "aud does not contain \"https://api.example\""},
        ClaimCase{"AudNumber", set_claim("aud", 3), "aud must be a string or an array of strings"},
        ClaimCase{"AudArrayContaining", set_claim("aud", json{"other", "https://api.example"}), nullptr},
        ClaimCase{"AudArrayNotContaining", set_claim("aud", json{"other"}), "aud does not contain"},
        ClaimCase{"SeveralAudiencesNeedNoAzp", set_claim("aud", json{"a", "https://api.example"}), nullptr},
        ClaimCase{"MissingExp", drop_claim("exp"), "missing exp"},
        ClaimCase{"ExpString", set_claim("exp", "tomorrow"), "exp is not a number"},
        ClaimCase{"ExpiredAtTheSkewEdge", set_claim("exp", kNow - 60), "token expired at 1699999940"},
        ClaimCase{"ValidInsideTheSkew", set_claim("exp", kNow - 59), nullptr},
        ClaimCase{"NbfAtTheSkewEdge", set_claim("nbf", kNow + 60), nullptr},
        ClaimCase{"NbfInTheFuture", set_claim("nbf", kNow + 61), "not valid before"},
        ClaimCase{"NbfString", set_claim("nbf", "x"), "nbf is not a number"},
        ClaimCase{"IatAtTheSkewEdge", set_claim("iat", kNow + 60), nullptr},
        ClaimCase{"IatInTheFuture", set_claim("iat", kNow + 61), "iat 1700000061 is in the future"},
        ClaimCase{"IatNull", set_claim("iat", nullptr), "iat is not a number"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(JoseAccessTokenChecks, ClaimsMustBeAnObject) {
  Status s = check_access_token(json::array(), access_expectations());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "jwt.claims");
}

// The whole path an API request takes: a bearer token verified, then its claims checked.
TEST(JoseAccessTokenChecks, VerifiedBearerTokenEndToEnd) {
  json claims = access_claims();
  claims["sub"] = "svc";
  auto verified = verify_jws(keys().ec.sign_jwt(claims), all_keys(), defaults());
  ASSERT_TRUE(verified.ok()) << verified.error().message;
  EXPECT_TRUE(check_access_token(verified->claims, access_expectations()).ok());
  AccessTokenExpectations other = access_expectations();
  other.audience = "https://other.example";
  EXPECT_FALSE(check_access_token(verified->claims, other).ok());
}

}  // namespace
}  // namespace gatehouse::oidc
