#include "daemon/upstream_pool.h"

#include <sys/socket.h>

namespace gatehouse::daemon {
namespace {

// An idle keep-alive connection must have nothing to read: EOF means the upstream
// closed it, and stray bytes mean it is out of step. Either way it is not reusable.
bool looks_reusable(tcp::socket& s) {
  char byte;
  ssize_t n = ::recv(s.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

UpstreamPool::UpstreamPool(std::chrono::seconds connect_timeout, std::size_t max_idle_per_upstream,
                           std::chrono::seconds max_idle_age)
    : connect_timeout_(connect_timeout), max_idle_(max_idle_per_upstream), max_idle_age_(max_idle_age) {}

std::string UpstreamPool::key(const config::Url& u) { return u.host + ':' + std::to_string(u.port); }

std::optional<tcp::socket> UpstreamPool::take_idle(const config::Url& upstream) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  auto it = idle_.find(key(upstream));
  if (it == idle_.end()) return std::nullopt;
  auto& list = it->second;
  while (!list.empty()) {
    Idle idle = std::move(list.back());
    list.pop_back();
    if (now - idle.since < max_idle_age_ && looks_reusable(idle.socket)) return std::move(idle.socket);
    error_code ignored;
    idle.socket.close(ignored);
  }
  return std::nullopt;
}

asio::awaitable<std::optional<tcp::socket>> UpstreamPool::connect(const config::Url& upstream,
                                                                 error_code& ec) {
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  auto endpoints = co_await resolver.async_resolve(upstream.host, std::to_string(upstream.port),
                                                   tcp::resolver::numeric_service, awaitable_ec(ec));
  if (ec) co_return std::nullopt;
  beast::tcp_stream stream(ex);
  stream.expires_after(connect_timeout_);
  co_await stream.async_connect(endpoints, awaitable_ec(ec));
  if (ec) co_return std::nullopt;
  stream.expires_never();
  tcp::socket socket = stream.release_socket();
  socket.set_option(tcp::no_delay(true), ec);
  ec = {};
  co_return std::move(socket);
}

void UpstreamPool::give_back(const config::Url& upstream, tcp::socket socket) {
  std::lock_guard lock(mu_);
  auto& list = idle_[key(upstream)];
  if (list.size() >= max_idle_) {
    error_code ignored;
    socket.close(ignored);
    return;
  }
  list.push_back(Idle{std::move(socket), std::chrono::steady_clock::now()});
}

std::size_t UpstreamPool::idle_count() {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (auto& [k, v] : idle_) n += v.size();
  return n;
}

}  // namespace gatehouse::daemon
