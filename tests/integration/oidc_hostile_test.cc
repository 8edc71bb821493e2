// gatehouse as the relying party of an OpenID provider that misbehaves on purpose
// (tests/integration/hostile_provider.h): every wrong ID token, callback and discovery
// document is refused with an error page and an audit record, and the right ones give
// a session with the provider's claims. Also bearer tokens, refresh and logout.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "integration/harness.h"
#include "integration/hostile_provider.h"
#include "integration/http_browser.h"

namespace gatehouse::testing {
namespace {

using json = nlohmann::json;

class HostileOidcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    provider_ = std::make_unique<HostileProvider>();
    provider_->set_id_token_claims({{"preferred_username", "hostile"},
                                    {"email", "hostile@example.org"},
                                    {"name", "Hostile User"},
                                    {"groups", {"red", "blue"}},
                                    {"org", "acme"}});
  }
  void TearDown() override {
    if (daemon_) daemon_->stop();
  }

  // Starts gatehouse with a local directory and provider "sso" (plus `extra` keys).
  void start(const std::string& extra = "", bool with_directory = true) {
    {
      std::ofstream out(dir_.file("oidc.secret"));
      out << provider_->options().client_secret << "\n";
    }
    const std::string directories =
        std::string(with_directory ? "[[directory]]\nname = \"local\"\nkind = \"local\"\n\n" : "") +
        "[[oidc]]\nname = \"sso\"\ndisplay_name = \"Hostile SSO\"\nissuer = \"" + provider_->url() +
        "\"\nclient_id = \"gatehouse\"\nclient_secret_file = \"" + dir_.file("oidc.secret") +
        "\"\ntenant = \"example\"\ntenant_claim = \"org\"\njwks_refetch_interval = \"1s\"\n" + extra + "\n";
    config_ = dir_.file("gatehouse.toml");
    std::ofstream(config_) << basic_config(dir_, directories, upstream_.url());
    daemon_ = std::make_unique<Daemon>(std::vector<std::string>{"serve", "--config", config_});
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
    browser_.resolve("gatehouse.test", 80, daemon_->port());
  }

  Navigation sign_in(const std::string& rd = "/app") {
    return browser_.get(std::string(kPublicUrl) + "/.gatehouse/oidc/sso/start?rd=" + rd);
  }

  // The audit records of one event, newest first.
  json audit(const std::string& event) {
    auto r = run_gatehouse({"--config", config_, "audit", "list", "--json", "--event", event});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    json j = json::parse(r.out, nullptr, false);
    return j.is_array() ? j : json::array();
  }

  bool signed_in() {
    auto who = browser_.get(std::string(kPublicUrl) + "/.gatehouse/whoami");
    return who.status() == 200;
  }

  TempDir dir_;
  EchoUpstream upstream_;
  std::unique_ptr<HostileProvider> provider_;
  std::unique_ptr<Daemon> daemon_;
  std::string config_;
  HttpBrowser browser_;
};

TEST_F(HostileOidcTest, AWellBehavedProviderSignsTheUserIn) {
  start();
  auto nav = sign_in();
  ASSERT_TRUE(nav.ok()) << nav.describe();
  ASSERT_EQ(nav.status(), 200) << nav.describe();
  EXPECT_EQ(nav.url(), std::string(kPublicUrl) + "/app");
  EXPECT_EQ(echoed_header(nav.body(), "X-Gatehouse-User"), "hostile");
  EXPECT_EQ(echoed_header(nav.body(), "X-Gatehouse-Email"), "hostile@example.org");
  EXPECT_EQ(echoed_header(nav.body(), "X-Gatehouse-Name"), "Hostile User");
  EXPECT_EQ(echoed_header(nav.body(), "X-Gatehouse-Groups"), "blue,red");
  EXPECT_EQ(echoed_header(nav.body(), "X-Gatehouse-Real-Party"), "acme");
  EXPECT_NE(echoed_header(nav.body(), "X-Gatehouse-Assertion"), "<absent>");

  // The authorization request: code flow, PKCE S256, a fresh state and nonce.
  auto a = provider_->last_authorize();
  EXPECT_EQ(a.response_type, "code");
  EXPECT_EQ(a.client_id, "gatehouse");
  EXPECT_EQ(a.redirect_uri, std::string(kPublicUrl) + "/.gatehouse/oidc/sso/callback");
  EXPECT_EQ(a.scope, "openid email profile");
  EXPECT_EQ(a.code_challenge_method, "S256");
  EXPECT_EQ(a.code_challenge.size(), 43u);
  EXPECT_GE(a.state.size(), 32u);
  EXPECT_GE(a.nonce.size(), 32u);
  EXPECT_NE(a.state, a.nonce);
  EXPECT_EQ(provider_->last_token_auth_method(), "client_secret_basic");

  // The flow cookie is gone, the session is there, and the login is audited.
  for (const auto& hop : nav.hops) {
    if (hop.url.rfind(std::string(kPublicUrl) + "/.gatehouse/oidc/sso/callback", 0) == 0) {
      EXPECT_NE(hop.header("Set-Cookie").find("Max-Age=0"), std::string::npos) << nav.describe();
    }
  }
  EXPECT_TRUE(signed_in());
  auto records = audit("login.success");
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records[0]["user"], "hostile");
  EXPECT_EQ(records[0]["source"], "sso");
}

TEST_F(HostileOidcTest, EveryFlawedIdTokenIsRefusedWithAnErrorPageAndAnAuditRecord) {
  start();
  const std::map<Flaw, std::string> reason = {
      {Flaw::alg_none, "none"},          {Flaw::hs256_with_public_key, "HS256"},
      {Flaw::bad_signature, "signature"}, {Flaw::unknown_kid, "kid"},
      {Flaw::wrong_iss, "iss"},          {Flaw::wrong_aud, "aud"},
      {Flaw::expired, "expired"},        {Flaw::iat_future, "iat"},
      {Flaw::missing_nonce, "nonce"},    {Flaw::wrong_nonce, "nonce"}};
  std::size_t failures = 0;
  for (Flaw flaw : all_flaws()) {
    SCOPED_TRACE(flaw_name(flaw));
    provider_->set_flaw(flaw);
    browser_.clear_cookies();
    auto nav = sign_in();
    ASSERT_TRUE(nav.ok()) << nav.describe();
    EXPECT_EQ(nav.status(), 401) << nav.describe();
    EXPECT_NE(nav.body().find("Sign-in failed"), std::string::npos);
    EXPECT_FALSE(signed_in());
    auto records = audit("login.failure");
    ASSERT_EQ(records.size(), ++failures);
    const std::string detail = records[0]["detail"];
    EXPECT_EQ(detail.rfind("ID token refused: ", 0), 0u) << detail;
    EXPECT_NE(detail.find(reason.at(flaw)), std::string::npos) << detail;
    EXPECT_EQ(records[0]["source"], "sso");
  }
  // None of it leaked a token into the log.
  EXPECT_EQ(daemon_->log().find(provider_->last_id_token()), std::string::npos);
}

TEST_F(HostileOidcTest, ADiscoveryDocumentNamingAnotherIssuerIsRefused) {
  provider_->set_discovery_issuer_mismatch(true);
  start();
  auto nav = sign_in();
  ASSERT_TRUE(nav.ok()) << nav.describe();
  EXPECT_EQ(nav.status(), 503) << nav.describe();
  EXPECT_NE(nav.body().find("Hostile SSO"), std::string::npos);
  EXPECT_EQ(provider_->requests(Endpoint::authorize), 0);
  auto records = audit("login.failure");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_NE(std::string(records[0]["detail"]).find("names issuer"), std::string::npos) << records[0];
  // And readiness says so.
  auto ready = browser_.get(std::string(kPublicUrl) + "/.gatehouse/readyz");
  EXPECT_EQ(ready.status(), 503);
  EXPECT_NE(ready.body().find("provider:sso"), std::string::npos) << ready.body();
}

TEST_F(HostileOidcTest, AStateThatWasNotIssuedToThisBrowserIsRefused) {
  provider_->set_authorize_state("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  start();
  auto nav = sign_in();
  ASSERT_TRUE(nav.ok()) << nav.describe();
  EXPECT_EQ(nav.status(), 400) << nav.describe();
  EXPECT_EQ(provider_->requests(Endpoint::token), 0);  // the code is never redeemed
  EXPECT_FALSE(signed_in());
  auto records = audit("login.failure");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_NE(std::string(records[0]["detail"]).find("state mismatch"), std::string::npos) << records[0];
}

TEST_F(HostileOidcTest, AStateIsAcceptedOnceAndAReplayedCodeIsRefused) {
  start();
  const std::string callback = std::string(kPublicUrl) + "/.gatehouse/oidc/sso/callback";
  browser_.stop_before(callback);
  auto first = sign_in();
  ASSERT_TRUE(first.ok()) << first.describe();
  const std::string first_callback = first.last().location();
  ASSERT_EQ(first_callback.rfind(callback, 0), 0u) << first.describe();
  const auto state = query_params(first_callback).at("state");
  const std::string cookie_name = "gatehouse_oidc_" + state.substr(0, 16);
  auto flow_cookie = browser_.cookie("gatehouse.test:80", cookie_name);
  ASSERT_TRUE(flow_cookie.has_value());
  browser_.clear_stop_before();

  auto done = browser_.get(first_callback);
  ASSERT_EQ(done.status(), 200) << done.describe();

  // The same callback again, even with the flow cookie put back: the state was used.
  browser_.set_cookie("gatehouse.test:80", cookie_name, *flow_cookie, "/.gatehouse/oidc/sso/callback");
  auto replay = browser_.get(first_callback);
  EXPECT_EQ(replay.status(), 400) << replay.describe();
  EXPECT_NE(std::string(audit("login.failure").at(0)["detail"]).find("replayed state"), std::string::npos);

  // A new sign-in's state with the first sign-in's (used) code: the provider refuses it.
  browser_.stop_before(callback);
  auto second = sign_in();
  const auto second_state = query_params(second.last().location()).at("state");
  browser_.clear_stop_before();
  const auto code = query_params(first_callback).at("code");
  auto forged = browser_.get(callback + "?code=" + code + "&state=" + second_state);
  EXPECT_EQ(forged.status(), 401) << forged.describe();
  EXPECT_NE(std::string(audit("login.failure").at(0)["detail"]).find("invalid_grant"), std::string::npos)
      << audit("login.failure").at(0);
}

TEST_F(HostileOidcTest, TheReturnAddressStaysOnThisSite) {
  start();
  for (std::string rd : {"https://evil.example/x", "//evil.example/x", "/\\evil.example"}) {
    browser_.clear_cookies();
    auto nav = browser_.get(std::string(kPublicUrl) + "/.gatehouse/oidc/sso/start?rd=" + rd);
    ASSERT_TRUE(nav.ok()) << nav.describe();
    const HttpHop* back = nav.find(std::string(kPublicUrl) + "/.gatehouse/oidc/sso/callback");
    ASSERT_NE(back, nullptr) << nav.describe();
    EXPECT_EQ(back->header("Location"), "/") << rd;
  }
}

TEST_F(HostileOidcTest, AnErrorFromTheProviderIsAClearRefusal) {
  provider_->set_authorize_error("access_denied");
  start();
  auto nav = sign_in();
  EXPECT_EQ(nav.status(), 401) << nav.describe();
  EXPECT_NE(nav.body().find("cancelled or refused"), std::string::npos);
  EXPECT_NE(std::string(audit("login.failure").at(0)["detail"]).find("access_denied"), std::string::npos);
}

TEST_F(HostileOidcTest, ClaimsMissingFromTheIdTokenComeFromUserinfoWithTheSameSub) {
  provider_->set_id_token_claims({{"preferred_username", "hostile"}});
  provider_->set_userinfo({{"sub", provider_->options().subject},
                           {"email", "from-userinfo@example.org"},
                           {"groups", {"ui-group"}},
                           {"org", "initech"}});
  start();
  auto nav = sign_in();
  ASSERT_EQ(nav.status(), 200) << nav.describe();
  EXPECT_EQ(echoed_header(nav.body(), "X-Gatehouse-Email"), "from-userinfo@example.org");
  EXPECT_EQ(echoed_header(nav.body(), "X-Gatehouse-Groups"), "ui-group");
  EXPECT_EQ(echoed_header(nav.body(), "X-Gatehouse-Real-Party"), "initech");
  EXPECT_EQ(provider_->requests(Endpoint::userinfo), 1);
}

TEST_F(HostileOidcTest, UserinfoForAnotherSubIsRefused) {
  provider_->set_id_token_claims({{"preferred_username", "hostile"}});
  provider_->set_userinfo({{"sub", "someone-else"}, {"groups", {"admins"}}});
  start();
  auto nav = sign_in();
  EXPECT_EQ(nav.status(), 401) << nav.describe();
  EXPECT_NE(std::string(audit("login.failure").at(0)["detail"]).find("sub"), std::string::npos);
}

TEST_F(HostileOidcTest, ARotatedSigningKeyIsFetchedWhenATokenNamesIt) {
  start();
  ASSERT_EQ(sign_in().status(), 200);
  EXPECT_EQ(provider_->jwks_fetches(), 1);
  provider_->sign_with_second_key(0);
  browser_.clear_cookies();
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // jwks_refetch_interval = 1s
  auto nav = sign_in();
  EXPECT_EQ(nav.status(), 200) << nav.describe();
  EXPECT_EQ(provider_->jwks_fetches(), 2);
}

TEST_F(HostileOidcTest, ClientSecretPostWhenTheProviderOffersOnlyThat) {
  provider_->set_token_auth_methods({"client_secret_post"});
  start();
  ASSERT_EQ(sign_in().status(), 200);
  EXPECT_EQ(provider_->last_token_auth_method(), "client_secret_post");
}

TEST_F(HostileOidcTest, AnUnreachableProviderGivesA503AndExistingSessionsKeepWorking) {
  start();
  ASSERT_EQ(sign_in().status(), 200);
  // A sign-in under way when the provider goes: the code cannot be redeemed.
  HttpBrowser other;
  other.resolve("gatehouse.test", 80, daemon_->port());
  other.stop_before(std::string(kPublicUrl) + "/.gatehouse/oidc/sso/callback");
  auto half = other.get(std::string(kPublicUrl) + "/.gatehouse/oidc/sso/start?rd=/app");
  const std::string callback = half.last().location();
  ASSERT_FALSE(callback.empty()) << half.describe();
  other.clear_stop_before();
  provider_.reset();  // gone
  auto nav = other.get(callback);
  EXPECT_EQ(nav.status(), 503) << nav.describe();
  EXPECT_NE(nav.body().find("cannot be reached"), std::string::npos) << nav.body();

  // Sessions keep working, also across a restart of gatehouse, which then cannot
  // start a sign-in: it has not seen the provider's discovery document.
  EXPECT_EQ(browser_.get(std::string(kPublicUrl) + "/app").status(), 200);
  daemon_->stop();
  daemon_ = std::make_unique<Daemon>(std::vector<std::string>{"serve", "--config", config_});
  ASSERT_TRUE(daemon_->start()) << daemon_->log();
  browser_.resolve("gatehouse.test", 80, daemon_->port());
  EXPECT_EQ(browser_.get(std::string(kPublicUrl) + "/app").status(), 200);
  HttpBrowser third;
  third.resolve("gatehouse.test", 80, daemon_->port());
  auto start_page = third.get(std::string(kPublicUrl) + "/.gatehouse/oidc/sso/start?rd=/app");
  EXPECT_EQ(start_page.status(), 503) << start_page.describe();
  EXPECT_NE(start_page.body().find("cannot be reached"), std::string::npos);
  auto ready = third.get(std::string(kPublicUrl) + "/.gatehouse/readyz");
  EXPECT_EQ(ready.status(), 503);
  EXPECT_NE(ready.body().find("provider:sso"), std::string::npos);
}

TEST_F(HostileOidcTest, TheRefreshTokenKeepsClaimsFreshAfterTheIdTokenExpires) {
  provider_->set_refresh_tokens(true);
  provider_->set_token_lifetime(2);
  start();
  ASSERT_EQ(sign_in().status(), 200);
  provider_->set_id_token_claims({{"preferred_username", "hostile"}, {"groups", {"green"}}, {"org", "acme"}});
  std::this_thread::sleep_for(std::chrono::milliseconds(2600));
  auto app = browser_.get(std::string(kPublicUrl) + "/app");
  ASSERT_EQ(app.status(), 200) << app.describe();
  EXPECT_EQ(echoed_header(app.body(), "X-Gatehouse-Groups"), "green");
  EXPECT_GE(provider_->requests(Endpoint::token), 2);
}

TEST_F(HostileOidcTest, LogoutEndsTheSessionHereAndAtTheProvider) {
  start();
  ASSERT_EQ(sign_in().status(), 200);
  const std::string id_token = provider_->last_id_token();
  auto out = browser_.post_form(std::string(kPublicUrl) + "/.gatehouse/logout", {});
  ASSERT_TRUE(out.ok()) << out.describe();
  ASSERT_GE(out.hops.size(), 2u) << out.describe();
  const std::string location = out.hops[0].location();
  EXPECT_EQ(location.rfind(provider_->url() + "/logout?", 0), 0u) << location;
  auto logout = provider_->last_logout();
  EXPECT_EQ(logout.id_token_hint, id_token);
  EXPECT_EQ(logout.post_logout_redirect_uri, std::string(kPublicUrl) + "/.gatehouse/login");
  EXPECT_EQ(logout.client_id, "gatehouse");
  EXPECT_FALSE(signed_in());
  EXPECT_EQ(audit("logout").size(), 1u);
}

TEST_F(HostileOidcTest, TheLoginPageOffersTheProviderAndAProviderAloneIsTheWayIn) {
  start();
  auto page = browser_.get(std::string(kPublicUrl) + "/.gatehouse/login?rd=/app");
  EXPECT_NE(page.body().find("href=\"/.gatehouse/oidc/sso/start?rd=/app\""), std::string::npos) << page.body();
  EXPECT_NE(page.body().find("Sign in with Hostile SSO"), std::string::npos);
  EXPECT_NE(page.body().find("name=\"password\""), std::string::npos);
  daemon_->stop();

  // Without a directory: no password form, and a protected page goes straight to SSO.
  start("", /*with_directory=*/false);
  page = browser_.get(std::string(kPublicUrl) + "/.gatehouse/login");
  EXPECT_EQ(page.body().find("name=\"password\""), std::string::npos);
  browser_.set_follow_redirects(false);
  auto app = browser_.get(std::string(kPublicUrl) + "/app", {{"Accept", "text/html"}});
  EXPECT_EQ(app.status(), 302);
  EXPECT_EQ(app.last().header("Location"), "/.gatehouse/oidc/sso/start?rd=/app");
}

TEST_F(HostileOidcTest, UnknownProvidersAndActionsAreNotFound) {
  start();
  EXPECT_EQ(browser_.get(std::string(kPublicUrl) + "/.gatehouse/oidc/nope/start").status(), 404);
  EXPECT_EQ(browser_.get(std::string(kPublicUrl) + "/.gatehouse/oidc/sso/other").status(), 404);
  EXPECT_EQ(browser_.get(std::string(kPublicUrl) + "/.gatehouse/oidc/sso").status(), 404);
  // A callback out of nowhere: no state, a malformed one, no cookie.
  EXPECT_EQ(browser_.get(std::string(kPublicUrl) + "/.gatehouse/oidc/sso/callback").status(), 400);
  EXPECT_EQ(browser_.get(std::string(kPublicUrl) + "/.gatehouse/oidc/sso/callback?state=%00%01&code=x").status(), 400);
  EXPECT_EQ(browser_.get(std::string(kPublicUrl) + "/.gatehouse/oidc/sso/callback?state=" + std::string(40, 'a') +
                         "&code=x").status(),
            400);
  EXPECT_EQ(provider_->requests(Endpoint::token), 0);
}

// --- bearer tokens -------------------------------------------------------------------

class HostileBearerTest : public HostileOidcTest {
 protected:
  void SetUp() override {
    HostileOidcTest::SetUp();
    start("bearer_audience = \"https://api.example.test\"\n");
  }
  json claims(std::int64_t exp_in = 300) const {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    return {{"iss", provider_->url()}, {"sub", "api-client-7"},       {"aud", "https://api.example.test"},
            {"exp", now + exp_in},     {"iat", now},                  {"groups", {"api"}},
            {"org", "acme"}};
  }
  httplib::Result call(const std::string& token, const std::string& path = "/api/items") {
    httplib::Client client("127.0.0.1", daemon_->port());
    return client.Get(path.c_str(), {{"Host", "gatehouse.test"}, {"Authorization", "Bearer " + token}});
  }
};

TEST_F(HostileBearerTest, AValidTokenIsTheIdentityWithoutASession) {
  auto res = call(provider_->mint(claims()));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(echoed_header(res->body, "X-Gatehouse-User"), "api-client-7");
  EXPECT_EQ(echoed_header(res->body, "X-Gatehouse-Groups"), "api");
  EXPECT_EQ(echoed_header(res->body, "X-Gatehouse-Real-Party"), "acme");
  EXPECT_NE(echoed_header(res->body, "X-Gatehouse-Assertion"), "<absent>");
  EXPECT_TRUE(res->get_header_value("Set-Cookie").empty());
  auto named = claims();
  named["preferred_username"] = "svc-reports";
  res = call(provider_->mint(named));
  ASSERT_TRUE(res);
  EXPECT_EQ(echoed_header(res->body, "X-Gatehouse-User"), "svc-reports");
}

TEST_F(HostileBearerTest, BadTokensGet401InvalidTokenAndNeverReachTheLog) {
  auto wrong_aud = claims();
  wrong_aud["aud"] = "https://other.example.test";
  auto wrong_iss = claims();
  wrong_iss["iss"] = "https://evil.example";
  auto not_yet = claims();
  not_yet["nbf"] = json(claims()["iat"].get<std::int64_t>() + 3600);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"expired", provider_->mint(claims(-600))},
      {"wrong audience", provider_->mint(wrong_aud)},
      {"wrong issuer", provider_->mint(wrong_iss)},
      {"not yet valid", provider_->mint(not_yet)},
      {"tampered", provider_->mint(claims(), Flaw::bad_signature)},
      {"alg none", provider_->mint(claims(), Flaw::alg_none)},
      {"HS256 with the public key", provider_->mint(claims(), Flaw::hs256_with_public_key)},
      {"unknown key", provider_->mint(claims(), Flaw::unknown_kid)},
      {"garbage", "not-a-jwt"},
      {"two parts", "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0"},
  };
  const int upstream_before = upstream_.requests();
  for (const auto& [what, token] : cases) {
    SCOPED_TRACE(what);
    auto res = call(token);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401) << res->body;
    const std::string challenge = res->get_header_value("WWW-Authenticate");
    EXPECT_EQ(challenge.rfind("Bearer ", 0), 0u) << challenge;
    EXPECT_NE(challenge.find("error=\"invalid_token\""), std::string::npos) << challenge;
    EXPECT_EQ(upstream_.requests(), upstream_before);
    EXPECT_EQ(daemon_->log().find(token), std::string::npos) << "the token was logged";
  }
}

TEST_F(HostileBearerTest, PublicRoutesAndCookieSessionsAreUnaffected) {
  // A browser session still works beside bearer support.
  ASSERT_EQ(sign_in().status(), 200);
  EXPECT_TRUE(signed_in());
}

}  // namespace
}  // namespace gatehouse::testing
