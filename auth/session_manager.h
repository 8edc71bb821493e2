#pragma once
// Creates, resolves and ends sessions. Records live in the SessionStore; a short-lived
// in-memory cache keeps the store off the hot path while an admin's revocation (or a
// logout in another instance) still takes effect within `cache_ttl`.
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "auth/session_codec.h"
#include "common/clock.h"
#include "config/config.h"
#include "directory/directory.h"
#include "store/store.h"

namespace gatehouse::auth {

using SessionPtr = std::shared_ptr<const store::SessionRecord>;

struct NewSession {
  SessionPtr record;
  std::string cookie_value;
};

class SessionManager {
 public:
  SessionManager(store::SessionStore& store, const Clock& clock, SessionCodec codec,
                 config::SessionConfig config,
                 std::chrono::milliseconds cache_ttl = std::chrono::milliseconds(1000));

  // Always a fresh random id: a session id known before login is never reused.
  // `provider_state` and `refresh_at`: see store::SessionRecord (OpenID sessions).
  Result<NewSession> create(const directory::Identity& identity, const std::string& source,
                            std::string provider_state = {}, std::int64_t refresh_at = 0);
  // New claims for a live session (an OpenID refresh); the cache sees them at once.
  Status update(const std::string& session_id, const std::string& source, const directory::Identity& identity,
                std::string provider_state, std::int64_t refresh_at);
  // Ends a session known by id (not by cookie): a refresh the provider refused.
  Status end_id(const std::string& session_id);

  // nullptr when the cookie is invalid, unknown, expired (idle or absolute) or revoked.
  // Expired records are deleted. Only store trouble is an error.
  Result<SessionPtr> resolve(std::string_view cookie_value);

  // resolve()'s answer when it needs no store call: the session is cached (within
  // cache_ttl), alive and not due for a last_seen write, or the cookie does not open
  // (nullptr). std::nullopt when only resolve() can tell; the daemon then runs it off its
  // event loops, so that a busy or locked store holds up that request and not the others.
  std::optional<SessionPtr> resolve_cached(std::string_view cookie_value);

  // Deletes the record behind the cookie (if any); the cookie is dead at once.
  Status end(std::string_view cookie_value);

  // Removes expired records from the store and stale entries from the cache.
  Result<std::int64_t> sweep();
  // Sessions in the store that have not expired (by the store's last_seen, which lags
  // by at most the touch interval). Not cached: one store query.
  Result<std::int64_t> count_active();

  std::int64_t expires_at(const store::SessionRecord& r) const;
  // Called when resolve() meets an expired session (before it is deleted), with
  // "idle timeout" or "absolute timeout": the audit trail's session.expired. Set once,
  // before requests are served.
  void on_expired(std::function<void(const store::SessionRecord&, std::string_view why)> hook) {
    on_expired_ = std::move(hook);
  }
  // Called after a session was created or its claims refreshed, with what the source
  // said (the tenancy's record of the user). Set once, before requests are served.
  void on_signed_in(std::function<void(const store::SessionRecord&, const directory::Identity&)> hook) {
    on_signed_in_ = std::move(hook);
  }
  const config::SessionConfig& config() const { return config_; }

 private:
  struct CacheEntry {
    SessionPtr record;
    std::chrono::steady_clock::time_point fetched;
  };
  bool expired(const store::SessionRecord& r, std::int64_t now) const;
  std::int64_t touch_interval() const;

  store::SessionStore& store_;
  const Clock& clock_;
  SessionCodec codec_;
  config::SessionConfig config_;
  std::chrono::milliseconds cache_ttl_;
  std::function<void(const store::SessionRecord&, std::string_view)> on_expired_;
  std::function<void(const store::SessionRecord&, const directory::Identity&)> on_signed_in_;
  std::shared_mutex mu_;
  std::unordered_map<std::string, CacheEntry> cache_;
};

}  // namespace gatehouse::auth
