#pragma once
// The demo's built-in application: shows, as a readable page, the identity headers and
// the decoded assertion it received from gatehouse.
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "daemon/asio.h"

namespace gatehouse::daemon {

class EchoApp {
 public:
  // Binds 127.0.0.1 on a free port and serves on its own thread.
  EchoApp();
  ~EchoApp();
  std::uint16_t port() const { return port_; }

 private:
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

// The page for one request (exposed for tests).
std::string echo_page(const http::request<http::string_body>& req, bool html);

}  // namespace gatehouse::daemon
