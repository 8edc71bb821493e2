// oidc::Provider against a scripted HTTP client: discovery rules, the token endpoint's
// client authentication and answers, JWKS caching and refetching, claim mapping.
#include "oidc/provider.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/encoding.h"
#include "support/jose_forge.h"

namespace gatehouse::oidc {
namespace {

using json = nlohmann::json;
using test_support::KeyKind;
using test_support::TestKey;

constexpr const char* kIssuer = "https://idp.example.org";

class ScriptedHttp final : public HttpClient {
 public:
  Result<HttpResponse> send(const HttpRequest& request) override {
    std::lock_guard lock(mu);
    requests.push_back(request);
    auto it = answers.find(request.url);
    if (it == answers.end()) return make_error("oidc.unreachable", request.url + ": connection refused");
    return it->second;
  }
  void answer(const std::string& url, long status, const std::string& body,
              const std::string& type = "application/json") {
    std::lock_guard lock(mu);
    answers[url] = HttpResponse{status, type, body};
  }
  void drop(const std::string& url) {
    std::lock_guard lock(mu);
    answers.erase(url);
  }
  int count(const std::string& url) {
    std::lock_guard lock(mu);
    int n = 0;
    for (const auto& r : requests) n += r.url == url;
    return n;
  }
  std::mutex mu;
  std::map<std::string, HttpResponse> answers;
  std::vector<HttpRequest> requests;
};

json discovery_doc(const std::string& issuer = kIssuer) {
  return {{"issuer", issuer},
          {"authorization_endpoint", std::string(kIssuer) + "/authorize"},
          {"token_endpoint", std::string(kIssuer) + "/token"},
          {"jwks_uri", std::string(kIssuer) + "/jwks"},
          {"userinfo_endpoint", std::string(kIssuer) + "/userinfo"},
          {"end_session_endpoint", std::string(kIssuer) + "/logout"}};
}

class ProviderTest : public ::testing::Test {
 protected:
  ProviderTest() : key_(TestKey::generate(KeyKind::rsa, "k1")) {
    config_.name = "sso";
    config_.issuer = kIssuer;
    config_.issuer_url = *config::Url::parse(kIssuer);
    config_.client_id = "gatehouse";
    config_.tenant = "example";
    http_ = std::make_shared<ScriptedHttp>();
    http_->answer(discovery_url(), 200, discovery_doc().dump());
    http_->answer(jwks_url(), 200, test_support::jwks_json({key_}));
  }

  Provider& provider() {
    if (!provider_)
      provider_ = std::make_unique<Provider>(config_, "https://gate.example.org/.gatehouse/oidc/sso/callback",
                                             Secret("s3cret:&"), http_, clock_);
    return *provider_;
  }
  static std::string discovery_url() { return std::string(kIssuer) + "/.well-known/openid-configuration"; }
  static std::string jwks_url() { return std::string(kIssuer) + "/jwks"; }
  static std::string token_url() { return std::string(kIssuer) + "/token"; }

  json claims() const {
    return {{"iss", kIssuer}, {"sub", "u-1"}, {"aud", "gatehouse"}, {"exp", clock_.now() + 300},
            {"iat", clock_.now()}, {"nonce", "n-1"}};
  }

  config::OidcConfig config_;
  FakeClock clock_;
  std::shared_ptr<ScriptedHttp> http_;
  TestKey key_;
  std::unique_ptr<Provider> provider_;
};

TEST_F(ProviderTest, DiscoveryIsFetchedOnceAndRefreshedAfterItsInterval) {
  ASSERT_TRUE(provider().discovery().ok());
  ASSERT_TRUE(provider().discovery().ok());
  EXPECT_EQ(http_->count(discovery_url()), 1);
  clock_.advance(config_.discovery_refresh.count());
  ASSERT_TRUE(provider().discovery().ok());
  EXPECT_EQ(http_->count(discovery_url()), 2);
}

TEST_F(ProviderTest, AnUnreachableRefreshKeepsTheCachedDiscovery) {
  ASSERT_TRUE(provider().discovery().ok());
  http_->drop(discovery_url());
  clock_.advance(config_.discovery_refresh.count());
  auto d = provider().discovery();
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->token_endpoint, token_url());
}

TEST_F(ProviderTest, DiscoveryNamingAnotherIssuerIsRefused) {
  http_->answer(discovery_url(), 200, discovery_doc("https://evil.example.org").dump());
  auto d = provider().discovery();
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, "oidc.discovery");
  EXPECT_NE(d.error().message.find("evil.example.org"), std::string::npos);
}

TEST_F(ProviderTest, DiscoveryWithATrailingSlashIssuerIsAnotherIssuer) {
  http_->answer(discovery_url(), 200, discovery_doc(std::string(kIssuer) + "/").dump());
  EXPECT_FALSE(provider().discovery().ok());
}

TEST_F(ProviderTest, PlainHttpEndpointsOfAnHttpsIssuerAreRefused) {
  auto doc = discovery_doc();
  doc["token_endpoint"] = "http://idp.example.org/token";
  http_->answer(discovery_url(), 200, doc.dump());
  auto d = provider().discovery();
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("token_endpoint"), std::string::npos);
}

TEST_F(ProviderTest, BrokenDiscoveryDocumentsAreErrorsNotCrashes) {
  for (std::string body : {"", "[]", "{", "null", "{\"issuer\": 5}", "{\"issuer\":\"https://idp.example.org\"}",
                           "{\"issuer\":\"https://idp.example.org\",\"authorization_endpoint\":[],"
                           "\"token_endpoint\":\"x\",\"jwks_uri\":\"y\"}"}) {
    http_->answer(discovery_url(), 200, body);
    provider_.reset();
    auto d = provider().discovery();
    ASSERT_FALSE(d.ok()) << body;
    EXPECT_EQ(d.error().code, "oidc.discovery") << body;
  }
  http_->answer(discovery_url(), 404, "not here");
  provider_.reset();
  EXPECT_FALSE(provider().discovery().ok());
}

TEST_F(ProviderTest, AuthorizationUrlCarriesEveryParameter) {
  auto url = provider().authorization_url("st", "no", "ch");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->rfind(std::string(kIssuer) + "/authorize?", 0), 0u) << *url;
  for (const char* part : {"response_type=code", "client_id=gatehouse", "state=st", "nonce=no", "code_challenge=ch",
                           "code_challenge_method=S256", "scope=openid+email+profile",
                           "redirect_uri=https%3A%2F%2Fgate.example.org%2F.gatehouse%2Foidc%2Fsso%2Fcallback"})
    EXPECT_NE(url->find(part), std::string::npos) << part << " in " << *url;
}

TEST_F(ProviderTest, CodeIsRedeemedWithBasicAuthenticationByDefault) {
  http_->answer(token_url(), 200,
                json{{"access_token", "at"}, {"token_type", "Bearer"}, {"id_token", "it"}, {"expires_in", 300}}.dump());
  auto t = provider().redeem_code("the-code", "the-verifier");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->access_token, "at");
  EXPECT_EQ(t->id_token, "it");
  EXPECT_TRUE(t->refresh_token.empty());
  const auto& r = http_->requests.back();
  EXPECT_EQ(r.method, "POST");
  bool basic = false;
  for (const auto& [name, value] : r.headers)
    if (name == "Authorization") {
      basic = true;
      // RFC 6749 §2.3.1: form-encoded, then base64: "gatehouse:s3cret%3A%26".
      EXPECT_EQ(value, "Basic " + base64_encode("gatehouse:s3cret%3A%26"));
    }
  EXPECT_TRUE(basic);
  EXPECT_NE(r.body.find("grant_type=authorization_code"), std::string::npos);
  EXPECT_NE(r.body.find("code=the-code"), std::string::npos);
  EXPECT_NE(r.body.find("code_verifier=the-verifier"), std::string::npos);
  EXPECT_EQ(r.body.find("client_secret"), std::string::npos);
}

TEST_F(ProviderTest, ClientSecretPostWhenThatIsAllTheProviderOffers) {
  auto doc = discovery_doc();
  doc["token_endpoint_auth_methods_supported"] = {"client_secret_post", "private_key_jwt"};
  http_->answer(discovery_url(), 200, doc.dump());
  http_->answer(token_url(), 200, json{{"access_token", "at"}, {"token_type", "bearer"}, {"id_token", "it"}}.dump());
  ASSERT_TRUE(provider().redeem_code("c", "v").ok());
  const auto& r = http_->requests.back();
  EXPECT_NE(r.body.find("client_id=gatehouse"), std::string::npos);
  EXPECT_NE(r.body.find("client_secret=s3cret%3A%26"), std::string::npos);
  for (const auto& [name, value] : r.headers) EXPECT_NE(name, "Authorization");
}

TEST_F(ProviderTest, NoUsableClientAuthenticationIsADiscoveryError) {
  auto doc = discovery_doc();
  doc["token_endpoint_auth_methods_supported"] = {"private_key_jwt"};
  http_->answer(discovery_url(), 200, doc.dump());
  auto d = provider().discovery();
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("client_secret_basic"), std::string::npos);
}

TEST_F(ProviderTest, TokenEndpointRefusalsAndNonsenseAreErrors) {
  http_->answer(token_url(), 400, R"({"error":"invalid_grant","error_description":"grant request is invalid"})");
  auto refused = provider().redeem_code("c", "v");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "oidc.token");
  EXPECT_NE(refused.error().message.find("invalid_grant (grant request is invalid)"), std::string::npos);
  for (std::string body : {"", "[]", R"({"token_type":"Bearer","id_token":"x"})",
                           R"({"access_token":"a","token_type":"MAC","id_token":"x"})",
                           R"({"access_token":"a","token_type":"Bearer"})",
                           R"({"access_token":"a","token_type":"Bearer","id_token":7})"}) {
    http_->answer(token_url(), 200, body);
    auto t = provider().redeem_code("c", "v");
    ASSERT_FALSE(t.ok()) << body;
    EXPECT_EQ(t.error().code, "oidc.token") << body;
  }
  // A refresh may come without a new ID token.
  http_->answer(token_url(), 200, R"({"access_token":"a","token_type":"Bearer","refresh_token":"r2"})");
  auto refreshed = provider().refresh("r1");
  ASSERT_TRUE(refreshed.ok());
  EXPECT_EQ(refreshed->refresh_token, "r2");
  EXPECT_NE(http_->requests.back().body.find("grant_type=refresh_token"), std::string::npos);
}

TEST_F(ProviderTest, VerifyFetchesTheKeysOnceAndRefetchesForAnUnknownKidAtMostOncePerInterval) {
  auto good = key_.sign_jwt(claims());
  ASSERT_TRUE(provider().verify(good).ok());
  ASSERT_TRUE(provider().verify(good).ok());
  EXPECT_EQ(http_->count(jwks_url()), 1);

  // A new key, published now: the first token with its kid refetches and verifies.
  auto rotated = TestKey::generate(KeyKind::ec_p256, "k2");
  http_->answer(jwks_url(), 200, test_support::jwks_json({key_, rotated}));
  ASSERT_TRUE(provider().verify(rotated.sign_jwt(claims())).ok());
  EXPECT_EQ(http_->count(jwks_url()), 2);

  // Garbage kids cannot make gatehouse hammer the provider: within the interval after
  // that refetch, none; after it, one for five tokens.
  auto stranger = TestKey::generate(KeyKind::rsa, "nobody");
  EXPECT_FALSE(provider().verify(stranger.sign_jwt(claims())).ok());
  EXPECT_EQ(http_->count(jwks_url()), 2);
  clock_.advance(config_.jwks_refetch_interval.count());
  for (int i = 0; i < 5; ++i) {
    auto v = provider().verify(stranger.sign_jwt(claims()));
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.error().code, "jwt.unknown_kid");
  }
  EXPECT_EQ(http_->count(jwks_url()), 3);
  clock_.advance(config_.jwks_refetch_interval.count() - 1);
  EXPECT_FALSE(provider().verify(stranger.sign_jwt(claims())).ok());
  EXPECT_EQ(http_->count(jwks_url()), 3);
  clock_.advance(1);
  EXPECT_FALSE(provider().verify(stranger.sign_jwt(claims())).ok());
  EXPECT_EQ(http_->count(jwks_url()), 4);
}

TEST_F(ProviderTest, VerifyCachedNeverFetches) {
  auto good = key_.sign_jwt(claims());
  EXPECT_FALSE(provider().verify_cached(good).has_value());  // no keys yet
  EXPECT_EQ(http_->count(jwks_url()), 0);
  ASSERT_TRUE(provider().verify(good).ok());
  auto cached = provider().verify_cached(good);
  ASSERT_TRUE(cached.has_value());
  EXPECT_TRUE(cached->ok());
  auto stranger = TestKey::generate(KeyKind::rsa, "nobody");
  EXPECT_FALSE(provider().verify_cached(stranger.sign_jwt(claims())).has_value());  // may refetch
  EXPECT_EQ(http_->count(jwks_url()), 1);
}

TEST_F(ProviderTest, AlgorithmsOutsideTheConfiguredListAreRefused) {
  config_.algorithms = {"ES256"};
  auto v = provider().verify(key_.sign_jwt(claims()));
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, "jwt.alg_refused");
}

TEST_F(ProviderTest, UserinfoAnswersAreCheckedForShape) {
  http_->answer(std::string(kIssuer) + "/userinfo", 200, R"({"sub":"u-1","groups":["a"]})");
  auto info = provider().userinfo("at");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ((*info)["groups"][0], "a");
  bool bearer = false;
  for (const auto& [name, value] : http_->requests.back().headers) bearer = bearer || value == "Bearer at";
  EXPECT_TRUE(bearer);
  http_->answer(std::string(kIssuer) + "/userinfo", 200, "eyJ.x.y", "application/jwt");
  EXPECT_FALSE(provider().userinfo("at").ok());
  http_->answer(std::string(kIssuer) + "/userinfo", 401, R"({"error":"invalid_token"})");
  auto refused = provider().userinfo("at");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "oidc.userinfo");
}

TEST_F(ProviderTest, ClaimsBecomeAnIdentity) {
  json c = {{"sub", "u-1"},   {"preferred_username", "alice"}, {"email", "alice@example.org"},
            {"name", "Alice"}, {"groups", {"eng", "dev", "eng"}}};
  auto id = provider().identity(c);
  ASSERT_TRUE(id.ok()) << id.error().message;
  EXPECT_EQ(id->username, "alice");
  EXPECT_EQ(id->email, "alice@example.org");
  EXPECT_EQ(id->display_name, "Alice");
  EXPECT_EQ(id->groups, (std::vector<std::string>{"dev", "eng"}));
  EXPECT_EQ(id->tenant, "example");

  c["groups"] = "solo";
  EXPECT_EQ(provider().identity(c)->groups, (std::vector<std::string>{"solo"}));
}

TEST_F(ProviderTest, TenantComesFromItsClaimWhenConfigured) {
  config_.tenant_claim = "org";
  json c = {{"sub", "u-1"}, {"preferred_username", "bob"}, {"org", "acme"}};
  EXPECT_EQ(provider().identity(c)->tenant, "acme");
  c.erase("org");
  EXPECT_EQ(provider().identity(c)->tenant, "example");  // the provider's tenant as fallback
  config_.tenant.clear();
  provider_.reset();
  auto none = provider().identity(c);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, "oidc.claims");
}

TEST_F(ProviderTest, UnusableClaimsAreRefusedWithTheReason) {
  auto refused = [&](const json& c) {
    auto id = provider().identity(c);
    EXPECT_FALSE(id.ok()) << c.dump();
    return id.ok() ? std::string() : id.error().message;
  };
  EXPECT_NE(refused({{"sub", "u-1"}}).find("preferred_username"), std::string::npos);
  refused({{"sub", "u-1"}, {"preferred_username", 42}});
  refused({{"sub", "u-1"}, {"preferred_username", "eve\r\nX-Gatehouse-User: admin"}});
  refused({{"sub", "u-1"}, {"preferred_username", "eve"}, {"groups", {1, 2}}});
  refused({{"sub", "u-1"}, {"preferred_username", "eve"}, {"groups", {{"a", 1}}}});
  refused({{"sub", "u-1"}, {"preferred_username", "eve"}, {"groups", {""}}});
  refused({{"sub", "u-1"}, {"preferred_username", "eve"}, {"email", {"x"}}});
}

TEST_F(ProviderTest, BearerTokensWithoutAUserNameUseSub) {
  json c = {{"sub", "api-client"}, {"client_id", "api-client"}};
  EXPECT_FALSE(provider().identity(c).ok());
  auto id = provider().identity(c, /*fallback_to_sub=*/true);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->username, "api-client");
}

TEST_F(ProviderTest, CheckNoticesAProviderThatWentAway) {
  EXPECT_TRUE(provider().check().ok());
  http_->drop(discovery_url());
  EXPECT_TRUE(provider().check().ok());  // answered from the last 30 s
  clock_.advance(31);
  auto st = provider().check();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "oidc.unreachable");
}

}  // namespace
}  // namespace gatehouse::oidc
