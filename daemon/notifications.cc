#include "daemon/notifications.h"

#include <nlohmann/json.hpp>

#include "common/log.h"

namespace gatehouse::daemon {
namespace {

bool same(const config::SmtpConfig& a, const config::SmtpConfig& b) {
  return a.url == b.url && a.starttls == b.starttls && a.from == b.from && a.username == b.username &&
         a.password_file == b.password_file && a.ca_file == b.ca_file && a.timeout == b.timeout &&
         a.tls_verify == b.tls_verify;
}

// What an audit record says about a message: its kind and recipient, never its body.
std::string describe(const store::OutboxMessage& m) {
  return m.kind + " #" + std::to_string(m.id) + " to " + m.recipient + ", attempt " + std::to_string(m.attempts);
}

}  // namespace

Notifications::Notifications(store::TenancyStore& store, store::AuditStore& audit_store, const Clock& clock,
                             MetricsRegistry& metrics)
    : store_(store), clock_(clock), metrics_(metrics), audit_(config::AuditConfig{}, audit_store, clock),
      outbox_(store) {}

Notifications::~Notifications() { stop(); }

void Notifications::configure(const config::Config& config) {
  std::lock_guard lock(mu_);
  if (current_ && same(*current_, config.smtp) && worker_) return;
  if (worker_) worker_->stop();
  worker_.reset();
  auto mailer = std::make_unique<notify::SmtpMailer>(config.smtp);
  notify::OutboxWorkerOptions options;
  options.smtp_configured = !config.smtp.url.empty();
  if (options.smtp_configured)
    if (auto st = mailer->status(); !st)
      log::error("notify.smtp_unusable", {{"error", st.error().message}});
  mailer_ = std::move(mailer);
  worker_ = std::make_unique<notify::OutboxWorker>(outbox_, *mailer_, clock_, options);
  worker_->on_sent = [this](const store::OutboxMessage& m) {
    metrics_.count_notification(true);
    (void)audit_.record({auth::AuditEventType::notification_sent, "", std::nullopt, "", "", describe(m)});
  };
  worker_->on_failed = [this](const store::OutboxMessage& m, const std::string& error) {
    metrics_.count_notification(false);
    (void)audit_.record(
        {auth::AuditEventType::notification_failed, "", std::nullopt, "", "", describe(m) + ": " + error});
  };
  worker_->start();
  current_ = config.smtp;
}

void Notifications::poke() {
  std::lock_guard lock(mu_);
  if (worker_) worker_->poke();
}

void Notifications::stop() {
  std::lock_guard lock(mu_);
  if (worker_) worker_->stop();
  worker_.reset();
  mailer_.reset();
}

}  // namespace gatehouse::daemon
