#pragma once
// The daemon's e-mail delivery: the outbox worker with a mailer made from [smtp]. A
// reload that changes [smtp] replaces both; what is in the outbox waits in the store
// meanwhile. Each attempt is audited (notification.sent / notification.failed, never a
// body) and counted in the metrics.
#include <memory>
#include <mutex>

#include "auth/audit.h"
#include "common/clock.h"
#include "config/config.h"
#include "daemon/metrics.h"
#include "notify/mail.h"
#include "notify/outbox_worker.h"
#include "store/store.h"
#include "store/tenancy_store.h"

namespace gatehouse::daemon {

class Notifications {
 public:
  Notifications(store::TenancyStore& store, store::AuditStore& audit_store, const Clock& clock,
                MetricsRegistry& metrics);
  ~Notifications();  // stop()
  // Starts (or, when [smtp] changed, restarts) delivery with this configuration.
  void configure(const config::Config& config);
  // Look at the outbox now (after a switch or a grant wrote to it).
  void poke();
  // Lets the message in hand finish, then stops.
  void stop();

 private:
  store::TenancyStore& store_;
  const Clock& clock_;
  MetricsRegistry& metrics_;
  auth::Audit audit_;
  notify::StoreOutbox outbox_;
  std::mutex mu_;
  std::optional<config::SmtpConfig> current_;
  std::unique_ptr<notify::Mailer> mailer_;
  std::unique_ptr<notify::OutboxWorker> worker_;
};

}  // namespace gatehouse::daemon
