#pragma once
// Signing in through an OpenID provider (authorization code flow with PKCE), keeping an
// OpenID session's claims fresh with its refresh token, the provider's logout URL, and
// bearer JWTs of API clients.
//
// The flow's secrets (state, nonce, PKCE verifier, where to return) travel in a
// short-lived cookie sealed with a key of its own: nothing is stored before the user
// comes back, and a callback only works in the browser that started it. The cookie's
// name carries the start of the state, so sign-ins started in several tabs do not
// overwrite each other; a state is accepted once (remembered until it would have
// expired anyway).
//
// Every method that talks to a provider blocks: call it on the blocking pool.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/audit.h"
#include "crypto/sealed_box.h"
#include "auth/session_manager.h"
#include "common/clock.h"
#include "common/net.h"
#include "oidc/provider.h"

namespace gatehouse::auth {

inline constexpr std::string_view kOidcFlowCookiePrefix = "gatehouse_oidc_";
inline constexpr std::int64_t kOidcFlowLifetime = 600;  // seconds from start to callback

struct OidcStart {
  std::string location;     // the provider's authorization URL
  std::string cookie_name;  // kOidcFlowCookiePrefix + the start of the state
  std::string cookie_value;
};

struct OidcOutcome {
  bool ok = false;
  NewSession session;   // ok: the new session
  std::string rd;       // ok: where the user goes next (validated at start)
  int status = 401;     // not ok: 400 (a broken or replayed callback), 401, 503
  std::string message;  // not ok: what the error page says (no detail an attacker could use)
};

enum class RefreshOutcome {
  not_due,    // nothing to do (or another request is refreshing this session)
  refreshed,  // new claims stored
  ended,      // the provider refused: the session is over
  postponed,  // the provider is unreachable: the old claims stay, retried later
};

class OidcLogin {
 public:
  OidcLogin(std::vector<std::shared_ptr<oidc::Provider>> providers, SessionManager& sessions, AuditSink& audit,
            const crypto::Key& flow_key, const crypto::Key& token_key, const Clock& clock);
  // For a reload: the new providers, sharing with `previous` what must outlive a
  // configuration (states already used, refreshes under way).
  OidcLogin(std::vector<std::shared_ptr<oidc::Provider>> providers, SessionManager& sessions, AuditSink& audit,
            const crypto::Key& flow_key, const crypto::Key& token_key, const Clock& clock, const OidcLogin& previous);

  const std::vector<std::shared_ptr<oidc::Provider>>& providers() const { return providers_; }
  oidc::Provider* find(std::string_view name) const;
  // Some provider accepts bearer JWTs.
  bool bearer_enabled() const { return bearer_enabled_; }

  // /.gatehouse/oidc/NAME/start: errors are "oidc.unreachable" (logged) or an unusable
  // discovery document, "oidc.discovery" (audited: a provider that names another
  // issuer may be an impostor).
  Result<OidcStart> start(oidc::Provider& provider, std::string_view rd, const IpAddress& client);

  // /.gatehouse/oidc/NAME/callback with its (decoded) query parameters and the
  // request's Cookie header. Audited either way.
  OidcOutcome finish(oidc::Provider& provider, const std::map<std::string, std::string>& query,
                     std::string_view cookie_header, const IpAddress& client);

  // The name of the flow cookie a callback with this state must come with ("" when
  // the state is malformed): the response clears it.
  static std::string flow_cookie_name(std::string_view state);

  bool refresh_due(const store::SessionRecord& s) const { return s.refresh_at != 0 && clock_.now() >= s.refresh_at; }

  // A session whose refresh_at has passed: the refresh grant, the new ID token
  // verified, userinfo merged, the session updated.
  RefreshOutcome refresh(const store::SessionRecord& session);

  // RP-initiated logout: the provider's end_session_endpoint with id_token_hint,
  // post_logout_redirect_uri and client_id; "" when the session is not an OpenID one or
  // the provider has no such endpoint.
  std::string end_session_url(const store::SessionRecord& session, std::string_view post_logout_redirect_uri);

  // A bearer JWT from an API client: a session-like record (never stored), or an error
  // ("jwt.*", "oidc.*"). bearer_cached() never blocks: nullopt when bearer() must run
  // on the blocking pool (keys to fetch).
  Result<store::SessionRecord> bearer(std::string_view token);
  std::optional<Result<store::SessionRecord>> bearer_cached(std::string_view token);

 private:
  struct Flow {
    std::string provider;
    std::string state;
    std::string nonce;
    std::string verifier;
    std::string rd;
    std::int64_t created_at = 0;
  };
  struct ProviderState {  // sealed into store::SessionRecord::provider_state
    std::string id_token;
    std::string refresh_token;
    std::string sub;
    std::string nonce;
  };

  OidcOutcome fail(oidc::Provider& provider, const IpAddress& client, int status, std::string message,
                   const std::string& detail, const std::string& user = "");
  bool use_state_once(const std::string& state, std::int64_t now);
  // Merges the userinfo endpoint's claims (same sub) into `claims` when they lack one
  // that is mapped, or `always`.
  Result<nlohmann::json> claims_with_userinfo(oidc::Provider& provider, nlohmann::json claims,
                                              const std::string& access_token, bool always);
  std::string seal_state(const ProviderState& s) const;
  std::optional<ProviderState> open_state(const std::string& sealed) const;
  std::int64_t refresh_at(const nlohmann::json& id_claims, const std::string& refresh_token) const;
  oidc::Provider* bearer_provider(std::string_view token, Error& why) const;
  Result<store::SessionRecord> bearer_identity(oidc::Provider& provider, const oidc::VerifiedJwt& jwt);

  std::vector<std::shared_ptr<oidc::Provider>> providers_;
  SessionManager& sessions_;
  AuditSink& audit_;
  crypto::SealedBox flow_box_;
  crypto::SealedBox token_box_;
  const Clock& clock_;
  bool bearer_enabled_ = false;

  struct Memory {
    std::mutex mu;
    std::unordered_map<std::string, std::int64_t> used_states;  // state -> when it expires
    std::set<std::string> refreshing;                           // session ids
  };
  std::shared_ptr<Memory> memory_;  // shared across reloads
};

}  // namespace gatehouse::auth
