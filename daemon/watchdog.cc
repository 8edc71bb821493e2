#include "daemon/watchdog.h"

#include <systemd/sd-daemon.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "common/log.h"

namespace gatehouse::daemon {

struct Watchdog::State {
  std::mutex mu;
  std::condition_variable wake;
  bool stopping = false;
  std::uint64_t round = 0;    // which round of no-ops is being answered
  std::size_t pending = 0;    // loops that have not answered this round
};

Watchdog::Watchdog(std::vector<asio::io_context*> loops)
    : loops_(std::move(loops)), state_(std::make_shared<State>()) {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
  const auto interval = std::chrono::microseconds(usec / 2);
  log::info("watchdog.enabled", {{"interval_ms", std::to_string(interval.count() / 1000)}});
  thread_ = std::thread([this, interval] { run(interval); });
}

Watchdog::~Watchdog() {
  stop();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::stop() {
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
  }
  state_->wake.notify_all();
  // Not joined here: stop() may run on an event loop the thread is waiting for; the
  // thread sees `stopping` at once and the destructor joins it.
}

void Watchdog::run(std::chrono::microseconds interval) {
  State& s = *state_;
  std::unique_lock lock(s.mu);
  while (!s.stopping) {
    // A round: every loop runs a no-op within half the interval.
    const std::uint64_t round = ++s.round;
    s.pending = loops_.size();
    for (auto* io : loops_) {
      asio::post(*io, [state = state_, round] {
        std::lock_guard l(state->mu);
        if (state->round == round && state->pending > 0 && --state->pending == 0) state->wake.notify_all();
      });
    }
    const bool alive = s.wake.wait_for(lock, interval / 2, [&] { return s.stopping || s.pending == 0; });
    if (s.stopping) break;
    if (alive) {
      sd_notify(0, "WATCHDOG=1");
    } else {
      log::error("watchdog.stalled", {{"detail", "an event loop did not answer in time; systemd is not told it is alive"}});
    }
    s.wake.wait_for(lock, interval, [&] { return s.stopping; });
  }
}

}  // namespace gatehouse::daemon
