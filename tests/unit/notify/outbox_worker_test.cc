// OutboxWorker against an in-memory outbox and a scripted mailer, on a FakeClock.
#include "notify/outbox_worker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"

namespace gatehouse::notify {
namespace {

// The store's claim semantics, in memory: pending, due, and not leased at `now`.
class MemOutbox : public Outbox {
 public:
  std::int64_t add(store::OutboxMessage m) {
    std::lock_guard lock(mu_);
    m.id = ++next_id_;
    rows_[m.id] = Row{m, 0};
    return m.id;
  }
  Result<std::vector<store::OutboxMessage>> claim(std::int64_t now, std::int64_t lease_until,
                                                  std::int64_t limit) override {
    std::lock_guard lock(mu_);
    ++claims_;
    if (fail_claims_) return make_error("store.io", "disk on fire");
    std::vector<store::OutboxMessage> out;
    for (auto& [id, row] : rows_) {
      if (static_cast<std::int64_t>(out.size()) >= limit) break;
      if (row.msg.sent_at != 0 || row.msg.next_attempt_at > now || row.lease_until > now) continue;
      row.lease_until = lease_until;
      row.msg.attempts += 1;  // as the store counts: the attempt about to be made included
      out.push_back(row.msg);
    }
    return out;
  }
  Status sent(std::int64_t id, std::int64_t at) override {
    std::lock_guard lock(mu_);
    rows_.at(id).msg.sent_at = at;
    rows_.at(id).lease_until = 0;
    return Ok{};
  }
  Status failed(std::int64_t id, const std::string& error, std::int64_t next_attempt_at) override {
    std::lock_guard lock(mu_);
    auto& row = rows_.at(id);
    row.msg.last_error = error;
    row.msg.next_attempt_at = next_attempt_at;
    row.lease_until = 0;
    return Ok{};
  }
  store::OutboxMessage get(std::int64_t id) {
    std::lock_guard lock(mu_);
    return rows_.at(id).msg;
  }
  std::int64_t lease(std::int64_t id) {
    std::lock_guard lock(mu_);
    return rows_.at(id).lease_until;
  }
  int claims() {
    std::lock_guard lock(mu_);
    return claims_;
  }
  void set_fail_claims(bool v) {
    std::lock_guard lock(mu_);
    fail_claims_ = v;
  }

 private:
  struct Row {
    store::OutboxMessage msg;
    std::int64_t lease_until = 0;
  };
  std::mutex mu_;
  std::map<std::int64_t, Row> rows_;
  std::int64_t next_id_ = 0;
  int claims_ = 0;
  bool fail_claims_ = false;
};

// Fails the first `failures` sends (all when negative), records every mail; can hold a
// send until released.
class ScriptedMailer : public Mailer {
 public:
  explicit ScriptedMailer(int failures = 0) : failures_(failures) {}
  Status send(const Mail& mail) override {
    std::unique_lock lock(mu_);
    mails_.push_back(mail);
    entered_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !hold_; });
    if (failures_ != 0) {
      if (failures_ > 0) --failures_;
      return make_error("notify.smtp", "smtp: Weird server reply (SMTP response 451)");
    }
    return Ok{};
  }
  std::vector<Mail> mails() {
    std::lock_guard lock(mu_);
    return mails_;
  }
  void hold() {
    std::lock_guard lock(mu_);
    hold_ = true;
  }
  void release() {
    {
      std::lock_guard lock(mu_);
      hold_ = false;
    }
    cv_.notify_all();
  }
  bool wait_entered(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return entered_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Mail> mails_;
  int failures_;
  bool hold_ = false;
  bool entered_ = false;
};

store::OutboxMessage worker_message(FakeClock& clock, const std::string& display_name = "Alice Example") {
  store::OutboxMessage m;
  m.created_at = clock.now();
  m.next_attempt_at = clock.now();
  m.recipient = "superuser@globex.example";
  m.kind = "party.switched";
  m.language = "en";
  m.payload = nlohmann::json{{"direction", "in"},
                             {"automatic", false},
                             {"user", "corp:alice"},
                             {"display_name", display_name},
                             {"email", "alice@acme.example"},
                             {"real_party", "acme"},
                             {"real_party_name", "Acme"},
                             {"tenant", "globex"},
                             {"tenant_name", "Globex"},
                             {"delegation_id", 3},
                             {"at", clock.now()},
                             {"reason", ""}}
                  .dump();
  return m;
}

// Captures log lines while alive.
class WorkerLogCapture {
 public:
  WorkerLogCapture() {
    log::set_sink([this](std::string_view line) {
      std::lock_guard lock(mu_);
      text_ += line;
    });
  }
  ~WorkerLogCapture() { log::set_sink({}); }
  std::string text() {
    std::lock_guard lock(mu_);
    return text_;
  }

 private:
  std::mutex mu_;
  std::string text_;
};

TEST(NotifyRetryDelay, DoublesUpToAMinute) {
  const std::vector<std::int64_t> expected = {2, 4, 8, 16, 32, 60, 60, 60};
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(retry_delay(static_cast<std::int64_t>(i) + 1), expected[i]);
  EXPECT_EQ(retry_delay(0), 2);
  EXPECT_EQ(retry_delay(-5), 2);
  EXPECT_EQ(retry_delay(63), 60);
  EXPECT_EQ(retry_delay(64), 60);
  EXPECT_EQ(retry_delay(INT64_MAX), 60);
}

TEST(NotifyOutboxWorker, SendsDueMessagesAndMarksThemSent) {
  FakeClock clock;
  MemOutbox outbox;
  ScriptedMailer mailer;
  const auto due = outbox.add(worker_message(clock));
  auto later = worker_message(clock);
  later.next_attempt_at = clock.now() + 30;
  const auto not_due = outbox.add(later);
  OutboxWorker worker(outbox, mailer, clock);
  std::vector<std::int64_t> sent_ids;
  worker.on_sent = [&](const store::OutboxMessage& m) { sent_ids.push_back(m.id); };
  worker.on_failed = [&](const store::OutboxMessage&, const std::string& e) { ADD_FAILURE() << e; };
  EXPECT_EQ(worker.run_once(), 1u);
  EXPECT_EQ(outbox.get(due).sent_at, clock.now());
  EXPECT_EQ(outbox.get(not_due).sent_at, 0);
  ASSERT_EQ(mailer.mails().size(), 1u);
  EXPECT_EQ(mailer.mails()[0].to, "superuser@globex.example");
  EXPECT_NE(mailer.mails()[0].text.find("Alice Example"), std::string::npos);
  EXPECT_EQ(sent_ids, std::vector<std::int64_t>{due});
  EXPECT_EQ(worker.run_once(), 0u);  // sent once
  clock.advance(30);
  EXPECT_EQ(worker.run_once(), 1u);
  EXPECT_EQ(worker.run_once(), 0u);
  EXPECT_EQ(mailer.mails().size(), 2u);
}

TEST(NotifyOutboxWorker, BacksOffExponentiallyToAtMostAMinute) {
  FakeClock clock;
  MemOutbox outbox;
  ScriptedMailer mailer(8);  // 8 failures, then success
  const auto id = outbox.add(worker_message(clock));
  OutboxWorker worker(outbox, mailer, clock);
  std::vector<std::string> errors;
  worker.on_failed = [&](const store::OutboxMessage&, const std::string& e) { errors.push_back(e); };
  int sent = 0;
  worker.on_sent = [&](const store::OutboxMessage&) { ++sent; };
  const std::vector<std::int64_t> delays = {2, 4, 8, 16, 32, 60, 60, 60};
  for (std::size_t i = 0; i < delays.size(); ++i) {
    ASSERT_EQ(worker.run_once(), 1u) << "attempt " << i + 1;
    const auto m = outbox.get(id);
    EXPECT_EQ(m.attempts, static_cast<std::int64_t>(i) + 1);
    EXPECT_EQ(m.next_attempt_at - clock.now(), delays[i]) << "after attempt " << i + 1;
    EXPECT_LE(m.next_attempt_at - clock.now(), 60);
    EXPECT_NE(m.last_error.find("451"), std::string::npos);
    clock.advance(delays[i] - 1);
    EXPECT_EQ(worker.run_once(), 0u) << "tried before its time";
    clock.advance(1);
  }
  EXPECT_EQ(worker.run_once(), 1u);
  EXPECT_NE(outbox.get(id).sent_at, 0);
  EXPECT_EQ(errors.size(), 8u);
  EXPECT_EQ(sent, 1);
  EXPECT_EQ(mailer.mails().size(), 9u);
}

TEST(NotifyOutboxWorker, UnrenderableMessagesWaitLongAndAreLoggedAsErrors) {
  WorkerLogCapture logs;
  FakeClock clock;
  MemOutbox outbox;
  ScriptedMailer mailer;
  auto broken = worker_message(clock);
  broken.payload = "{not json";
  const auto bad_payload = outbox.add(broken);
  auto unknown = worker_message(clock);
  unknown.kind = "party.exploded";
  const auto bad_kind = outbox.add(unknown);
  auto injected = worker_message(clock);
  injected.recipient = "x@y.example\r\nBcc: z@y.example";
  const auto bad_address = outbox.add(injected);
  OutboxWorker worker(outbox, mailer, clock);
  std::map<std::int64_t, std::string> failed;
  worker.on_failed = [&](const store::OutboxMessage& m, const std::string& e) { failed[m.id] = e; };
  EXPECT_EQ(worker.run_once(), 3u);
  EXPECT_TRUE(mailer.mails().empty());
  EXPECT_NE(failed[bad_payload].find("notify.bad_payload"), std::string::npos);
  EXPECT_NE(failed[bad_kind].find("notify.unknown_kind"), std::string::npos);
  EXPECT_NE(failed[bad_address].find("notify.bad_address"), std::string::npos);
  for (auto id : {bad_payload, bad_kind, bad_address}) {
    EXPECT_EQ(outbox.get(id).next_attempt_at, clock.now() + 86400);
    EXPECT_EQ(outbox.get(id).sent_at, 0);
  }
  EXPECT_NE(logs.text().find("level=error event=notify.unrenderable"), std::string::npos) << logs.text();
  clock.advance(3600);
  EXPECT_EQ(worker.run_once(), 0u);
}

TEST(NotifyOutboxWorker, LogsNeverCarryTheBody) {
  WorkerLogCapture logs;
  FakeClock clock;
  MemOutbox outbox;
  ScriptedMailer mailer(1);
  outbox.add(worker_message(clock, "Zyxwvut Quasimodo"));
  OutboxWorker worker(outbox, mailer, clock);
  EXPECT_EQ(worker.run_once(), 1u);  // fails
  clock.advance(2);
  EXPECT_EQ(worker.run_once(), 1u);  // sent
  const std::string text = logs.text();
  EXPECT_NE(text.find("notify.send_failed"), std::string::npos) << text;
  EXPECT_NE(text.find("notify.sent"), std::string::npos) << text;
  EXPECT_EQ(text.find("Zyxwvut"), std::string::npos) << text;
}

TEST(NotifyOutboxWorker, PokeWakesTheThreadAtOnce) {
  FakeClock clock;
  MemOutbox outbox;
  ScriptedMailer mailer;
  OutboxWorkerOptions options;
  options.interval = std::chrono::hours(1);  // only poke() can wake it
  OutboxWorker worker(outbox, mailer, clock, options);
  std::promise<std::int64_t> sent;
  worker.on_sent = [&](const store::OutboxMessage& m) { sent.set_value(m.id); };
  worker.start();
  ASSERT_TRUE(worker.wait_for_pass(0, std::chrono::seconds(5)));  // the first, empty pass
  const auto id = outbox.add(worker_message(clock));
  worker.poke();
  auto future = sent.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(future.get(), id);
  worker.stop();
  EXPECT_NE(outbox.get(id).sent_at, 0);
}

TEST(NotifyOutboxWorker, StopFinishesTheMessageInHandAndJoins) {
  FakeClock clock;
  MemOutbox outbox;
  ScriptedMailer mailer;
  mailer.hold();
  const auto first = outbox.add(worker_message(clock));
  const auto second = outbox.add(worker_message(clock));
  OutboxWorker worker(outbox, mailer, clock);
  worker.start();
  ASSERT_TRUE(mailer.wait_entered(std::chrono::seconds(5)));
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    worker.stop();
    stopped = true;
  });
  // stop() waits for the send in hand.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(stopped.load());
  mailer.release();
  stopper.join();
  EXPECT_TRUE(stopped.load());
  EXPECT_NE(outbox.get(first).sent_at, 0);        // finished and recorded
  EXPECT_EQ(outbox.get(second).sent_at, 0);       // not tried after stop()
  EXPECT_EQ(outbox.lease(second), clock.now() + 300);  // still leased: due again when it ends
  EXPECT_EQ(mailer.mails().size(), 1u);
  worker.stop();  // again: nothing
}

TEST(NotifyOutboxWorker, DestructorStopsTheThread) {
  FakeClock clock;
  MemOutbox outbox;
  ScriptedMailer mailer;
  {
    OutboxWorker worker(outbox, mailer, clock);
    worker.start();
    worker.start();  // once
    ASSERT_TRUE(worker.wait_for_pass(0, std::chrono::seconds(5)));
  }
  SUCCEED();
}

TEST(NotifyOutboxWorker, WithoutSmtpUrlMessagesStayPending) {
  WorkerLogCapture logs;
  FakeClock clock;
  MemOutbox outbox;
  ScriptedMailer mailer;
  const auto id = outbox.add(worker_message(clock));
  OutboxWorkerOptions options;
  options.smtp_configured = false;
  OutboxWorker worker(outbox, mailer, clock, options);
  worker.start();
  worker.poke();
  EXPECT_EQ(worker.run_once(), 0u);
  worker.stop();
  EXPECT_EQ(outbox.claims(), 0);
  EXPECT_EQ(outbox.get(id).sent_at, 0);
  EXPECT_EQ(outbox.get(id).attempts, 0);
  const std::string text = logs.text();
  EXPECT_NE(text.find("notifications queued but [smtp] url not set"), std::string::npos) << text;
}

TEST(NotifyOutboxWorker, StoreTroubleIsLoggedNotFatal) {
  WorkerLogCapture logs;
  FakeClock clock;
  MemOutbox outbox;
  ScriptedMailer mailer;
  const auto id = outbox.add(worker_message(clock));
  outbox.set_fail_claims(true);
  OutboxWorker worker(outbox, mailer, clock);
  EXPECT_EQ(worker.run_once(), 0u);
  EXPECT_NE(logs.text().find("notify.outbox_unavailable"), std::string::npos);
  outbox.set_fail_claims(false);
  EXPECT_EQ(worker.run_once(), 1u);
  EXPECT_NE(outbox.get(id).sent_at, 0);
}

TEST(NotifyOutboxWorker, ClaimsInBatchesUntilNothingIsDue) {
  FakeClock clock;
  MemOutbox outbox;
  ScriptedMailer mailer;
  for (int i = 0; i < 45; ++i) outbox.add(worker_message(clock));
  OutboxWorkerOptions options;
  options.batch = 10;
  OutboxWorker worker(outbox, mailer, clock, options);
  EXPECT_EQ(worker.run_once(), 45u);
  EXPECT_EQ(mailer.mails().size(), 45u);
  EXPECT_EQ(outbox.claims(), 5);
}

}  // namespace
}  // namespace gatehouse::notify
