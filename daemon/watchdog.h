#pragma once
// systemd's service watchdog (WatchdogSec= in the unit): while gatehouse runs, a thread
// sends WATCHDOG=1 every half interval — but only when every event loop has just run a
// posted no-op in time, so a stuck worker (a deadlock, a blocking call in a loop) stops
// the pings and systemd restarts the service.
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "daemon/asio.h"

namespace gatehouse::daemon {

class Watchdog {
 public:
  // Starts only when systemd asked for a watchdog ($WATCHDOG_USEC, for this process).
  explicit Watchdog(std::vector<asio::io_context*> loops);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  bool enabled() const { return thread_.joinable(); }
  // Ends the pings at once (at shutdown, so systemd is not told the loops are alive
  // while they drain); idempotent, may be called from an event loop.
  void stop();

 private:
  struct State;  // shared with the no-ops posted to the loops, which may outlive this
  void run(std::chrono::microseconds interval);

  std::vector<asio::io_context*> loops_;
  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace gatehouse::daemon
