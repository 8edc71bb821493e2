// Self-tests of the OpenID provider fixture (tests/oidc/provider.mjs), driven with
// HttpBrowser and plain HTTP requests; gatehouse is not involved. The tests that need
// the default options share one provider; the others start their own.
#include "integration/oidc_provider.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "integration/harness.h"
#include "integration/http_browser.h"
#include "support/jose_forge.h"

namespace gatehouse::testing {
namespace {

namespace fx = oidc_fixture;
using nlohmann::json;

using test_support::make_pkce;
using test_support::Pkce;

int count_of(const std::string& text, char c) { return static_cast<int>(std::count(text.begin(), text.end(), c)); }

// The header (part 0) or payload (part 1) of a compact JWS; a discarded json if it is none.
json jwt_part(const std::string& token, int part) {
  size_t a = 0;
  for (int i = 0; i < part; ++i) {
    a = token.find('.', a);
    if (a == std::string::npos) return json(json::value_t::discarded);
    ++a;
  }
  size_t b = token.find('.', a);
  if (b == std::string::npos) return json(json::value_t::discarded);
  auto bytes = base64url_decode(token.substr(a, b - a));
  if (!bytes) return json(json::value_t::discarded);
  return json::parse(*bytes, nullptr, false);
}

std::string text_of(const json& j, const std::string& key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "<absent>";
}

struct AuthRequest {
  std::string client_id = std::string(fx::kClientId);
  std::string redirect_uri;
  std::string scope = "openid email profile groups tenant";
  std::string state = base64url_encode(random_bytes(12));
  std::string nonce = base64url_encode(random_bytes(12));
  Pkce pkce = make_pkce();
  bool send_pkce = true;
  std::string resource;  // "" = none
  std::string prompt;    // "" = none

  std::string url(const OidcProvider& op) const {
    FormFields q = {{"response_type", "code"}, {"client_id", client_id}, {"redirect_uri", redirect_uri},
                    {"scope", scope},          {"state", state},         {"nonce", nonce}};
    if (send_pkce) {
      q.emplace_back("code_challenge", pkce.challenge);
      q.emplace_back("code_challenge_method", "S256");
    }
    if (!resource.empty()) q.emplace_back("resource", resource);
    if (!prompt.empty()) q.emplace_back("prompt", prompt);
    return op.authorization_endpoint() + "?" + form_encode(q);
  }
};

// Where the provider sent the browser back: the query of the redirect_uri request.
struct Callback {
  std::map<std::string, std::string> params;
  std::string why;  // non-empty: the flow went wrong; the hops and the provider's log
  Navigation nav;   // the last navigation
};

// Drives the browser from the authorization request through the provider's login and
// consent forms to the redirect_uri (an EchoUpstream, which answers anything).
Callback sign_in(HttpBrowser& browser, const OidcProvider& op, const AuthRequest& req, const std::string& user,
                 std::string_view password) {
  Callback cb;
  auto failed = [&](const std::string& step) {
    cb.why = step + ":\n" + cb.nav.describe() + "provider log:\n" + op.log();
    return cb;
  };
  cb.nav = browser.get(req.url(op));
  if (!cb.nav.ok()) return failed("authorization request");
  for (int step = 0; step < 4 && cb.nav.url().rfind(req.redirect_uri, 0) != 0; ++step) {
    if (auto login = cb.nav.form("/login")) {
      login->set("login", user);
      login->set("password", std::string(password));
      cb.nav = browser.submit(*login);
    } else if (auto consent = cb.nav.form("/confirm")) {
      cb.nav = browser.submit(*consent);
    } else {
      return failed("neither a login nor a consent form");
    }
    if (!cb.nav.ok()) return failed("submitting a form");
  }
  if (cb.nav.url().rfind(req.redirect_uri, 0) != 0) return failed("never reached the redirect_uri");
  cb.params = query_params(cb.nav.url());
  return cb;
}

httplib::Client client_for(const OidcProvider& op) {
  httplib::Client c("127.0.0.1", op.port());
  c.set_connection_timeout(5, 0);
  c.set_read_timeout(15, 0);
  c.set_tcp_nodelay(true);
  return c;
}

// POST to the token endpoint with client_secret_basic (or the given auth: "post" puts
// client_id and client_secret in the form instead).
json token_request(const OidcProvider& op, FormFields form, std::string* why,
                   const std::string& client_id = std::string(fx::kClientId),
                   const std::string& secret = std::string(fx::kClientSecret), bool basic = true) {
  auto c = client_for(op);
  httplib::Headers h;
  if (basic) {
    h.emplace("Authorization", "Basic " + base64_encode(client_id + ":" + secret));
  } else {
    form.emplace_back("client_id", client_id);
    form.emplace_back("client_secret", secret);
  }
  auto res = c.Post("/token", h, form_encode(form), "application/x-www-form-urlencoded");
  if (!res) {
    *why = "token endpoint: " + httplib::to_string(res.error());
    return json(json::value_t::discarded);
  }
  auto j = json::parse(res->body, nullptr, false);
  if (res->status != 200) *why = "token endpoint answered " + std::to_string(res->status) + ": " + res->body;
  return j;
}

json code_exchange(const OidcProvider& op, const AuthRequest& req, const std::string& code, std::string* why) {
  FormFields form = {{"grant_type", "authorization_code"},
                     {"code", code},
                     {"redirect_uri", req.redirect_uri},
                     {"code_verifier", req.pkce.verifier}};
  if (!req.resource.empty()) form.emplace_back("resource", req.resource);
  return token_request(op, form, why);
}

// GET userinfo with a bearer token: the status and the JSON answer.
std::pair<int, json> userinfo(const OidcProvider& op, const std::string& access_token) {
  auto c = client_for(op);
  auto res = c.Get("/me", {{"Authorization", "Bearer " + access_token}});
  if (!res) return {-1, json(json::value_t::discarded)};
  return {res->status, json::parse(res->body, nullptr, false)};
}

std::vector<std::string> strings(const json& j) {
  std::vector<std::string> out;
  if (j.is_array())
    for (const auto& v : j)
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

// Tests with the default options share one provider (started once for the suite; each
// test has its own browser, so its own provider session).
class OidcProviderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    provider_ = new OidcProvider();
    if (!provider_->start(&start_error_)) return;
    std::cout << "[ provider ] " << provider_->issuer() << " ready in " << provider_->startup_ms() << " ms\n";
  }
  static void TearDownTestSuite() {
    delete provider_;
    provider_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(provider_->running()) << start_error_;
    request_.redirect_uri = callback_.url() + "/.gatehouse/oidc/sso/callback";
  }
  const OidcProvider& op() const { return *provider_; }

  static OidcProvider* provider_;
  static std::string start_error_;
  EchoUpstream callback_;  // the relying party's redirect_uri, on some free port
  HttpBrowser browser_;
  AuthRequest request_;
};

OidcProvider* OidcProviderTest::provider_ = nullptr;
std::string OidcProviderTest::start_error_;

TEST_F(OidcProviderTest, ServesDiscoveryForItsLoopbackIssuer) {
  auto nav = browser_.get(op().discovery_url());
  ASSERT_TRUE(nav.ok()) << nav.describe();
  ASSERT_EQ(nav.status(), 200) << nav.describe();
  auto d = json::parse(nav.body(), nullptr, false);
  ASSERT_FALSE(d.is_discarded()) << nav.body();
  EXPECT_EQ(op().issuer(), "http://127.0.0.1:" + std::to_string(op().port()));
  EXPECT_EQ(text_of(d, "issuer"), op().issuer());
  EXPECT_EQ(text_of(d, "authorization_endpoint"), op().authorization_endpoint());
  EXPECT_EQ(text_of(d, "token_endpoint"), op().token_endpoint());
  EXPECT_EQ(text_of(d, "userinfo_endpoint"), op().userinfo_endpoint());
  EXPECT_EQ(text_of(d, "jwks_uri"), op().jwks_uri());
  EXPECT_EQ(text_of(d, "end_session_endpoint"), op().end_session_endpoint());
  EXPECT_EQ(strings(d["code_challenge_methods_supported"]), std::vector<std::string>{"S256"});
  EXPECT_EQ(strings(d["id_token_signing_alg_values_supported"]), std::vector<std::string>{"RS256"});
  auto claims = strings(d["claims_supported"]);
  for (const char* c : {"sub", "email", "email_verified", "name", "preferred_username", "groups", "tenant"})
    EXPECT_NE(std::find(claims.begin(), claims.end(), c), claims.end()) << c;
  auto scopes = strings(d["scopes_supported"]);
  for (const char* s : {"openid", "email", "profile", "groups", "tenant", "offline_access"})
    EXPECT_NE(std::find(scopes.begin(), scopes.end(), s), scopes.end()) << s;
  // Only what the client is registered with.
  EXPECT_EQ(strings(d["token_endpoint_auth_methods_supported"]), std::vector<std::string>{"client_secret_basic"});

  auto jwks = browser_.get(op().jwks_uri());
  ASSERT_EQ(jwks.status(), 200) << jwks.describe();
  auto keys = json::parse(jwks.body(), nullptr, false);
  ASSERT_TRUE(keys.contains("keys") && keys["keys"].size() == 1) << jwks.body();
  EXPECT_EQ(text_of(keys["keys"][0], "kty"), "RSA");
  EXPECT_EQ(text_of(keys["keys"][0], "alg"), "RS256");
  EXPECT_FALSE(keys["keys"][0].contains("d")) << "private key published";
}

TEST_F(OidcProviderTest, CodeFlowWithPkceGivesIdTokenRefreshTokenAndUserinfo) {
  auto cb = sign_in(browser_, op(), request_, "alice", fx::kAlicePassword);
  ASSERT_TRUE(cb.why.empty()) << cb.why;
  // The browser went /auth -> login form -> consent form -> the redirect_uri.
  EXPECT_NE(cb.nav.find(op().issuer() + "/auth/"), nullptr) << cb.nav.describe();
  EXPECT_EQ(cb.params["state"], request_.state);
  EXPECT_EQ(cb.params["iss"], op().issuer());
  ASSERT_FALSE(cb.params["code"].empty()) << cb.nav.describe();

  std::string why;
  auto tokens = code_exchange(op(), request_, cb.params["code"], &why);
  ASSERT_TRUE(why.empty()) << why << "\n" << op().log();
  EXPECT_EQ(text_of(tokens, "token_type"), "Bearer");
  ASSERT_NE(text_of(tokens, "refresh_token"), "<absent>") << tokens.dump();
  const std::string id_token = text_of(tokens, "id_token");
  ASSERT_EQ(count_of(id_token, '.'), 2) << tokens.dump();
  auto header = jwt_part(id_token, 0);
  auto claims = jwt_part(id_token, 1);
  EXPECT_EQ(text_of(header, "alg"), "RS256");
  EXPECT_EQ(text_of(claims, "iss"), op().issuer());
  EXPECT_EQ(text_of(claims, "aud"), fx::kClientId);
  EXPECT_EQ(text_of(claims, "sub"), fx::kAliceSub);
  EXPECT_EQ(text_of(claims, "nonce"), request_.nonce);
  // As with real providers, the ID token leaves the scope's claims to userinfo.
  EXPECT_FALSE(claims.contains("groups")) << claims.dump();
  EXPECT_FALSE(claims.contains("email")) << claims.dump();

  // The access token is opaque and good for userinfo.
  const std::string access_token = text_of(tokens, "access_token");
  EXPECT_EQ(count_of(access_token, '.'), 0) << access_token;
  auto [status, info] = userinfo(op(), access_token);
  ASSERT_EQ(status, 200) << info.dump() << "\n" << op().log();
  EXPECT_EQ(text_of(info, "sub"), fx::kAliceSub);
  EXPECT_EQ(text_of(info, "preferred_username"), "alice");
  EXPECT_EQ(text_of(info, "email"), "alice@example.org");
  EXPECT_EQ(info.value("email_verified", false), true);
  EXPECT_EQ(text_of(info, "name"), "Alice Example");
  EXPECT_EQ(strings(info["groups"]), (std::vector<std::string>{"developers", "engineering"}));
  EXPECT_EQ(text_of(info, "tenant"), "example");

  // The code is single use.
  std::string again;
  code_exchange(op(), request_, cb.params["code"], &again);
  EXPECT_NE(again.find("invalid_grant"), std::string::npos) << again;
}

TEST_F(OidcProviderTest, OnlyGrantedScopesReachUserinfo) {
  request_.scope = "openid profile";
  auto cb = sign_in(browser_, op(), request_, "bob", fx::kBobPassword);
  ASSERT_TRUE(cb.why.empty()) << cb.why;
  std::string why;
  auto tokens = code_exchange(op(), request_, cb.params["code"], &why);
  ASSERT_TRUE(why.empty()) << why;
  auto [status, info] = userinfo(op(), text_of(tokens, "access_token"));
  ASSERT_EQ(status, 200) << info.dump();
  EXPECT_EQ(text_of(info, "sub"), fx::kBobSub);
  EXPECT_EQ(text_of(info, "name"), "Bob Acme");
  EXPECT_FALSE(info.contains("groups")) << info.dump();
  EXPECT_FALSE(info.contains("tenant")) << info.dump();
  EXPECT_FALSE(info.contains("email")) << info.dump();
}

TEST_F(OidcProviderTest, RefreshTokenGivesFreshTokens) {
  auto cb = sign_in(browser_, op(), request_, "alice", fx::kAlicePassword);
  ASSERT_TRUE(cb.why.empty()) << cb.why;
  std::string why;
  auto first = code_exchange(op(), request_, cb.params["code"], &why);
  ASSERT_TRUE(why.empty()) << why;
  auto refreshed = token_request(op(), {{"grant_type", "refresh_token"}, {"refresh_token", text_of(first, "refresh_token")}},
                                 &why);
  ASSERT_TRUE(why.empty()) << why << "\n" << op().log();
  EXPECT_NE(text_of(refreshed, "access_token"), text_of(first, "access_token"));
  auto claims = jwt_part(text_of(refreshed, "id_token"), 1);
  EXPECT_EQ(text_of(claims, "sub"), fx::kAliceSub);
  auto [status, info] = userinfo(op(), text_of(refreshed, "access_token"));
  EXPECT_EQ(status, 200) << info.dump();
  EXPECT_EQ(text_of(info, "tenant"), "example");

  // A made-up refresh token is refused.
  token_request(op(), {{"grant_type", "refresh_token"}, {"refresh_token", "not-a-refresh-token"}}, &why);
  EXPECT_NE(why.find("invalid_grant"), std::string::npos) << why;
}

TEST_F(OidcProviderTest, WrongPasswordShowsTheLoginFormAgain) {
  browser_.stop_before(request_.redirect_uri);
  auto nav = browser_.get(request_.url(op()));
  auto form = nav.form("/login");
  ASSERT_TRUE(form) << nav.describe();
  EXPECT_EQ(form->method, "POST");
  EXPECT_EQ(form->action.rfind(op().issuer() + "/interaction/", 0), 0u) << form->action;
  ASSERT_TRUE(form->get("login") && form->get("password")) << nav.body();

  form->set("login", "alice");
  form->set("password", "not-alices-password");
  nav = browser_.submit(*form);
  ASSERT_TRUE(nav.ok()) << nav.describe();
  EXPECT_EQ(nav.status(), 200);
  EXPECT_EQ(nav.hops.size(), 1u) << nav.describe();
  EXPECT_NE(nav.body().find("Invalid username or password"), std::string::npos) << nav.body();
  auto again = nav.form("/login");
  ASSERT_TRUE(again) << nav.body();
  EXPECT_EQ(again->get("login"), "alice");
  EXPECT_EQ(again->get("password"), "");

  // An unknown user looks the same; the right password still works afterwards.
  again->set("login", "mallory");
  nav = browser_.submit(*again);
  EXPECT_NE(nav.body().find("Invalid username or password"), std::string::npos) << nav.body();
  again->set("login", "alice");
  again->set("password", std::string(fx::kAlicePassword));
  nav = browser_.submit(*again);
  ASSERT_TRUE(nav.ok()) << nav.describe();
  EXPECT_TRUE(nav.form("/confirm")) << nav.describe();
}

TEST_F(OidcProviderTest, CancellingTheLoginGivesAccessDenied) {
  auto nav = browser_.get(request_.url(op()));
  auto cancel = nav.form("/abort");
  ASSERT_TRUE(cancel) << nav.describe();
  nav = browser_.submit(*cancel);
  ASSERT_TRUE(nav.ok()) << nav.describe();
  ASSERT_EQ(nav.url().rfind(request_.redirect_uri, 0), 0u) << nav.describe();
  auto params = query_params(nav.url());
  EXPECT_EQ(params["error"], "access_denied");
  EXPECT_EQ(params["state"], request_.state);
  EXPECT_EQ(params.count("code"), 0u);
}

TEST_F(OidcProviderTest, PkceIsRequired) {
  request_.send_pkce = false;
  auto nav = browser_.get(request_.url(op()));
  ASSERT_TRUE(nav.ok()) << nav.describe();
  ASSERT_EQ(nav.url().rfind(request_.redirect_uri, 0), 0u) << nav.describe();
  auto params = query_params(nav.url());
  EXPECT_EQ(params["error"], "invalid_request");
  EXPECT_NE(params["error_description"].find("PKCE"), std::string::npos) << nav.url();

  // And the verifier must match the challenge.
  request_.send_pkce = true;
  auto cb = sign_in(browser_, op(), request_, "alice", fx::kAlicePassword);
  ASSERT_TRUE(cb.why.empty()) << cb.why;
  AuthRequest other = request_;
  other.pkce = make_pkce();
  std::string why;
  code_exchange(op(), other, cb.params["code"], &why);
  EXPECT_NE(why.find("invalid_grant"), std::string::npos) << why;
}

TEST_F(OidcProviderTest, UnregisteredRedirectUriIsRefused) {
  request_.redirect_uri = callback_.url() + "/elsewhere";
  auto nav = browser_.get(request_.url(op()));
  ASSERT_TRUE(nav.ok()) << nav.describe();
  EXPECT_EQ(nav.status(), 400) << nav.describe();
  EXPECT_EQ(nav.hops.size(), 1u) << nav.describe();
  EXPECT_NE(nav.body().find("redirect_uri"), std::string::npos) << nav.body();
}

TEST_F(OidcProviderTest, ClientSecretAndAuthMethodAreChecked) {
  const FormFields form = {{"grant_type", "client_credentials"}, {"resource", std::string(fx::kApiResource)}};
  std::string why;
  token_request(op(), form, &why, std::string(fx::kClientId), "wrong-secret");
  EXPECT_NE(why.find("invalid_client"), std::string::npos) << why;
  // The client is registered for client_secret_basic: the right secret in the form
  // is refused.
  token_request(op(), form, &why, std::string(fx::kClientId), std::string(fx::kClientSecret), /*basic=*/false);
  EXPECT_NE(why.find("invalid_client"), std::string::npos) << why;
  EXPECT_NE(why.find("registered for client_secret_basic"), std::string::npos) << why;
  why.clear();
  token_request(op(), form, &why);
  EXPECT_TRUE(why.empty()) << why;
}

TEST_F(OidcProviderTest, ClientCredentialsWithResourceGiveJwtAccessToken) {
  std::string why;
  auto tokens = token_request(op(), {{"grant_type", "client_credentials"},
                                     {"resource", std::string(fx::kApiResource)},
                                     {"scope", "api:read"}},
                              &why);
  ASSERT_TRUE(why.empty()) << why << "\n" << op().log();
  const std::string at = text_of(tokens, "access_token");
  ASSERT_EQ(count_of(at, '.'), 2) << tokens.dump();
  EXPECT_EQ(text_of(tokens, "scope"), "api:read");
  auto header = jwt_part(at, 0);
  auto claims = jwt_part(at, 1);
  EXPECT_EQ(text_of(header, "alg"), "RS256");
  EXPECT_EQ(text_of(header, "typ"), "at+jwt");
  EXPECT_EQ(text_of(claims, "iss"), op().issuer());
  EXPECT_EQ(text_of(claims, "aud"), fx::kApiResource);
  EXPECT_EQ(text_of(claims, "client_id"), fx::kClientId);
  EXPECT_EQ(text_of(claims, "sub"), fx::kClientId);
  ASSERT_TRUE(claims.contains("exp") && claims.contains("iat")) << claims.dump();
  EXPECT_EQ(claims["exp"].get<long long>() - claims["iat"].get<long long>(), op().options().ttl.access_token_s);

  // Signed with the key the JWKS publishes.
  auto jwks = json::parse(browser_.get(op().jwks_uri()).body(), nullptr, false);
  ASSERT_TRUE(jwks.contains("keys")) << jwks.dump();
  EXPECT_EQ(text_of(jwks["keys"][0], "kid"), text_of(header, "kid"));

  // An unknown resource is refused.
  token_request(op(), {{"grant_type", "client_credentials"}, {"resource", "https://unknown.example.test"}}, &why);
  EXPECT_NE(why.find("invalid_target"), std::string::npos) << why;
}

TEST_F(OidcProviderTest, CodeFlowWithResourceGivesUserJwtAccessToken) {
  request_.resource = std::string(fx::kApiResource);
  request_.scope = "openid email api:read";
  auto cb = sign_in(browser_, op(), request_, "alice", fx::kAlicePassword);
  ASSERT_TRUE(cb.why.empty()) << cb.why;
  std::string why;
  auto tokens = code_exchange(op(), request_, cb.params["code"], &why);
  ASSERT_TRUE(why.empty()) << why << "\n" << op().log();
  const std::string at = text_of(tokens, "access_token");
  ASSERT_EQ(count_of(at, '.'), 2) << tokens.dump();
  auto claims = jwt_part(at, 1);
  EXPECT_EQ(text_of(claims, "aud"), fx::kApiResource);
  EXPECT_EQ(text_of(claims, "sub"), fx::kAliceSub);
  EXPECT_EQ(text_of(claims, "scope"), "api:read");
  EXPECT_EQ(text_of(claims, "preferred_username"), "alice");
  EXPECT_EQ(text_of(claims, "tenant"), "example");
  EXPECT_EQ(strings(claims["groups"]), (std::vector<std::string>{"developers", "engineering"}));
  EXPECT_NE(text_of(tokens, "id_token"), "<absent>");
  // A token for the API is not one for userinfo.
  EXPECT_EQ(userinfo(op(), at).first, 401);
}

TEST_F(OidcProviderTest, EndSessionRedirectsToPostLogoutUriAfterConfirmation) {
  auto cb = sign_in(browser_, op(), request_, "alice", fx::kAlicePassword);
  ASSERT_TRUE(cb.why.empty()) << cb.why;
  std::string why;
  auto tokens = code_exchange(op(), request_, cb.params["code"], &why);
  ASSERT_TRUE(why.empty()) << why;

  const std::string post_logout = callback_.url() + "/.gatehouse/login";
  auto nav = browser_.get(op().end_session_endpoint() + "?" +
                          form_encode({{"id_token_hint", text_of(tokens, "id_token")},
                                       {"post_logout_redirect_uri", post_logout},
                                       {"state", "bye-123"}}));
  ASSERT_TRUE(nav.ok()) << nav.describe();
  EXPECT_EQ(nav.status(), 200);
  auto confirm = nav.form("/session/end/confirm");
  ASSERT_TRUE(confirm) << nav.describe();
  EXPECT_TRUE(confirm->get("xsrf")) << nav.body();
  EXPECT_EQ(confirm->submission(), (FormFields{{"xsrf", *confirm->get("xsrf")}, {"logout", "yes"}}));
  nav = browser_.submit(*confirm);
  ASSERT_TRUE(nav.ok()) << nav.describe();
  ASSERT_EQ(nav.url().rfind(post_logout, 0), 0u) << nav.describe() << op().log();
  EXPECT_EQ(query_params(nav.url())["state"], "bye-123");

  // Tokens issued without offline_access end with the provider's session.
  EXPECT_EQ(userinfo(op(), text_of(tokens, "access_token")).first, 401);
  token_request(op(), {{"grant_type", "refresh_token"}, {"refresh_token", text_of(tokens, "refresh_token")}}, &why);
  EXPECT_NE(why.find("invalid_grant"), std::string::npos) << why;

  // A new authorization request asks for the password again.
  AuthRequest next;
  next.redirect_uri = request_.redirect_uri;
  nav = browser_.get(next.url(op()));
  EXPECT_TRUE(nav.form("/login")) << nav.describe();
}

TEST_F(OidcProviderTest, UnregisteredPostLogoutRedirectUriIsRefused) {
  auto cb = sign_in(browser_, op(), request_, "alice", fx::kAlicePassword);
  ASSERT_TRUE(cb.why.empty()) << cb.why;
  std::string why;
  auto tokens = code_exchange(op(), request_, cb.params["code"], &why);
  auto nav = browser_.get(op().end_session_endpoint() + "?" +
                          form_encode({{"id_token_hint", text_of(tokens, "id_token")},
                                       {"post_logout_redirect_uri", "http://evil.example/"}}));
  ASSERT_TRUE(nav.ok()) << nav.describe();
  EXPECT_EQ(nav.status(), 400) << nav.describe();
  EXPECT_NE(nav.body().find("post_logout_redirect_uri"), std::string::npos) << nav.body();
}

// --- Providers with other options ---------------------------------------------------

class OidcProviderOptionsTest : public ::testing::Test {
 protected:
  void start(OidcProviderOptions options) {
    provider_ = std::make_unique<OidcProvider>(std::move(options));
    std::string error;
    // Thrown, not ASSERTed: the test body must not go on without a provider.
    if (!provider_->start(&error)) throw std::runtime_error("the OpenID provider did not start: " + error);
    request_.redirect_uri = callback_.url() + "/.gatehouse/oidc/sso/callback";
  }
  // Signs alice in and exchanges the code.
  json alice_tokens() {
    auto cb = sign_in(browser_, *provider_, request_, "alice", fx::kAlicePassword);
    EXPECT_TRUE(cb.why.empty()) << cb.why;
    std::string why;
    auto tokens = code_exchange(*provider_, request_, cb.params["code"], &why);
    EXPECT_TRUE(why.empty()) << why;
    return tokens;
  }

  std::unique_ptr<OidcProvider> provider_;
  EchoUpstream callback_;
  HttpBrowser browser_;
  AuthRequest request_;
};

TEST_F(OidcProviderOptionsTest, ClaimsInIdTokenWhenNotConforming) {
  OidcProviderOptions o;
  o.conform_id_token_claims = false;
  start(o);
  auto claims = jwt_part(text_of(alice_tokens(), "id_token"), 1);
  EXPECT_EQ(text_of(claims, "email"), "alice@example.org");
  EXPECT_EQ(text_of(claims, "name"), "Alice Example");
  EXPECT_EQ(text_of(claims, "preferred_username"), "alice");
  EXPECT_EQ(text_of(claims, "tenant"), "example");
  EXPECT_EQ(strings(claims["groups"]), (std::vector<std::string>{"developers", "engineering"}));
}

TEST_F(OidcProviderOptionsTest, TtlsAreConfigurable) {
  OidcProviderOptions o;
  o.ttl.id_token_s = 5;
  o.ttl.access_token_s = 7;
  start(o);
  auto tokens = alice_tokens();
  auto claims = jwt_part(text_of(tokens, "id_token"), 1);
  ASSERT_TRUE(claims.contains("exp") && claims.contains("iat")) << claims.dump();
  EXPECT_EQ(claims["exp"].get<long long>() - claims["iat"].get<long long>(), 5);
  EXPECT_EQ(tokens.value("expires_in", 0), 7) << tokens.dump();
}

TEST_F(OidcProviderOptionsTest, RefreshTokenOnlyWithOfflineAccessWhenRequired) {
  OidcProviderOptions o;
  o.refresh_token_requires_offline_access = true;
  start(o);
  auto without = alice_tokens();
  EXPECT_EQ(text_of(without, "refresh_token"), "<absent>") << without.dump();

  browser_.clear_cookies();  // a new provider session
  request_ = AuthRequest{};
  request_.redirect_uri = callback_.url() + "/.gatehouse/oidc/sso/callback";
  // oidc-provider keeps offline_access only with prompt=consent (OpenID Connect Core
  // §11).
  request_.scope = "openid email offline_access";
  request_.prompt = "consent";
  auto with = alice_tokens();
  EXPECT_NE(text_of(with, "refresh_token"), "<absent>") << with.dump();
}

TEST_F(OidcProviderOptionsTest, NoRefreshTokenWithoutTheGrantType) {
  OidcProviderOptions o;
  o.clients[0].grant_types = {"authorization_code"};
  start(o);
  request_.scope = "openid offline_access";
  auto tokens = alice_tokens();
  EXPECT_NE(text_of(tokens, "id_token"), "<absent>") << tokens.dump();
  EXPECT_EQ(text_of(tokens, "refresh_token"), "<absent>") << tokens.dump();
}

TEST_F(OidcProviderOptionsTest, ClientSecretPostClient) {
  OidcProviderOptions o;
  OidcClient post = OidcClient::for_gatehouse("http://127.0.0.1", "second");
  post.client_id = "gatehouse-post";
  post.client_secret = "post-secret";
  post.token_endpoint_auth_method = "client_secret_post";
  o.clients.push_back(post);
  start(o);
  auto discovery = json::parse(browser_.get(provider_->discovery_url()).body(), nullptr, false);
  EXPECT_EQ(strings(discovery["token_endpoint_auth_methods_supported"]),
            (std::vector<std::string>{"client_secret_basic", "client_secret_post"}));
  std::string why;
  FormFields form = {{"grant_type", "client_credentials"}, {"resource", std::string(fx::kApiResource)}};
  auto tokens = token_request(*provider_, form, &why, "gatehouse-post", "post-secret", /*basic=*/false);
  EXPECT_TRUE(why.empty()) << why;
  EXPECT_EQ(text_of(jwt_part(text_of(tokens, "access_token"), 1), "client_id"), "gatehouse-post");
  token_request(*provider_, form, &why, "gatehouse-post", "post-secret", /*basic=*/true);
  EXPECT_NE(why.find("invalid_client"), std::string::npos) << why;
  EXPECT_NE(why.find("registered for client_secret_post"), std::string::npos) << why;
}

TEST_F(OidcProviderOptionsTest, ExactRedirectUriWithoutLoopbackAnyPort) {
  OidcProviderOptions o;
  o.clients[0].loopback_any_port = false;
  o.clients[0].redirect_uris.push_back(callback_.url() + "/exact/callback");
  start(o);
  request_.redirect_uri = callback_.url() + "/.gatehouse/oidc/sso/callback";  // registered for port 80 only
  auto nav = browser_.get(request_.url(*provider_));
  EXPECT_EQ(nav.status(), 400) << nav.describe();
  request_.redirect_uri = callback_.url() + "/exact/callback";
  auto cb = sign_in(browser_, *provider_, request_, "bob", fx::kBobPassword);
  EXPECT_TRUE(cb.why.empty()) << cb.why;
  EXPECT_FALSE(cb.params["code"].empty());
}

TEST_F(OidcProviderOptionsTest, StartFailureCarriesNodesStderr) {
  OidcProviderOptions o;
  o.clients.clear();  // the script refuses a config without clients
  OidcProvider op(o);
  std::string error;
  EXPECT_FALSE(op.start(&error));
  EXPECT_FALSE(op.running());
  EXPECT_NE(error.find("node exited"), std::string::npos) << error;
  EXPECT_NE(error.find("\"clients\" must list at least one client"), std::string::npos) << error;
}

TEST_F(OidcProviderOptionsTest, StopsOnSigterm) {
  // (Whether its port is free afterwards cannot be checked by connecting: under ctest -j
  // another test's server may already listen there.)
  start({});
  const pid_t pid = provider_->pid();
  EXPECT_EQ(provider_->stop(), 0) << provider_->log();
  EXPECT_FALSE(provider_->running());
  EXPECT_NE(kill(pid, 0), 0) << "node still running";
}

}  // namespace
}  // namespace gatehouse::testing
