#pragma once
// The audit trail: who did what, stored in the append-only audit table and written
// as one structured log line per event (stderr, the journal). An event carries no
// field for a password, cookie or token, so none can reach either.
#include <atomic>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/net.h"
#include "common/result.h"
#include "config/config.h"
#include "store/store.h"

namespace gatehouse::auth {

enum class AuditEventType {
  login_success,      // login.success
  login_failure,      // login.failure: wrong password or unknown user
  login_locked,       // login.locked: refused because the account is locked
  lockout_locked,     // lockout.locked: this failure locked the account
  lockout_unlocked,   // lockout.unlocked: an admin lifted a lock (or whitelisted the user)
  whitelist_added,    // whitelist.added
  whitelist_removed,  // whitelist.removed
  logout,             // logout
  session_expired,    // session.expired
  config_reloaded,    // config.reloaded
  config_reload_failed,    // config.reload_failed: the old configuration is kept
  user_added,              // user.added: `user add` (local directory)
  user_password_changed,   // user.password_changed: `user passwd`
  user_disabled,           // user.disabled
  user_enabled,            // user.enabled
  delegation_granted,      // delegation.granted
  delegation_revoked,      // delegation.revoked
  delegation_expired,      // delegation.expired: its end date passed
  party_switched,          // party.switched: from, to, delegation, automatic or not
  notification_queued,     // notification.queued: e-mails written to the outbox
  notification_sent,       // notification.sent
  notification_failed,     // notification.failed: an attempt failed (retried later)
  tenant_superuser_added,  // tenant.superuser_added
  tenant_superuser_removed,  // tenant.superuser_removed
  secret_set,                // secret.set: a tenant vault secret's new version (never its value)
  secret_removed,            // secret.removed
  secret_key_rotated,        // secret.key_rotated: a tenant's new data key
  keys_rewrapped,            // keys.rewrapped: sealed keys moved to the current master key
};

// "login.success", …: the name stored and logged.
std::string_view event_name(AuditEventType type);
std::optional<AuditEventType> parse_event_name(std::string_view name);
std::span<const AuditEventType> all_audit_event_types();

struct AuditEvent {
  AuditEventType type = AuditEventType::login_failure;
  std::string user;  // as typed, or the directory's canonical name
  std::optional<IpAddress> client;
  std::string source;  // directory or provider name; "cli" for admin commands
  std::string route;   // route id, when the event belongs to one
  std::string detail;  // outcome detail for people; never a secret
};

// Where the login flow and the admin commands send events; tests substitute a fake.
class AuditSink {
 public:
  virtual ~AuditSink() = default;
  // The log line is written even when storing fails (then the error is returned).
  virtual Status record(const AuditEvent& event) = 0;
};

class Audit final : public AuditSink {
 public:
  Audit(config::AuditConfig config, store::AuditStore& store, const Clock& clock);

  Status record(const AuditEvent& event) override;

  // Deletes records older than the retention, a batch per transaction so that
  // record() never waits long behind it. A call while another one runs returns 0 at
  // once. Returns how many records went.
  Result<std::int64_t> prune();

 private:
  config::AuditConfig config_;
  store::AuditStore& store_;
  const Clock& clock_;
  std::atomic<bool> pruning_{false};
};

}  // namespace gatehouse::auth
