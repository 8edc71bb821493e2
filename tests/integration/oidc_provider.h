#pragma once
// A real OpenID provider for the OIDC tests: tests/oidc/provider.mjs (the
// `oidc-provider` npm package, pinned in tests/package.json and installed by `npm ci`
// in tests/) run by node on a free port of 127.0.0.1, so its issuer is
// http://127.0.0.1:PORT. Clients, accounts, resource servers and lifetimes come from
// OidcProviderOptions; what a relying party sees (scopes, claims, refresh tokens, JWT
// access tokens, the login/consent/logout forms) is described at the top of the
// script. A missing node or node_modules is a failure of start(), never a skip.
#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "integration/harness.h"

namespace gatehouse::testing {

namespace oidc_fixture {
inline constexpr std::string_view kClientId = "gatehouse";
inline constexpr std::string_view kClientSecret = "gatehouse-secret";
inline constexpr std::string_view kAliceSub = "alice-0001";
inline constexpr std::string_view kAlicePassword = "alice-Password-1";  // tenant example; developers, engineering
inline constexpr std::string_view kBobSub = "bob-0002";
inline constexpr std::string_view kBobPassword = "bob-Password-2";      // tenant acme; sales
inline constexpr std::string_view kApiResource = "https://api.example.test";  // JWT access tokens, aud = this
}  // namespace oidc_fixture

struct OidcClient {
  std::string client_id = std::string(oidc_fixture::kClientId);
  std::string client_secret = std::string(oidc_fixture::kClientSecret);
  std::vector<std::string> redirect_uris;
  std::vector<std::string> post_logout_redirect_uris;
  std::vector<std::string> grant_types = {"authorization_code", "refresh_token", "client_credentials"};
  std::string token_endpoint_auth_method = "client_secret_basic";  // or "client_secret_post"
  // A registered http://127.0.0.1/… (or localhost) URI matches that URI on any port,
  // so the relying party's port need not be known when the provider starts.
  bool loopback_any_port = true;

  // The client a gatehouse at `public_url` with an [[oidc]] provider called `name`
  // registers: redirect URI PUBLIC/.gatehouse/oidc/NAME/callback, post-logout URIs
  // PUBLIC/ and PUBLIC/.gatehouse/login. The default client is for both
  // http://gatehouse.test (harness basic_config's public_url) and http://127.0.0.1
  // (any port), provider name "sso".
  static OidcClient for_gatehouse(const std::string& public_url, const std::string& name = "sso");
  void add_gatehouse(const std::string& public_url, const std::string& name = "sso");
};

struct OidcAccount {
  std::string sub;
  std::string username;  // the login form's `login`; the preferred_username claim
  std::string password;
  std::string email;     // "" leaves email and email_verified out
  bool email_verified = true;
  std::string name;
  std::vector<std::string> groups;
  std::string tenant;    // "" leaves the claim out
};

// A resource server for resource indicators (RFC 8707): tokens requested with
// resource=identifier are JWTs (typ at+jwt, RS256 with the provider's key) with
// aud = audience, carrying the account's preferred_username, email, groups and tenant.
struct OidcResourceServer {
  std::string identifier = std::string(oidc_fixture::kApiResource);
  std::string audience;  // "" = identifier
  std::string scope = "api:read api:write";
  int access_token_ttl_s = 0;  // 0 = ttl.access_token_s
};

// Lifetimes in seconds.
struct OidcTtl {
  int access_token_s = 3600;
  int authorization_code_s = 60;
  int client_credentials_s = 600;
  int id_token_s = 3600;
  int refresh_token_s = 86400;
  int session_s = 86400;  // the provider's own login session
  int grant_s = 86400;
};

struct OidcProviderOptions {
  std::vector<OidcClient> clients = {default_client()};
  // alice (kAlicePassword, alice@example.org, "Alice Example", groups developers and
  // engineering, tenant example) and bob (kBobPassword, bob@acme.example, "Bob Acme",
  // groups sales, tenant acme).
  std::vector<OidcAccount> accounts = default_accounts();
  std::vector<OidcResourceServer> resource_servers = {OidcResourceServer{}};
  OidcTtl ttl;
  // Client authentication methods the provider advertises and accepts; empty: those
  // the clients are registered with. Each client must use its own method either way.
  std::vector<std::string> token_endpoint_auth_methods;
  // false: the ID token carries the granted claims (email, name, groups, tenant…) too,
  // not only the userinfo endpoint.
  bool conform_id_token_claims = true;
  // true: refresh tokens only when `offline_access` was requested (and granted), as
  // Okta and Entra ID do; false: whenever the client has the refresh_token grant type.
  bool refresh_token_requires_offline_access = false;
  int port = 0;  // 0: a free port

  static OidcClient default_client();
  static std::vector<OidcAccount> default_accounts();
};

class OidcProvider {
 public:
  explicit OidcProvider(OidcProviderOptions options = {});
  ~OidcProvider();
  OidcProvider(const OidcProvider&) = delete;
  OidcProvider& operator=(const OidcProvider&) = delete;

  // Writes the config, starts node and waits (at most timeout_ms) for the script's
  // ready line. On failure `error` says why, with node's stderr. Takes about a second
  // on an idle 2-core machine (startup_ms()). node gets SIGKILL when the thread that
  // started it ends, so call from a thread that outlives the provider (a test's own).
  // A node that does not get ready in time is replaced once.
  bool start(std::string* error, int timeout_ms = 20000);
  // SIGTERM, SIGKILL after 5 s, and wait. Also run by the destructor. Returns node's
  // exit code (0 after SIGTERM), 128 + signal, or -1 when it had to be killed or was
  // not running. All state (sessions, grants, tokens, the signing key) is in node's
  // memory and gone.
  int stop();

 private:
  bool start_once(std::string* error, int timeout_ms);

 public:
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  const std::string& issuer() const { return issuer_; }  // "http://127.0.0.1:PORT"
  int port() const { return port_; }
  std::string discovery_url() const { return issuer_ + "/.well-known/openid-configuration"; }
  // Endpoints (oidc-provider's routes, also in the discovery document).
  std::string authorization_endpoint() const { return issuer_ + "/auth"; }
  std::string token_endpoint() const { return issuer_ + "/token"; }
  std::string userinfo_endpoint() const { return issuer_ + "/me"; }
  std::string jwks_uri() const { return issuer_ + "/jwks"; }
  std::string end_session_endpoint() const { return issuer_ + "/session/end"; }

  const OidcProviderOptions& options() const { return options_; }
  // node's stderr since start(): oidc-provider's warnings, errors (`event=… error=…`)
  // and one line per request (method, path, status).
  std::string log() const;
  std::string config_file() const;  // the CONFIG.json given to the script
  long startup_ms() const { return startup_ms_; }

 private:
  OidcProviderOptions options_;
  std::unique_ptr<TempDir> dir_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string issuer_;
  int port_ = 0;
  long startup_ms_ = 0;
};

}  // namespace gatehouse::testing
