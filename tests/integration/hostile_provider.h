#pragma once
// An OpenID provider that misbehaves on purpose, for testing that gatehouse refuses what it
// must. It runs on 127.0.0.1 (a free port) in its own thread, over plain HTTP, and is
// otherwise a strict, minimal provider:
//
//   GET  /.well-known/openid-configuration   discovery (issuer = url(), unless mismatched)
//   GET  /authorize   response_type=code with PKCE S256 required; logs in at once and answers
//                     302 to redirect_uri?code=…&state=… (or ?error=…)
//   POST /token       client_secret_basic or client_secret_post (as advertised); grants
//                     authorization_code (single use, redirect_uri and code_verifier checked)
//                     and refresh_token; answers access_token, token_type, expires_in,
//                     id_token and, when enabled, refresh_token
//   GET  /jwks        the public keys (fetches counted)
//   GET  /userinfo    Bearer <an access token it issued> → the userinfo claims; else 401
//   GET  /logout      end_session_endpoint: records its query, answers 200
//
// The ID token is RS256 under kid "k1", {iss, sub, aud, exp = now + 300, iat = now, nonce,
// auth_time} plus the configured extra claims — unless a Flaw makes it wrong in exactly one way.
// All knobs may be turned while the server runs; they apply to the next request.
#include <httplib.h>

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/jose_forge.h"

namespace gatehouse::testing {

// How the ID token from /token is wrong (Flaw::none: it is right).
enum class Flaw {
  none,
  alg_none,               // {"alg":"none"} and an empty signature
  hs256_with_public_key,  // HS256, kid "k1", the HMAC secret being k1's public key PEM
  bad_signature,          // RS256 under k1 with one signature bit flipped
  unknown_kid,            // signed by a key that is never published, kid "k-unpublished"
  wrong_iss,              // iss "https://evil.example"
  wrong_aud,              // aud "someone-else"
  expired,                // exp = now - 600, iat = now - 900
  iat_future,             // iat = now + 600, exp = now + 900
  missing_nonce,          // no nonce claim
  wrong_nonce,            // a nonce the client never sent
};
const char* flaw_name(Flaw flaw);
// Every flaw except none, for table-driven tests.
std::vector<Flaw> all_flaws();

// The endpoints, for request counts.
enum class Endpoint { discovery, authorize, token, jwks, userinfo, logout, count_ };

class HostileProvider {
 public:
  struct Options {
    std::string client_id = "gatehouse";
    std::string client_secret = "hostile-secret";
    std::string subject = "hostile-user-1";
  };

  // What /authorize received (its query parameters; "" when absent).
  struct AuthorizeRequest {
    std::string response_type, client_id, redirect_uri, scope, state, nonce, code_challenge,
        code_challenge_method;
  };
  // What /logout received.
  struct LogoutRequest {
    std::string id_token_hint, post_logout_redirect_uri, state, client_id;
  };

  HostileProvider();
  explicit HostileProvider(Options options);
  ~HostileProvider();
  HostileProvider(const HostileProvider&) = delete;
  HostileProvider& operator=(const HostileProvider&) = delete;

  int port() const { return port_; }
  // http://127.0.0.1:PORT, also the issuer it announces (and puts in ID tokens).
  std::string url() const;
  const Options& options() const { return options_; }

  // ---- knobs ----
  void set_flaw(Flaw flaw);
  // Discovery announces issuer url() + "/other" instead of url().
  void set_discovery_issuer_mismatch(bool on);
  // Non-empty: /authorize redirects back with this state instead of the one it received.
  void set_authorize_state(std::string state);
  // Non-empty (e.g. "access_denied"): /authorize redirects back with error=… and no code.
  void set_authorize_error(std::string error);
  // /authorize adds iss=url() to its redirect (RFC 9207).
  void set_authorize_iss(bool on);
  // token_endpoint_auth_methods_supported, and the only methods /token accepts
  // (default: client_secret_basic and client_secret_post).
  void set_token_auth_methods(std::vector<std::string> methods);
  // Claims merged into every ID token (preferred_username, email, name, groups, tenant, …).
  void set_id_token_claims(nlohmann::json claims);
  // What /userinfo answers. Default: {"sub": options().subject} plus the ID token claims.
  // Give a different "sub" for the sub mismatch test.
  void set_userinfo(nlohmann::json claims);
  // aud becomes [client_id, extra…]; azp (when not empty) is added.
  void set_extra_audiences(std::vector<std::string> extra, std::string azp);
  // /token also issues a refresh_token (and accepts grant_type=refresh_token).
  void set_refresh_tokens(bool on);
  // ID token lifetime (default 300 s) and the access token's expires_in (default 300).
  void set_token_lifetime(int seconds);
  // Key rotation: from now on ID tokens are signed by a second key (EC P-256, ES256, kid
  // "k2"), which /jwks leaves out of its next `hidden_fetches` answers and publishes after.
  void sign_with_second_key(int hidden_fetches);

  // ---- observations ----
  int requests(Endpoint endpoint) const;
  int jwks_fetches() const { return requests(Endpoint::jwks); }
  AuthorizeRequest last_authorize() const;
  LogoutRequest last_logout() const;
  // "client_secret_basic" or "client_secret_post" of the last successful token request.
  std::string last_token_auth_method() const;
  std::string last_id_token() const;
  std::string last_access_token() const;

  // ---- minting ----
  // An RS256 JWT under k1 with exactly `claims` (bearer-token tests: any aud, exp, nbf…).
  // The signature-level flaws (alg_none, hs256_with_public_key, bad_signature, unknown_kid)
  // apply; claim-level flaws are the caller's to write into `claims`.
  std::string mint(const nlohmann::json& claims, Flaw flaw = Flaw::none) const;
  // The keys it publishes (k1, and k2 once rotated in): for checking its tokens in tests.
  std::string jwks() const;

 private:
  struct Grant;  // an issued code or refresh token
  void routes();
  void on_discovery(const httplib::Request& req, httplib::Response& res);
  void on_authorize(const httplib::Request& req, httplib::Response& res);
  void on_token(const httplib::Request& req, httplib::Response& res);
  void on_jwks(const httplib::Request& req, httplib::Response& res);
  void on_userinfo(const httplib::Request& req, httplib::Response& res);
  void on_logout(const httplib::Request& req, httplib::Response& res);
  std::string authenticate_client(const httplib::Request& req, httplib::Response& res);
  std::string id_token(const std::string& nonce);
  std::string sign(const nlohmann::json& claims, Flaw flaw, bool second_key) const;
  void count(Endpoint endpoint) { ++counts_[static_cast<std::size_t>(endpoint)]; }
  template <class T, class V>
  void set_locked(T& field, V&& value) {
    std::lock_guard lock(mu_);
    field = std::forward<V>(value);
  }
  template <class T>
  T get_locked(const T& field) const {
    std::lock_guard lock(mu_);
    return field;
  }

  Options options_;
  test_support::TestKey k1_, k2_, unpublished_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::array<std::atomic<int>, static_cast<std::size_t>(Endpoint::count_)> counts_{};

  mutable std::mutex mu_;  // guards everything below
  Flaw flaw_ = Flaw::none;
  bool issuer_mismatch_ = false;
  std::string authorize_state_, authorize_error_;
  bool authorize_iss_ = false;
  std::vector<std::string> auth_methods_{"client_secret_basic", "client_secret_post"};
  nlohmann::json id_claims_ = nlohmann::json::object();
  nlohmann::json userinfo_;  // null: the default
  std::vector<std::string> extra_audiences_;
  std::string azp_;
  bool refresh_tokens_ = false;
  int lifetime_ = 300;
  bool second_key_ = false;
  int k2_hidden_fetches_ = 0;
  AuthorizeRequest last_authorize_;
  LogoutRequest last_logout_;
  std::string last_auth_method_, last_id_token_, last_access_token_;
  std::map<std::string, std::shared_ptr<Grant>> codes_, refresh_tokens_issued_;
  std::set<std::string> access_tokens_;
};

}  // namespace gatehouse::testing
