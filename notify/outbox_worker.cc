#include "notify/outbox_worker.h"

#include <algorithm>
#include <utility>

#include "common/log.h"
#include "notify/messages.h"

namespace gatehouse::notify {

std::int64_t retry_delay(std::int64_t attempts) {
  if (attempts < 1) attempts = 1;
  if (attempts >= 6) return 60;  // 2^6 = 64
  return std::min<std::int64_t>(60, std::int64_t{1} << attempts);
}

OutboxWorker::OutboxWorker(Outbox& outbox, Mailer& mailer, const Clock& clock, OutboxWorkerOptions options)
    : outbox_(outbox), mailer_(mailer), clock_(clock), options_(std::move(options)) {}

OutboxWorker::~OutboxWorker() { stop(); }

void OutboxWorker::start() {
  std::lock_guard lock(mu_);
  if (started_) return;
  started_ = true;
  if (!options_.smtp_configured) {
    log::warning("notify.disabled", {{"reason", "notifications queued but [smtp] url not set"}});
    return;  // no thread: nothing is claimed, everything stays pending
  }
  thread_ = std::thread([this] { loop(); });
}

void OutboxWorker::poke() {
  {
    std::lock_guard lock(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

void OutboxWorker::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::uint64_t OutboxWorker::passes() const {
  std::lock_guard lock(mu_);
  return passes_;
}

bool OutboxWorker::wait_for_pass(std::uint64_t after, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return passes_ > after; });
}

void OutboxWorker::loop() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (stopping_) return;
      poked_ = false;
    }
    run_once();
    {
      std::unique_lock lock(mu_);
      ++passes_;
      cv_.notify_all();
      if (stopping_) return;
      cv_.wait_for(lock, options_.interval, [&] { return poked_ || stopping_; });
      if (stopping_) return;
    }
  }
}

std::size_t OutboxWorker::run_once() {
  if (!options_.smtp_configured) return 0;
  std::size_t tried = 0;
  for (;;) {
    const std::int64_t now = clock_.now();
    auto claimed = outbox_.claim(now, now + options_.lease_seconds, options_.batch);
    if (!claimed) {
      log::warning("notify.outbox_unavailable", {{"error", claimed.error().message}});
      return tried;
    }
    if (claimed->empty()) return tried;
    for (const auto& message : *claimed) {
      {
        std::lock_guard lock(mu_);
        if (stopping_) return tried;  // the rest keep their lease and come back when it ends
      }
      deliver(message);
      ++tried;
    }
    if (static_cast<std::int64_t>(claimed->size()) < options_.batch) return tried;
  }
}

void OutboxWorker::deliver(const store::OutboxMessage& message) {
  const std::string id = std::to_string(message.id);
  // The store counts an attempt when it hands the message out: this one is included.
  const std::string attempts = std::to_string(message.attempts);
  auto mail = render(message);
  if (!mail) {
    const std::string error = mail.error().code + ": " + mail.error().message;
    log::error("notify.unrenderable",
               {{"id", id}, {"kind", message.kind}, {"attempt", attempts}, {"error", error}});
    if (auto st = outbox_.failed(message.id, error, clock_.now() + options_.unrenderable_delay); !st)
      log::error("notify.outbox_write_failed", {{"id", id}, {"error", st.error().message}});
    if (on_failed) on_failed(message, error);
    return;
  }
  auto sent = mailer_.send(*mail);
  const std::int64_t now = clock_.now();
  if (sent) {
    log::info("notify.sent", {{"id", id}, {"kind", message.kind}, {"to", message.recipient}, {"attempt", attempts}});
    // When this write fails the message is sent again once the lease ends (at least once).
    if (auto st = outbox_.sent(message.id, now); !st)
      log::error("notify.outbox_write_failed", {{"id", id}, {"error", st.error().message}});
    if (on_sent) on_sent(message);
    return;
  }
  const std::string error = sent.error().message;
  const std::int64_t delay = std::min(options_.max_retry_delay, retry_delay(message.attempts));
  log::warning("notify.send_failed", {{"id", id},
                                      {"kind", message.kind},
                                      {"to", message.recipient},
                                      {"attempt", attempts},
                                      {"retry_in", std::to_string(delay)},
                                      {"error", error}});
  if (auto st = outbox_.failed(message.id, error, now + delay); !st)
    log::error("notify.outbox_write_failed", {{"id", id}, {"error", st.error().message}});
  if (on_failed) on_failed(message, error);
}

}  // namespace gatehouse::notify
