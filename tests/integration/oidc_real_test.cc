// gatehouse as the relying party of a real OpenID provider (the oidc-provider npm
// package, tests/oidc/provider.mjs): the whole browser flow over HTTP with the
// provider's own login and consent forms, the identity reaching the application,
// refresh, logout at the provider, two providers at once, and JWT access tokens of API
// clients as bearer tokens.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "integration/harness.h"
#include "integration/http_browser.h"
#include "integration/oidc_provider.h"

namespace gatehouse::testing {
namespace {

namespace fx = oidc_fixture;
using json = nlohmann::json;

std::string provider_table(const std::string& name, const OidcProvider& op, const std::string& secret_file,
                           const std::string& extra = "") {
  return "[[oidc]]\nname = \"" + name + "\"\ndisplay_name = \"" + name + " login\"\nissuer = \"" + op.issuer() +
         "\"\nclient_id = \"gatehouse\"\nclient_secret_file = \"" + secret_file +
         "\"\nscopes = [\"openid\", \"email\", \"profile\", \"groups\", \"tenant\"]\n"
         "tenant = \"fallback\"\ntenant_claim = \"tenant\"\n" +
         extra + "\n";
}

class RealOidcTest : public ::testing::Test {
 protected:
  void start_provider(OidcProviderOptions options = {}) {
    provider_ = std::make_unique<OidcProvider>(std::move(options));
    std::string error;
    ASSERT_TRUE(provider_->start(&error)) << error;
  }

  void start_gatehouse(const std::string& providers) {
    config_ = dir_.file("gatehouse.toml");
    std::ofstream(config_) << basic_config(dir_, "[[directory]]\nname = \"local\"\nkind = \"local\"\n\n" + providers,
                                           upstream_.url());
    daemon_ = std::make_unique<Daemon>(std::vector<std::string>{"serve", "--config", config_});
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
    browser_.resolve("gatehouse.test", 80, daemon_->port());
  }

  std::string secret_file() {
    const std::string path = dir_.file("oidc.secret");
    std::ofstream(path) << fx::kClientSecret << "\n";
    return path;
  }

  // Signs in through `name` as `user` with the provider's forms; returns the last page.
  Navigation sign_in(const std::string& name, const std::string& user, const std::string& password,
                     const std::string& rd = "/app") {
    auto nav = browser_.get(std::string(kPublicUrl) + "/.gatehouse/oidc/" + name + "/start?rd=" + rd);
    if (!nav.ok()) return nav;
    auto login = nav.form("/login");
    if (!login) return nav;  // already signed in at the provider: no form
    login->set("login", user);
    login->set("password", password);
    nav = browser_.submit(*login);
    if (auto consent = nav.form("/confirm")) nav = browser_.submit(*consent);
    return nav;
  }

  void TearDown() override {
    if (daemon_) daemon_->stop();
  }

  TempDir dir_;
  EchoUpstream upstream_;
  std::unique_ptr<OidcProvider> provider_;
  std::unique_ptr<Daemon> daemon_;
  std::string config_;
  HttpBrowser browser_;
};

TEST_F(RealOidcTest, TheWholeBrowserFlowGivesTheApplicationTheUsersIdentity) {
  start_provider();
  start_gatehouse(provider_table("sso", *provider_, secret_file()));

  // The application's page sends the browser to the login page, which offers the provider.
  auto page = browser_.get(std::string(kPublicUrl) + "/app", {{"Accept", "text/html"}});
  ASSERT_EQ(page.status(), 200) << page.describe();
  EXPECT_NE(page.body().find("Sign in with sso login"), std::string::npos) << page.body();

  // The provider's button, its login form, its consent form.
  auto start = browser_.get(std::string(kPublicUrl) + "/.gatehouse/oidc/sso/start?rd=/app");
  auto login = start.form("/login");
  ASSERT_TRUE(login) << start.describe();
  login->set("login", "alice");
  login->set("password", std::string(fx::kAlicePassword));
  auto consent = browser_.submit(*login).form("/confirm");
  ASSERT_TRUE(consent);
  auto nav = browser_.submit(*consent);
  ASSERT_TRUE(nav.ok()) << nav.describe();
  ASSERT_EQ(nav.status(), 200) << nav.describe() << "\nprovider log:\n" << provider_->log();
  EXPECT_EQ(nav.url(), std::string(kPublicUrl) + "/app");
  // The ID token has only sub: the rest comes from the userinfo endpoint.
  EXPECT_EQ(echoed_header(nav.body(), "X-Gatehouse-User"), "alice");
  EXPECT_EQ(echoed_header(nav.body(), "X-Gatehouse-Email"), "alice@example.org");
  EXPECT_EQ(echoed_header(nav.body(), "X-Gatehouse-Name"), "Alice Example");
  EXPECT_EQ(echoed_header(nav.body(), "X-Gatehouse-Groups"), "developers,engineering");
  EXPECT_EQ(echoed_header(nav.body(), "X-Gatehouse-Real-Party"), "example");
  const std::string assertion = echoed_header(nav.body(), "X-Gatehouse-Assertion");
  ASSERT_NE(assertion, "<absent>");
  auto payload = base64url_decode(assertion.substr(assertion.find('.') + 1,
                                                   assertion.rfind('.') - assertion.find('.') - 1));
  ASSERT_TRUE(payload);
  auto claims = json::parse(*payload);
  EXPECT_EQ(claims["sub"], "alice");

  // The hops: gatehouse sent the browser to the provider's authorization endpoint
  // with PKCE, and came back through the callback.
  const HttpHop* authorize = start.find(provider_->authorization_endpoint() + "?");
  ASSERT_NE(authorize, nullptr) << start.describe();
  auto q = query_params(authorize->url);
  EXPECT_EQ(q["code_challenge_method"], "S256");
  EXPECT_EQ(q["redirect_uri"], std::string(kPublicUrl) + "/.gatehouse/oidc/sso/callback");
  EXPECT_NE(nav.find(std::string(kPublicUrl) + "/.gatehouse/oidc/sso/callback?"), nullptr);

  auto whoami = browser_.get(std::string(kPublicUrl) + "/.gatehouse/whoami");
  ASSERT_EQ(whoami.status(), 200);
  EXPECT_EQ(json::parse(whoami.body())["source"], "sso");
}

TEST_F(RealOidcTest, AWrongPasswordAtTheProviderNeverReachesGatehouse) {
  start_provider();
  start_gatehouse(provider_table("sso", *provider_, secret_file()));
  auto nav = sign_in("sso", "alice", "wrong");
  EXPECT_EQ(nav.status(), 200);
  EXPECT_NE(nav.body().find("Invalid username or password"), std::string::npos) << nav.describe();
  EXPECT_EQ(browser_.get(std::string(kPublicUrl) + "/.gatehouse/whoami").status(), 401);
}

TEST_F(RealOidcTest, TheRefreshTokenRenewsTheSessionsClaims) {
  OidcProviderOptions options;
  options.ttl.id_token_s = 2;
  options.ttl.access_token_s = 2;
  start_provider(options);
  start_gatehouse(provider_table("sso", *provider_, secret_file()));
  ASSERT_EQ(sign_in("sso", "alice", std::string(fx::kAlicePassword)).status(), 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(2600));
  auto app = browser_.get(std::string(kPublicUrl) + "/app");
  ASSERT_EQ(app.status(), 200) << app.describe();
  EXPECT_EQ(echoed_header(app.body(), "X-Gatehouse-Groups"), "developers,engineering");
  EXPECT_NE(daemon_->log().find("event=oidc.refreshed"), std::string::npos) << daemon_->log();
}

TEST_F(RealOidcTest, LogoutEndsTheSessionAtTheProviderAndComesBack) {
  start_provider();
  start_gatehouse(provider_table("sso", *provider_, secret_file()));
  ASSERT_EQ(sign_in("sso", "alice", std::string(fx::kAlicePassword)).status(), 200);
  auto out = browser_.post_form(std::string(kPublicUrl) + "/.gatehouse/logout", {});
  ASSERT_TRUE(out.ok()) << out.describe();
  const std::string end_session = out.hops.at(0).location();
  EXPECT_EQ(end_session.rfind(provider_->end_session_endpoint() + "?", 0), 0u) << end_session;
  auto q = query_params(end_session);
  EXPECT_FALSE(q["id_token_hint"].empty());
  EXPECT_EQ(q["post_logout_redirect_uri"], std::string(kPublicUrl) + "/.gatehouse/login");
  EXPECT_EQ(q["client_id"], "gatehouse");
  EXPECT_EQ(browser_.get(std::string(kPublicUrl) + "/.gatehouse/whoami").status(), 401);

  // The provider asks for confirmation, then sends the browser back to gatehouse.
  auto confirm = out.form();
  ASSERT_TRUE(confirm) << out.describe();
  auto back = browser_.submit(*confirm, "logout");
  ASSERT_TRUE(back.ok()) << back.describe();
  EXPECT_EQ(back.url().rfind(std::string(kPublicUrl) + "/.gatehouse/login", 0), 0u) << back.describe();

  // Signed out there too: the next sign-in asks for the password again.
  auto again = browser_.get(std::string(kPublicUrl) + "/.gatehouse/oidc/sso/start?rd=/app");
  EXPECT_TRUE(again.form("/login").has_value()) << again.describe();
}

TEST_F(RealOidcTest, TwoProvidersAtOnce) {
  start_provider();
  OidcProviderOptions second;
  second.clients[0].add_gatehouse(kPublicUrl, "partner");
  auto partner = std::make_unique<OidcProvider>(second);
  std::string error;
  ASSERT_TRUE(partner->start(&error)) << error;
  const std::string secret = secret_file();
  start_gatehouse(provider_table("sso", *provider_, secret) + provider_table("partner", *partner, secret));

  auto page = browser_.get(std::string(kPublicUrl) + "/.gatehouse/login");
  EXPECT_NE(page.body().find("Sign in with sso login"), std::string::npos);
  EXPECT_NE(page.body().find("Sign in with partner login"), std::string::npos);

  auto nav = sign_in("partner", "bob", std::string(fx::kBobPassword));
  ASSERT_EQ(nav.status(), 200) << nav.describe();
  EXPECT_EQ(echoed_header(nav.body(), "X-Gatehouse-User"), "bob");
  EXPECT_EQ(echoed_header(nav.body(), "X-Gatehouse-Real-Party"), "acme");
  EXPECT_NE(nav.find(partner->issuer()), nullptr);
  EXPECT_EQ(nav.find(provider_->issuer()), nullptr);

  browser_.clear_cookies();
  nav = sign_in("sso", "alice", std::string(fx::kAlicePassword));
  ASSERT_EQ(nav.status(), 200) << nav.describe();
  EXPECT_EQ(echoed_header(nav.body(), "X-Gatehouse-User"), "alice");
}

class RealBearerTest : public RealOidcTest {
 protected:
  void SetUp() override {
    OidcProviderOptions options;
    OidcResourceServer other;
    other.identifier = "https://other.example.test";
    options.resource_servers.push_back(other);
    OidcResourceServer short_lived;
    short_lived.identifier = "https://short.example.test";
    short_lived.audience = std::string(fx::kApiResource);
    short_lived.access_token_ttl_s = 1;
    options.resource_servers.push_back(short_lived);
    start_provider(options);
    start_gatehouse(provider_table("sso", *provider_, secret_file(),
                                   "bearer_audience = \"" + std::string(fx::kApiResource) +
                                       "\"\nclock_skew = \"0s\"\n"));
  }

  // A client credentials grant for `resource`: a JWT access token.
  std::string client_token(const std::string& resource) {
    httplib::Client client("127.0.0.1", provider_->port());
    client.set_basic_auth(std::string(fx::kClientId), std::string(fx::kClientSecret));
    auto res = client.Post(
        "/token", form_encode({{"grant_type", "client_credentials"}, {"scope", "api:read"}, {"resource", resource}}),
        "application/x-www-form-urlencoded");
    EXPECT_TRUE(res);
    if (!res) return "";
    EXPECT_EQ(res->status, 200) << res->body;
    auto j = json::parse(res->body, nullptr, false);
    return j.is_object() && j.contains("access_token") ? j["access_token"].get<std::string>() : "";
  }

  httplib::Result call(const std::string& token) {
    httplib::Client client("127.0.0.1", daemon_->port());
    return client.Get("/api/reports", {{"Host", "gatehouse.test"}, {"Authorization", "Bearer " + token}});
  }
};

TEST_F(RealBearerTest, AJwtAccessTokenOfTheProviderIsAccepted) {
  const std::string token = client_token(std::string(fx::kApiResource));
  ASSERT_EQ(std::count(token.begin(), token.end(), '.'), 2) << token;
  auto res = call(token);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body << daemon_->log();
  EXPECT_EQ(echoed_header(res->body, "X-Gatehouse-User"), "gatehouse");  // sub = the client
  EXPECT_NE(echoed_header(res->body, "X-Gatehouse-Assertion"), "<absent>");
  EXPECT_EQ(daemon_->log().find(token), std::string::npos);
}

TEST_F(RealBearerTest, WrongAudienceExpiredAndTamperedTokensAreRefused) {
  auto expect_refused = [&](const std::string& what, const std::string& token) {
    SCOPED_TRACE(what);
    auto res = call(token);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401) << res->body;
    EXPECT_NE(res->get_header_value("WWW-Authenticate").find("error=\"invalid_token\""), std::string::npos);
  };
  expect_refused("wrong audience", client_token("https://other.example.test"));

  const std::string short_lived = client_token("https://short.example.test");
  ASSERT_EQ(call(short_lived)->status, 200);  // the right audience, still valid
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  expect_refused("expired", short_lived);

  std::string tampered = client_token(std::string(fx::kApiResource));
  const auto dot = tampered.find('.');
  auto payload = base64url_decode(tampered.substr(dot + 1, tampered.rfind('.') - dot - 1));
  ASSERT_TRUE(payload);
  auto claims = json::parse(*payload);
  claims["sub"] = "admin";
  tampered = tampered.substr(0, dot + 1) + base64url_encode(claims.dump()) + tampered.substr(tampered.rfind('.'));
  expect_refused("tampered", tampered);
}

}  // namespace
}  // namespace gatehouse::testing
