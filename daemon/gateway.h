#pragma once
// The request path: hygiene, gatehouse's own endpoints, access decisions and the proxy.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "auth/assertion_issuer.h"
#include "auth/csrf.h"
#include "auth/login.h"
#include "auth/oidc_login.h"
#include "auth/session_manager.h"
#include "config/config.h"
#include "daemon/asio.h"
#include "daemon/metrics.h"
#include "daemon/pages.h"
#include "daemon/router.h"
#include "daemon/upstream_pool.h"

namespace gatehouse::daemon {

// A component that is not ready, for /.gatehouse/readyz.
struct NotReady {
  std::string component;  // "store", "directory:corp"
  std::string message;
};

struct GatewayContext {
  std::shared_ptr<const config::Config> config;
  auth::SessionManager& sessions;
  auth::LoginService& login;
  auth::OidcLogin& oidc;
  auth::AssertionIssuer& assertions;
  const auth::AssertionSigner& signer;
  const auth::CsrfGuard& csrf;
  asio::thread_pool& blocking;
  auth::AuditSink& audit;
  // Store writable, directories reachable; may block (runs on `blocking`).
  std::function<std::vector<NotReady>()> readiness;
  Metrics& metrics;  // built from `config`
};

class Gateway {
 public:
  explicit Gateway(GatewayContext ctx);
  // Serves one client connection; `upstreams` is the pool of the worker it runs on.
  asio::awaitable<void> serve(tcp::socket socket, UpstreamPool& upstreams);
  std::size_t active_requests() const { return active_.load(); }
  // After this, connections close after their current request.
  void begin_shutdown() { shutting_down_ = true; }

  struct Connection;
  using Parser = http::request_parser<http::buffer_body>;

 private:
  asio::awaitable<bool> handle(Connection& c, Parser& parser);
  asio::awaitable<bool> handle_internal(Connection& c, Parser& parser, const std::string& path,
                                        const std::string& query);
  asio::awaitable<bool> handle_login_form(Connection& c, Parser& parser, const std::string& query);
  asio::awaitable<bool> handle_login_post(Connection& c, Parser& parser);
  asio::awaitable<bool> handle_logout(Connection& c, Parser& parser);
  asio::awaitable<bool> handle_metrics(Connection& c, Parser& parser);
  asio::awaitable<bool> handle_oidc(Connection& c, Parser& parser, std::string_view rest, const std::string& query);
  // A request to a protected route with "Authorization: Bearer": the token's identity,
  // or nullptr after an error response was sent (`responded` says whether it was).
  asio::awaitable<auth::SessionPtr> bearer_session(Connection& c, Parser& parser, std::string_view header,
                                                   bool& keep_alive, bool& responded);
  asio::awaitable<bool> proxy(Connection& c, Parser& parser, const config::RouteConfig& route,
                              const std::string& upstream_target, const store::SessionRecord* session);
  asio::awaitable<bool> respond(Connection& c, Parser& parser, http::response<http::string_body>& res);
  asio::awaitable<bool> respond_error(Connection& c, Parser& parser, http::status status,
                                      std::string_view title, std::string_view message);

  LoginPageModel login_model() const;

  GatewayContext ctx_;
  Router router_;
  std::string csrf_cookie_;
  bool secure_cookies_;
  std::atomic<std::size_t> active_{0};
  std::atomic<bool> shutting_down_{false};
};

}  // namespace gatehouse::daemon
