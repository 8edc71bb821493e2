// Self-test of the hostile OpenID provider fixture: it must behave like a strict provider
// when asked to, and each Flaw must produce exactly the intended defect.
#include "integration/hostile_provider.h"

#include <gtest/gtest.h>

#include <atomic>
#include <ctime>
#include <thread>

#include "common/encoding.h"
#include "oidc/jose.h"

namespace gatehouse::testing {
namespace {

using nlohmann::json;
using test_support::make_pkce;
using test_support::Pkce;

constexpr const char* kRedirect = "http://127.0.0.1:9/.gatehouse/oidc/hostile/callback";

// The query parameters of a Location header.
httplib::Params query_of(const std::string& location) {
  httplib::Params params;
  const auto q = location.find('?');
  if (q != std::string::npos) httplib::detail::parse_query_text(location.substr(q + 1), params);
  return params;
}

std::string get(const httplib::Params& params, const std::string& name) {
  auto it = params.find(name);
  return it == params.end() ? "<absent>" : it->second;
}

class HostileProviderTest : public ::testing::Test {
 protected:
  // GET /authorize as a browser sent there by gatehouse would; returns the Location.
  std::string authorize(const std::string& state, const std::string& nonce, const Pkce& pkce,
                        const std::string& method = "S256") {
    httplib::Params q = {{"response_type", "code"},       {"client_id", "gatehouse"},
                         {"redirect_uri", kRedirect},      {"scope", "openid email profile"},
                         {"state", state},                 {"nonce", nonce},
                         {"code_challenge", pkce.challenge}, {"code_challenge_method", method}};
    auto res = client().Get(httplib::append_query_params("/authorize", q));
    EXPECT_TRUE(res) << "no answer";
    if (!res) return "";
    EXPECT_EQ(res->status, 302);
    return res->get_header_value("Location");
  }

  std::string code_for(const std::string& nonce, const Pkce& pkce) {
    auto params = query_of(authorize("st-1", nonce, pkce));
    EXPECT_EQ(get(params, "state"), "st-1");
    return get(params, "code");
  }

  httplib::Result exchange(const std::string& code, const std::string& verifier, bool basic = true,
                           const std::string& secret = "hostile-secret") {
    httplib::Params form = {{"grant_type", "authorization_code"}, {"code", code},
                            {"redirect_uri", kRedirect},           {"code_verifier", verifier}};
    httplib::Client c = client();
    if (basic) {
      c.set_basic_auth("gatehouse", secret);
    } else {
      form.emplace("client_id", "gatehouse");
      form.emplace("client_secret", secret);
    }
    return c.Post("/token", form);
  }

  // A whole login: the token response's JSON (or null on failure).
  json login(const std::string& nonce = "nonce-1") {
    const Pkce pkce = make_pkce();
    auto res = exchange(code_for(nonce, pkce), pkce.verifier);
    EXPECT_TRUE(res);
    if (!res) return nullptr;
    EXPECT_EQ(res->status, 200) << res->body;
    return json::parse(res->body, nullptr, false);
  }

  oidc::KeySet fetch_keys() {
    auto res = client().Get("/jwks");
    EXPECT_TRUE(res && res->status == 200);
    auto set = oidc::KeySet::parse(res ? res->body : "");
    EXPECT_TRUE(set.ok()) << (set.ok() ? "" : set.error().message);
    return set.ok() ? *set : oidc::KeySet();
  }

  oidc::IdTokenExpectations expectations(const std::string& nonce = "nonce-1") {
    oidc::IdTokenExpectations e;
    e.issuer = provider.url();
    e.client_id = "gatehouse";
    e.nonce = nonce;
    e.now = std::time(nullptr);
    return e;
  }

  // What gatehouse would conclude about an ID token: "ok" or the first error code and message.
  std::string judge(const std::string& id_token, const std::string& nonce = "nonce-1") {
    auto verified = oidc::verify_jws(id_token, fetch_keys(), oidc::default_algorithms());
    if (!verified) return verified.error().code + ": " + verified.error().message;
    auto checked = oidc::check_id_token(verified->claims, expectations(nonce));
    if (!checked) return checked.error().code + ": " + checked.error().message;
    return "ok";
  }

  httplib::Client client() { return httplib::Client("127.0.0.1", provider.port()); }

  HostileProvider provider;
};

TEST_F(HostileProviderTest, DiscoveryDescribesItself) {
  auto res = client().Get("/.well-known/openid-configuration");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  json doc = json::parse(res->body);
  EXPECT_EQ(doc["issuer"], provider.url());
  EXPECT_EQ(doc["authorization_endpoint"], provider.url() + "/authorize");
  EXPECT_EQ(doc["token_endpoint"], provider.url() + "/token");
  EXPECT_EQ(doc["jwks_uri"], provider.url() + "/jwks");
  EXPECT_EQ(doc["userinfo_endpoint"], provider.url() + "/userinfo");
  EXPECT_EQ(doc["end_session_endpoint"], provider.url() + "/logout");
  EXPECT_EQ(doc["response_types_supported"], json({"code"}));
  EXPECT_EQ(doc["code_challenge_methods_supported"], json({"S256"}));
  EXPECT_EQ(doc["subject_types_supported"], json({"public"}));
  EXPECT_EQ(doc["token_endpoint_auth_methods_supported"], json({"client_secret_basic", "client_secret_post"}));
  EXPECT_TRUE(doc["id_token_signing_alg_values_supported"].is_array());
  EXPECT_TRUE(doc["scopes_supported"].is_array());
  EXPECT_EQ(provider.requests(Endpoint::discovery), 1);

  provider.set_discovery_issuer_mismatch(true);
  json other = json::parse(client().Get("/.well-known/openid-configuration")->body);
  EXPECT_NE(other["issuer"], provider.url());
  EXPECT_EQ(provider.requests(Endpoint::discovery), 2);
}

TEST_F(HostileProviderTest, AuthorizeRecordsTheRequestAndRedirectsWithACode) {
  const Pkce pkce = make_pkce();
  const std::string location = authorize("state-abc", "nonce-xyz", pkce);
  ASSERT_EQ(location.rfind(std::string(kRedirect) + "?", 0), 0u) << location;
  auto params = query_of(location);
  EXPECT_EQ(get(params, "state"), "state-abc");
  EXPECT_GE(get(params, "code").size(), 20u);
  EXPECT_EQ(get(params, "iss"), "<absent>");
  auto seen = provider.last_authorize();
  EXPECT_EQ(seen.client_id, "gatehouse");
  EXPECT_EQ(seen.redirect_uri, kRedirect);
  EXPECT_EQ(seen.state, "state-abc");
  EXPECT_EQ(seen.nonce, "nonce-xyz");
  EXPECT_EQ(seen.code_challenge, pkce.challenge);
  EXPECT_EQ(seen.code_challenge_method, "S256");
  EXPECT_EQ(seen.scope, "openid email profile");
  EXPECT_EQ(provider.requests(Endpoint::authorize), 1);

  provider.set_authorize_iss(true);
  EXPECT_EQ(get(query_of(authorize("s", "n", pkce)), "iss"), provider.url());
}

TEST_F(HostileProviderTest, AuthorizeKnobs) {
  const Pkce pkce = make_pkce();
  provider.set_authorize_state("forged-state");
  EXPECT_EQ(get(query_of(authorize("real-state", "n", pkce)), "state"), "forged-state");
  provider.set_authorize_state("");
  provider.set_authorize_error("access_denied");
  auto params = query_of(authorize("real-state", "n", pkce));
  EXPECT_EQ(get(params, "error"), "access_denied");
  EXPECT_EQ(get(params, "code"), "<absent>");
  EXPECT_EQ(get(params, "state"), "real-state");
}

TEST_F(HostileProviderTest, AuthorizeInsistsOnPkceS256AndItsClient) {
  const Pkce pkce = make_pkce();
  EXPECT_EQ(get(query_of(authorize("s", "n", pkce, "plain")), "error"), "invalid_request");
  auto res = client().Get("/authorize?response_type=code&client_id=intruder&redirect_uri=http%3A%2F%2Fevil%2F");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_FALSE(res->has_header("Location"));
}

TEST_F(HostileProviderTest, CodeExchangeWithPkceGivesAValidIdToken) {
  provider.set_id_token_claims({{"preferred_username", "alice"}, {"email", "alice@example.org"},
                                {"name", "Alice"}, {"groups", {"staff", "admins"}}, {"tenant", "acme"}});
  const Pkce pkce = make_pkce();
  auto res = exchange(code_for("nonce-1", pkce), pkce.verifier);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  json body = json::parse(res->body);
  EXPECT_EQ(body["token_type"], "Bearer");
  EXPECT_EQ(body["expires_in"], 300);
  EXPECT_FALSE(body.contains("refresh_token"));
  ASSERT_TRUE(body["access_token"].is_string());
  EXPECT_EQ(provider.last_token_auth_method(), "client_secret_basic");
  EXPECT_EQ(provider.last_id_token(), body["id_token"]);

  const std::string id_token = body["id_token"];
  EXPECT_EQ(judge(id_token), "ok");
  auto verified = oidc::verify_jws(id_token, fetch_keys(), oidc::default_algorithms());
  ASSERT_TRUE(verified.ok());
  EXPECT_EQ(verified->alg, "RS256");
  EXPECT_EQ(verified->kid, "k1");
  const json& c = verified->claims;
  EXPECT_EQ(c["sub"], "hostile-user-1");
  EXPECT_EQ(c["aud"], "gatehouse");
  EXPECT_EQ(c["nonce"], "nonce-1");
  EXPECT_EQ(c["preferred_username"], "alice");
  EXPECT_EQ(c["groups"], json({"staff", "admins"}));
  EXPECT_EQ(c["tenant"], "acme");
  EXPECT_EQ(c["exp"].get<std::int64_t>() - c["iat"].get<std::int64_t>(), 300);
  EXPECT_GE(provider.jwks_fetches(), 1);

  // Userinfo answers the access token it issued, and nothing else.
  httplib::Client c2 = client();
  c2.set_bearer_token_auth(body["access_token"].get<std::string>());
  auto info = c2.Get("/userinfo");
  ASSERT_TRUE(info);
  ASSERT_EQ(info->status, 200);
  json claims = json::parse(info->body);
  EXPECT_EQ(claims["sub"], "hostile-user-1");
  EXPECT_EQ(claims["email"], "alice@example.org");
  c2.set_bearer_token_auth("made-up");
  auto refused = c2.Get("/userinfo");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
  EXPECT_EQ(client().Get("/userinfo")->status, 401);
  EXPECT_EQ(provider.requests(Endpoint::userinfo), 3);
}

TEST_F(HostileProviderTest, UserinfoCanNameAnotherSubject) {
  provider.set_userinfo({{"sub", "someone-else"}, {"email", "x@example.org"}});
  json body = login();
  httplib::Client c = client();
  c.set_bearer_token_auth(body["access_token"].get<std::string>());
  EXPECT_EQ(json::parse(c.Get("/userinfo")->body)["sub"], "someone-else");
}

TEST_F(HostileProviderTest, ClientSecretPostIsAcceptedAndRecorded) {
  const Pkce pkce = make_pkce();
  auto res = exchange(code_for("nonce-1", pkce), pkce.verifier, false);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(provider.last_token_auth_method(), "client_secret_post");
}

TEST_F(HostileProviderTest, OnlyTheAdvertisedAuthMethodIsAccepted) {
  provider.set_token_auth_methods({"client_secret_post"});
  json doc = json::parse(client().Get("/.well-known/openid-configuration")->body);
  EXPECT_EQ(doc["token_endpoint_auth_methods_supported"], json({"client_secret_post"}));
  const Pkce pkce = make_pkce();
  auto basic = exchange(code_for("n", pkce), pkce.verifier, true);
  ASSERT_TRUE(basic);
  EXPECT_EQ(basic->status, 401);
  EXPECT_EQ(json::parse(basic->body)["error"], "invalid_client");
}

TEST_F(HostileProviderTest, WrongClientSecretIsInvalidClient) {
  for (bool basic : {true, false}) {
    const Pkce pkce = make_pkce();
    auto res = exchange(code_for("n", pkce), pkce.verifier, basic, "wrong-secret");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401) << basic;
    EXPECT_EQ(json::parse(res->body)["error"], "invalid_client");
  }
}

TEST_F(HostileProviderTest, ReplayedCodeIsRefused) {
  const Pkce pkce = make_pkce();
  const std::string code = code_for("n", pkce);
  auto first = exchange(code, pkce.verifier);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  auto replay = exchange(code, pkce.verifier);
  ASSERT_TRUE(replay);
  EXPECT_EQ(replay->status, 400);
  EXPECT_EQ(json::parse(replay->body)["error"], "invalid_grant");
  auto unknown = exchange("never-issued", pkce.verifier);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 400);
}

TEST_F(HostileProviderTest, WrongVerifierIsRefusedAndSpendsTheCode) {
  const Pkce pkce = make_pkce();
  const std::string code = code_for("n", pkce);
  auto wrong = exchange(code, make_pkce().verifier);
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 400);
  EXPECT_EQ(json::parse(wrong->body)["error"], "invalid_grant");
  auto after = exchange(code, pkce.verifier);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 400);
  // The challenge itself is no verifier.
  const Pkce other = make_pkce();
  auto challenge = exchange(code_for("n", other), other.challenge);
  ASSERT_TRUE(challenge);
  EXPECT_EQ(challenge->status, 400);
}

TEST_F(HostileProviderTest, RedirectUriMustMatch) {
  const Pkce pkce = make_pkce();
  httplib::Client c = client();
  c.set_basic_auth("gatehouse", "hostile-secret");
  auto res = c.Post("/token", httplib::Params{{"grant_type", "authorization_code"},
                                              {"code", code_for("n", pkce)},
                                              {"redirect_uri", "http://127.0.0.1:9/elsewhere"},
                                              {"code_verifier", pkce.verifier}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(json::parse(res->body)["error"], "invalid_grant");
}

struct FlawCase {
  Flaw flaw;
  const char* code;     // the error gatehouse's JOSE module must give
  const char* message;  // a part of its message
};

class HostileProviderFlaws : public HostileProviderTest, public ::testing::WithParamInterface<FlawCase> {};

TEST_P(HostileProviderFlaws, EachFlawIsTheIntendedDefect) {
  provider.set_flaw(GetParam().flaw);
  json body = login();
  ASSERT_TRUE(body.is_object());
  const std::string verdict = judge(body["id_token"]);
  EXPECT_EQ(verdict.rfind(std::string(GetParam().code) + ": ", 0), 0u) << verdict;
  EXPECT_NE(verdict.find(GetParam().message), std::string::npos) << verdict;
  // Back to a faithful provider, the same login is accepted: the flaw alone made the difference.
  provider.set_flaw(Flaw::none);
  EXPECT_EQ(judge(login()["id_token"]), "ok");
}

INSTANTIATE_TEST_SUITE_P(
    All, HostileProviderFlaws,
    ::testing::Values(FlawCase{Flaw::alg_none, "jwt.alg_refused", "\"none\""},
                      FlawCase{Flaw::hs256_with_public_key, "jwt.alg_refused", "HMAC"},
                      FlawCase{Flaw::bad_signature, "jwt.bad_signature", "does not verify with key \"k1\""},
                      FlawCase{Flaw::unknown_kid, "jwt.unknown_kid", "\"k-unpublished\""},
                      FlawCase{Flaw::wrong_iss, "jwt.claims", "iss \"https://evil.example\""},
                      FlawCase{Flaw::wrong_aud, "jwt.claims", "aud does not contain \"gatehouse\""},
                      FlawCase{Flaw::expired, "jwt.claims", "token expired at"},
                      FlawCase{Flaw::iat_future, "jwt.claims", "is in the future"},
                      FlawCase{Flaw::missing_nonce, "jwt.claims", "missing nonce"},
                      FlawCase{Flaw::wrong_nonce, "jwt.claims", "nonce mismatch"}),
    [](const auto& info) { return std::string(flaw_name(info.param.flaw)); });

TEST(HostileProviderFlawList, CoversEveryFlawOnce) {
  EXPECT_EQ(all_flaws().size(), 10u);
  for (Flaw f : all_flaws()) EXPECT_NE(f, Flaw::none);
}

TEST_F(HostileProviderTest, HsFlawUsesThePublishedKeyAsSecret) {
  provider.set_flaw(Flaw::hs256_with_public_key);
  const std::string token = login()["id_token"];
  auto header = json::parse(*base64url_decode(token.substr(0, token.find('.'))));
  EXPECT_EQ(header["alg"], "HS256");
  EXPECT_EQ(header["kid"], "k1");
}

TEST_F(HostileProviderTest, ExtraAudiencesAndAzp) {
  provider.set_extra_audiences({"https://api.example"}, "gatehouse");
  login();
  auto verified = oidc::verify_jws(provider.last_id_token(), fetch_keys(), oidc::default_algorithms());
  ASSERT_TRUE(verified.ok());
  EXPECT_EQ(verified->claims["aud"], json({"gatehouse", "https://api.example"}));
  EXPECT_EQ(verified->claims["azp"], "gatehouse");
  EXPECT_EQ(judge(provider.last_id_token()), "ok");

  provider.set_extra_audiences({"https://api.example"}, "");
  EXPECT_NE(judge(login()["id_token"]).find("missing azp"), std::string::npos);
  provider.set_extra_audiences({}, "someone-else");
  EXPECT_NE(judge(login()["id_token"]).find("azp \"someone-else\""), std::string::npos);
}

TEST_F(HostileProviderTest, KeyRotationPublishesTheSecondKeyLate) {
  provider.sign_with_second_key(1);
  const std::string token = login()["id_token"];
  const int before = provider.jwks_fetches();
  // The first fetch still lacks k2: the caller sees an unknown kid and refetches once.
  auto first = oidc::verify_jws(token, fetch_keys(), oidc::default_algorithms());
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().code, "jwt.unknown_kid");
  auto second = oidc::verify_jws(token, fetch_keys(), oidc::default_algorithms());
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->kid, "k2");
  EXPECT_EQ(second->alg, "ES256");
  EXPECT_EQ(provider.jwks_fetches(), before + 2);
  EXPECT_TRUE(oidc::KeySet::parse(provider.jwks())->has_kid("k2"));
}

TEST_F(HostileProviderTest, RefreshTokensWhenEnabled) {
  provider.set_refresh_tokens(true);
  json body = login("nonce-r");
  ASSERT_TRUE(body["refresh_token"].is_string());
  httplib::Client c = client();
  c.set_basic_auth("gatehouse", "hostile-secret");
  auto res = c.Post("/token", httplib::Params{{"grant_type", "refresh_token"},
                                              {"refresh_token", body["refresh_token"].get<std::string>()}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  json refreshed = json::parse(res->body);
  EXPECT_NE(refreshed["access_token"], body["access_token"]);
  EXPECT_EQ(judge(refreshed["id_token"], "nonce-r"), "ok");
  auto bogus = c.Post("/token", httplib::Params{{"grant_type", "refresh_token"}, {"refresh_token", "bogus"}});
  ASSERT_TRUE(bogus);
  EXPECT_EQ(bogus->status, 400);

  provider.set_refresh_tokens(false);
  EXPECT_FALSE(login().contains("refresh_token"));
}

TEST_F(HostileProviderTest, LogoutRecordsItsQuery) {
  auto res = client().Get("/logout?id_token_hint=abc&post_logout_redirect_uri=http%3A%2F%2Fapp%2Fbye&state=s9");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  auto seen = provider.last_logout();
  EXPECT_EQ(seen.id_token_hint, "abc");
  EXPECT_EQ(seen.post_logout_redirect_uri, "http://app/bye");
  EXPECT_EQ(seen.state, "s9");
  EXPECT_EQ(provider.requests(Endpoint::logout), 1);
}

TEST_F(HostileProviderTest, MintsBearerTokens) {
  const std::int64_t now = std::time(nullptr);
  const json claims = {{"iss", provider.url()}, {"aud", "https://api.example"}, {"sub", "svc"}, {"exp", now + 60},
                       {"nbf", now - 5}};
  oidc::AccessTokenExpectations e{provider.url(), "https://api.example", now, 60};
  auto good = oidc::verify_jws(provider.mint(claims), fetch_keys(), oidc::default_algorithms());
  ASSERT_TRUE(good.ok()) << good.error().message;
  EXPECT_EQ(good->claims, claims);
  EXPECT_TRUE(oidc::check_access_token(good->claims, e).ok());
  auto tampered = oidc::verify_jws(provider.mint(claims, Flaw::bad_signature), fetch_keys(), oidc::default_algorithms());
  ASSERT_FALSE(tampered.ok());
  EXPECT_EQ(tampered.error().code, "jwt.bad_signature");
  auto none = oidc::verify_jws(provider.mint(claims, Flaw::alg_none), fetch_keys(), oidc::default_algorithms());
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, "jwt.alg_refused");
}

TEST_F(HostileProviderTest, ConcurrentLogins) {
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3; ++i) {
        const Pkce pkce = make_pkce();
        httplib::Params q = {{"response_type", "code"}, {"client_id", "gatehouse"},
                             {"redirect_uri", kRedirect}, {"scope", "openid"},
                             {"state", "s"},            {"nonce", "n" + std::to_string(t)},
                             {"code_challenge", pkce.challenge}, {"code_challenge_method", "S256"}};
        httplib::Client c("127.0.0.1", provider.port());
        auto a = c.Get(httplib::append_query_params("/authorize", q));
        if (!a) continue;
        auto code = get(query_of(a->get_header_value("Location")), "code");
        c.set_basic_auth("gatehouse", "hostile-secret");
        auto r = c.Post("/token", httplib::Params{{"grant_type", "authorization_code"}, {"code", code},
                                                  {"redirect_uri", kRedirect}, {"code_verifier", pkce.verifier}});
        if (r && r->status == 200) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 12);
  EXPECT_EQ(provider.requests(Endpoint::token), 12);
}

}  // namespace
}  // namespace gatehouse::testing
