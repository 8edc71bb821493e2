#include "auth/session_manager.h"

#include <algorithm>

#include "common/encoding.h"

namespace gatehouse::auth {

SessionManager::SessionManager(store::SessionStore& store, const Clock& clock, SessionCodec codec,
                               config::SessionConfig config, std::chrono::milliseconds cache_ttl)
    : store_(store), clock_(clock), codec_(std::move(codec)), config_(std::move(config)),
      cache_ttl_(cache_ttl) {}

std::int64_t SessionManager::touch_interval() const {
  // Writing last_seen on every request would put a store write on the hot path; a
  // granularity of a tenth of the idle timeout (at most a minute) is precise enough.
  return std::clamp<std::int64_t>(config_.idle_timeout.count() / 10, 1, 60);
}

bool SessionManager::expired(const store::SessionRecord& r, std::int64_t now) const {
  return now >= r.created_at + config_.absolute_timeout.count() ||
         now >= r.last_seen + config_.idle_timeout.count();
}

std::int64_t SessionManager::expires_at(const store::SessionRecord& r) const {
  return std::min(r.created_at + config_.absolute_timeout.count(),
                  r.last_seen + config_.idle_timeout.count());
}

Result<NewSession> SessionManager::create(const directory::Identity& identity, const std::string& source,
                                          std::string provider_state, std::int64_t refresh_at) {
  auto record = std::make_shared<store::SessionRecord>();
  record->id = random_bytes(kSessionIdBytes);
  record->user = identity.username;
  record->email = identity.email;
  record->display_name = identity.display_name;
  record->groups = identity.groups;
  record->email_verified = identity.email_verified;
  record->real_party = identity.tenant;
  // Not the effective party: that is the user's own choice, kept apart from its sessions
  // (tenancy::PrincipalResolver). The column keeps the real party for older readers.
  record->effective_party = identity.tenant;
  record->source = source;
  record->created_at = record->last_seen = clock_.now();
  record->provider_state = std::move(provider_state);
  record->refresh_at = refresh_at;
  if (auto st = store_.create_session(*record); !st) return st.error();
  if (on_signed_in_) on_signed_in_(*record, identity);
  NewSession out{record, codec_.seal(record->id)};
  {
    std::unique_lock lock(mu_);
    cache_[record->id] = CacheEntry{record, std::chrono::steady_clock::now()};
  }
  return out;
}

Result<SessionPtr> SessionManager::resolve(std::string_view cookie_value) {
  auto id = codec_.open(cookie_value);
  if (!id) return SessionPtr{};
  const auto now = clock_.now();
  const auto steady_now = std::chrono::steady_clock::now();
  SessionPtr record;
  {
    std::shared_lock lock(mu_);
    auto it = cache_.find(*id);
    if (it != cache_.end() && steady_now - it->second.fetched < cache_ttl_) record = it->second.record;
  }
  if (!record) {
    auto found = store_.find_session(*id);
    if (!found) return found.error();
    if (!found->has_value()) {
      std::unique_lock lock(mu_);
      cache_.erase(*id);
      return SessionPtr{};
    }
    record = std::make_shared<const store::SessionRecord>(std::move(**found));
    std::unique_lock lock(mu_);
    cache_[*id] = CacheEntry{record, steady_now};
  }
  if (expired(*record, now)) {
    if (on_expired_)
      on_expired_(*record, now - record->created_at >= config_.absolute_timeout.count() ? "absolute timeout"
                                                                                          : "idle timeout");
    (void)end(cookie_value);
    return SessionPtr{};
  }
  if (now - record->last_seen >= touch_interval()) {
    if (auto st = store_.touch_session(*id, now); !st) {
      // Gone from the store while still cached here: revoked, not store trouble.
      if (st.error().code != "store.not_found") return st.error();
      std::unique_lock lock(mu_);
      cache_.erase(*id);
      return SessionPtr{};
    }
    auto updated = std::make_shared<store::SessionRecord>(*record);
    updated->last_seen = now;
    record = updated;
    std::unique_lock lock(mu_);
    cache_[*id] = CacheEntry{record, steady_now};
  }
  return record;
}

std::optional<SessionPtr> SessionManager::resolve_cached(std::string_view cookie_value) {
  auto id = codec_.open(cookie_value);
  if (!id) return SessionPtr{};
  SessionPtr record;
  {
    std::shared_lock lock(mu_);
    auto it = cache_.find(*id);
    if (it == cache_.end() || std::chrono::steady_clock::now() - it->second.fetched >= cache_ttl_)
      return std::nullopt;
    record = it->second.record;
  }
  const auto now = clock_.now();
  if (expired(*record, now) || now - record->last_seen >= touch_interval()) return std::nullopt;
  return record;
}

Status SessionManager::update(const std::string& session_id, const std::string& source,
                              const directory::Identity& identity,
                              std::string provider_state, std::int64_t refresh_at) {
  store::SessionUpdate u;
  u.user = identity.username;
  u.email = identity.email;
  u.display_name = identity.display_name;
  u.groups = identity.groups;
  u.email_verified = identity.email_verified;
  u.real_party = identity.tenant;
  u.effective_party = identity.tenant;
  u.provider_state = std::move(provider_state);
  u.refresh_at = refresh_at;
  auto st = store_.update_session(session_id, u);
  if (st && on_signed_in_) {
    store::SessionRecord r;
    r.id = session_id;
    r.user = u.user;
    r.source = source;
    on_signed_in_(r, identity);
  }
  std::unique_lock lock(mu_);
  cache_.erase(session_id);  // the next resolve reads the new record
  return st;
}

Status SessionManager::end_id(const std::string& session_id) {
  {
    std::unique_lock lock(mu_);
    cache_.erase(session_id);
  }
  return store_.delete_session(session_id);
}

Status SessionManager::end(std::string_view cookie_value) {
  auto id = codec_.open(cookie_value);
  if (!id) return Ok{};
  {
    std::unique_lock lock(mu_);
    cache_.erase(*id);
  }
  return store_.delete_session(*id);
}

Result<std::int64_t> SessionManager::sweep() {
  const auto now = clock_.now();
  {
    const auto steady_now = std::chrono::steady_clock::now();
    std::unique_lock lock(mu_);
    std::erase_if(cache_, [&](const auto& kv) {
      return steady_now - kv.second.fetched >= cache_ttl_ || expired(*kv.second.record, now);
    });
  }
  // The store deletes strictly older records; +1 includes those expiring this second,
  // matching expired() above.
  return store_.delete_expired_sessions(now - config_.absolute_timeout.count() + 1,
                                        now - config_.idle_timeout.count() + 1);
}

Result<std::int64_t> SessionManager::count_active() {
  const auto now = clock_.now();
  return store_.count_sessions(now - config_.absolute_timeout.count() + 1, now - config_.idle_timeout.count() + 1);
}

}  // namespace gatehouse::auth
