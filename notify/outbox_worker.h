#pragma once
// Delivers the outbox in the background. A party switch only writes its messages into
// the store's outbox (in the switch's transaction); this worker, on a thread of its
// own, claims what is due, renders it, sends it and records the outcome. An SMTP server
// that is down delays messages, it never loses them: a failed delivery is tried again
// after min(60 s, 2^attempts s). Several processes sharing one store each run a worker;
// the store's claim lease makes each message go to one of them.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "notify/mail.h"
#include "store/tenancy_store.h"

namespace gatehouse::notify {

// What the worker needs of the store's outbox.
class Outbox {
 public:
  virtual ~Outbox() = default;
  // Up to `limit` messages due at `now`, leased to this caller until `lease_until`, each
  // with this attempt counted in `attempts`.
  virtual Result<std::vector<store::OutboxMessage>> claim(std::int64_t now, std::int64_t lease_until,
                                                          std::int64_t limit) = 0;
  virtual Status sent(std::int64_t id, std::int64_t at) = 0;
  // Keeps the error and makes the message due again at next_attempt_at.
  virtual Status failed(std::int64_t id, const std::string& error, std::int64_t next_attempt_at) = 0;
};

// The store's outbox (store::TenancyStore's claim_outbox, outbox_sent, outbox_failed).
class StoreOutbox final : public Outbox {
 public:
  explicit StoreOutbox(store::TenancyStore& store) : store_(store) {}
  Result<std::vector<store::OutboxMessage>> claim(std::int64_t now, std::int64_t lease_until,
                                                  std::int64_t limit) override {
    return store_.claim_outbox(now, lease_until, limit);
  }
  Status sent(std::int64_t id, std::int64_t at) override { return store_.outbox_sent(id, at); }
  Status failed(std::int64_t id, const std::string& error, std::int64_t next_attempt_at) override {
    return store_.outbox_failed(id, error, next_attempt_at);
  }

 private:
  store::TenancyStore& store_;
};

// Seconds until the next try after a failed delivery: min(60, 2^attempts), where
// `attempts` counts the deliveries tried including this one (the store counts each
// when claim_outbox hands the message out): 2, 4, 8, 16, 32, 60, 60, ...
std::int64_t retry_delay(std::int64_t attempts);

struct OutboxWorkerOptions {
  // false ([smtp] url not set): nothing is claimed or sent, messages stay pending; the
  // worker logs that once when it starts.
  bool smtp_configured = true;
  std::int64_t lease_seconds = 300;      // a claim; longer than one delivery can take
  std::int64_t batch = 20;               // messages claimed at a time
  std::int64_t max_retry_delay = 60;     // cap of retry_delay
  std::int64_t unrenderable_delay = 86400;  // a message that cannot be rendered waits a day
  std::chrono::milliseconds interval{1000};  // between looks at the outbox when idle
};

class OutboxWorker {
 public:
  // `outbox`, `mailer` and `clock` must outlive the worker. The thread starts in start().
  OutboxWorker(Outbox& outbox, Mailer& mailer, const Clock& clock, OutboxWorkerOptions options = {});
  ~OutboxWorker();  // stop()
  OutboxWorker(const OutboxWorker&) = delete;
  OutboxWorker& operator=(const OutboxWorker&) = delete;

  // Called on the worker's thread after each delivery (set them before start()): the
  // message as claimed, and for a failure the error text (curl's message and the SMTP
  // response code, or the render error), never the message's body.
  std::function<void(const store::OutboxMessage&)> on_sent;
  std::function<void(const store::OutboxMessage&, const std::string& error)> on_failed;

  // Starts the thread (once; later calls do nothing).
  void start();
  // Look at the outbox now instead of at the next tick (a switch just wrote messages).
  // Never blocks on delivery.
  void poke();
  // Lets the message in hand finish (sent or failed is recorded), then joins. Messages
  // still claimed but not tried keep their lease and are due again when it ends.
  void stop();

  // One pass on the calling thread: claims what is due and delivers it, until nothing
  // is due or stop() was called. Returns the number of messages tried. For tests and
  // for the thread itself; do not call it while the thread runs.
  std::size_t run_once();

  // Passes the thread has completed (each wake-up is one pass), for tests that poke()
  // and then wait for the pass to be over.
  std::uint64_t passes() const;
  // Waits until passes() > `after` or timeout; true when it got there.
  bool wait_for_pass(std::uint64_t after, std::chrono::milliseconds timeout) const;

 private:
  void loop();
  void deliver(const store::OutboxMessage& message);

  Outbox& outbox_;
  Mailer& mailer_;
  const Clock& clock_;
  OutboxWorkerOptions options_;
  std::thread thread_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool poked_ = false;
  bool stopping_ = false;
  bool started_ = false;
  std::uint64_t passes_ = 0;
};

}  // namespace gatehouse::notify
