#include "auth/audit.h"

#include <array>
#include <utility>

#include "auth/lockout.h"
#include "common/log.h"

namespace gatehouse::auth {

namespace {

constexpr std::array kEventTypes = {
    AuditEventType::login_success,     AuditEventType::login_failure,
    AuditEventType::login_locked,      AuditEventType::lockout_locked,
    AuditEventType::lockout_unlocked,  AuditEventType::whitelist_added,
    AuditEventType::whitelist_removed, AuditEventType::logout,
    AuditEventType::session_expired,   AuditEventType::config_reloaded,
    AuditEventType::config_reload_failed, AuditEventType::user_added,
    AuditEventType::user_password_changed, AuditEventType::user_disabled,
    AuditEventType::user_enabled, AuditEventType::delegation_granted, AuditEventType::delegation_revoked,
    AuditEventType::delegation_expired, AuditEventType::party_switched, AuditEventType::notification_queued,
    AuditEventType::notification_sent, AuditEventType::notification_failed,
    AuditEventType::tenant_superuser_added, AuditEventType::tenant_superuser_removed,
    AuditEventType::secret_set, AuditEventType::secret_removed, AuditEventType::secret_key_rotated,
    AuditEventType::keys_rewrapped,
};

constexpr std::int64_t kPruneBatch = 1000;

log::Level level_of(AuditEventType type) {
  switch (type) {
    case AuditEventType::login_locked:
    case AuditEventType::lockout_locked: return log::Level::warning;
    case AuditEventType::config_reload_failed: return log::Level::error;
    case AuditEventType::notification_failed: return log::Level::warning;
    default: return log::Level::info;
  }
}

}  // namespace

std::string_view event_name(AuditEventType type) {
  switch (type) {
    case AuditEventType::login_success: return "login.success";
    case AuditEventType::login_failure: return "login.failure";
    case AuditEventType::login_locked: return "login.locked";
    case AuditEventType::lockout_locked: return "lockout.locked";
    case AuditEventType::lockout_unlocked: return "lockout.unlocked";
    case AuditEventType::whitelist_added: return "whitelist.added";
    case AuditEventType::whitelist_removed: return "whitelist.removed";
    case AuditEventType::logout: return "logout";
    case AuditEventType::session_expired: return "session.expired";
    case AuditEventType::config_reloaded: return "config.reloaded";
    case AuditEventType::config_reload_failed: return "config.reload_failed";
    case AuditEventType::user_added: return "user.added";
    case AuditEventType::user_password_changed: return "user.password_changed";
    case AuditEventType::user_disabled: return "user.disabled";
    case AuditEventType::user_enabled: return "user.enabled";
    case AuditEventType::delegation_granted: return "delegation.granted";
    case AuditEventType::delegation_revoked: return "delegation.revoked";
    case AuditEventType::delegation_expired: return "delegation.expired";
    case AuditEventType::party_switched: return "party.switched";
    case AuditEventType::notification_queued: return "notification.queued";
    case AuditEventType::notification_sent: return "notification.sent";
    case AuditEventType::notification_failed: return "notification.failed";
    case AuditEventType::tenant_superuser_added: return "tenant.superuser_added";
    case AuditEventType::tenant_superuser_removed: return "tenant.superuser_removed";
    case AuditEventType::secret_set: return "secret.set";
    case AuditEventType::secret_removed: return "secret.removed";
    case AuditEventType::secret_key_rotated: return "secret.key_rotated";
    case AuditEventType::keys_rewrapped: return "keys.rewrapped";
  }
  return "unknown";
}

std::optional<AuditEventType> parse_event_name(std::string_view name) {
  for (auto type : kEventTypes)
    if (event_name(type) == name) return type;
  return std::nullopt;
}

std::span<const AuditEventType> all_audit_event_types() { return kEventTypes; }

Audit::Audit(config::AuditConfig config, store::AuditStore& store, const Clock& clock)
    : config_(std::move(config)), store_(store), clock_(clock) {}

Status Audit::record(const AuditEvent& event) {
  store::AuditRecord r;
  r.at = clock_.now();
  r.event = std::string(event_name(event.type));
  r.user = event.user;
  r.account = event.user.empty() ? std::string() : account_key(event.user);
  r.client = event.client ? event.client->to_string() : std::string();
  r.source = event.source;
  r.route = event.route;
  r.detail = event.detail;
  log::event(level_of(event.type), r.event,
             {{"user", r.user},
              {"client", r.client},
              {"source", r.source},
              {"route", r.route},
              {"detail", r.detail}});
  auto id = store_.append_audit(r);
  if (!id) {
    log::error("audit.store_failed", {{"audit_event", r.event}, {"error", id.error().message}});
    return id.error();
  }
  return Ok{};
}

Result<std::int64_t> Audit::prune() {
  if (pruning_.exchange(true)) return std::int64_t{0};
  struct Done {
    std::atomic<bool>& flag;
    ~Done() { flag = false; }
  } done{pruning_};

  const std::int64_t before = clock_.now() - config_.retention.count();
  std::int64_t total = 0;
  for (;;) {
    auto n = store_.delete_audit_before(before, kPruneBatch);
    if (!n) return n.error();
    total += *n;
    if (*n < kPruneBatch) break;
  }
  if (total > 0) log::info("audit.pruned", {{"records", std::to_string(total)}});
  return total;
}

}  // namespace gatehouse::auth
