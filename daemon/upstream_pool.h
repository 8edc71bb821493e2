#pragma once
// Keep-alive connections to upstreams, reused across requests and client connections.
// One pool per worker thread: its sockets belong to that worker's io_context.
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "daemon/asio.h"

namespace gatehouse::daemon {

class UpstreamPool {
 public:
  UpstreamPool(std::chrono::seconds connect_timeout, std::size_t max_idle_per_upstream = 256,
               std::chrono::seconds max_idle_age = std::chrono::seconds(30));

  // An idle connection that still looks open, if any.
  std::optional<tcp::socket> take_idle(const config::Url& upstream);
  // A new connection on the calling coroutine's executor; error_code set on failure (timeout -> beast::error::timeout).
  asio::awaitable<std::optional<tcp::socket>> connect(const config::Url& upstream, error_code& ec);
  void give_back(const config::Url& upstream, tcp::socket socket);
  std::size_t idle_count();

 private:
  struct Idle {
    tcp::socket socket;
    std::chrono::steady_clock::time_point since;
  };
  static std::string key(const config::Url& u);
  std::chrono::seconds connect_timeout_;
  std::size_t max_idle_;
  std::chrono::seconds max_idle_age_;
  std::mutex mu_;
  std::unordered_map<std::string, std::vector<Idle>> idle_;
};

}  // namespace gatehouse::daemon
