#pragma once
// One configured OpenID provider, as its relying party sees it: the discovery document
// and the JWKS (cached, refreshed, the JWKS refetched when a token names an unknown
// key), the authorization URL, the token endpoint (code and refresh grants), userinfo,
// and the mapping of claims to a gatehouse identity.
//
// Every method that talks to the provider blocks (libcurl): call them on the blocking
// pool. Thread-safe.
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/result.h"
#include "common/secret.h"
#include "config/config.h"
#include "directory/directory.h"
#include "oidc/http_client.h"
#include "oidc/jose.h"

namespace gatehouse::oidc {

struct Discovery {
  std::string issuer;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string jwks_uri;
  std::string userinfo_endpoint;     // may be empty
  std::string end_session_endpoint;  // may be empty: no RP-initiated logout
  bool token_auth_basic = true;      // client_secret_basic, else client_secret_post
};

// What a token endpoint answered.
struct Tokens {
  std::string id_token;       // empty for a refresh that did not return a new one
  std::string access_token;
  std::string refresh_token;  // empty when none was issued
  std::int64_t expires_in = 0;
};

// Error codes, each with a message fit for the audit log (never a token or secret):
//   "oidc.unreachable"  the provider did not answer (network, TLS, timeout)
//   "oidc.discovery"    the discovery document is unusable or names another issuer
//   "oidc.jwks"         the JWKS is unusable
//   "oidc.token"        the token endpoint refused (invalid_grant…) or answered nonsense
//   "oidc.userinfo"     the userinfo endpoint refused or answered nonsense
//   "oidc.claims"       the claims cannot make an identity (no user name…)
//   "jwt.*"             from verify_jws / check_id_token (oidc/jose.h)
class Provider {
 public:
  Provider(config::OidcConfig config, std::string redirect_uri, Secret client_secret,
           std::shared_ptr<HttpClient> http, const Clock& clock);

  const config::OidcConfig& config() const { return config_; }
  const std::string& name() const { return config_.name; }
  const std::string& redirect_uri() const { return redirect_uri_; }

  // The discovery document, fetched when not cached or older than discovery_refresh.
  // A refresh that fails keeps serving the cached copy for another interval.
  Result<Discovery> discovery();

  // Where to send the browser: the authorization endpoint with response_type=code,
  // client_id, redirect_uri, scope, state, nonce and the S256 code challenge.
  Result<std::string> authorization_url(std::string_view state, std::string_view nonce,
                                        std::string_view code_challenge);

  // The authorization code grant (with the PKCE verifier) and the refresh grant.
  Result<Tokens> redeem_code(std::string_view code, std::string_view code_verifier);
  Result<Tokens> refresh(std::string_view refresh_token);

  // Verifies a JWS against the provider's keys; an unknown kid refetches the JWKS, at
  // most once per jwks_refetch_interval, and tries again.
  Result<VerifiedJwt> verify(std::string_view jwt);
  // The same without blocking: nullopt when the answer needs a JWKS fetch first (no
  // keys yet, keys due for a refresh, or an unknown kid that may be refetched).
  std::optional<Result<VerifiedJwt>> verify_cached(std::string_view jwt);

  // The userinfo endpoint's claims (a JSON object). Error when there is no endpoint.
  Result<nlohmann::json> userinfo(std::string_view access_token);

  // claims -> identity: username_claim (required), email_claim, name_claim,
  // groups_claim (a list of strings, or one string), tenant from tenant_claim or the
  // configured tenant. `fallback_to_sub`: without username_claim, use sub (bearer
  // tokens of API clients carry no user name).
  Result<directory::Identity> identity(const nlohmann::json& claims, bool fallback_to_sub = false) const;

  // Readiness: the discovery document can be had (cached for 30 s here).
  Status check();

  // For a reload: keeps the discovery document and keys `previous` fetched when it
  // names the same issuer through the same trust store, so a provider that is down
  // at the reload still verifies tokens with the keys it had.
  void adopt_cache(const Provider& previous);

  // JWKS fetches so far (tests, diagnostics).
  std::uint64_t jwks_fetches() const;

 private:
  Result<Discovery> fetch_discovery();
  Result<KeySet> keys(bool refetch);
  Result<Tokens> token_request(std::vector<std::pair<std::string, std::string>> fields, bool expect_id_token);
  bool endpoint_allowed(std::string_view url) const;

  const config::OidcConfig config_;
  const std::string redirect_uri_;
  const Secret client_secret_;
  const std::shared_ptr<HttpClient> http_;
  const Clock& clock_;

  mutable std::mutex mu_;
  std::optional<Discovery> discovery_;
  std::int64_t discovery_at_ = 0;   // when it was fetched (or last tried, after a failure)
  std::optional<KeySet> keys_;
  std::int64_t keys_at_ = 0;
  std::int64_t refetched_at_ = 0;   // last refetch for an unknown kid
  std::int64_t checked_at_ = 0;
  std::uint64_t jwks_fetches_ = 0;
  std::mutex fetch_mu_;  // one fetch at a time: concurrent logins share its result
};

}  // namespace gatehouse::oidc
