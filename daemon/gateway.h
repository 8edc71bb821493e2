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
#include "daemon/banner_injector.h"
#include "daemon/form.h"
#include "daemon/metrics.h"
#include "daemon/pages.h"
#include "daemon/router.h"
#include "daemon/runtime.h"
#include "daemon/upstream_pool.h"

namespace gatehouse::daemon {

// What stays when the configuration is reloaded.
struct GatewayContext {
  const auth::AssertionSigner& signer;
  const auth::CsrfGuard& csrf;
  asio::thread_pool& blocking;
};

class Gateway {
 public:
  Gateway(GatewayContext ctx, std::shared_ptr<const Runtime> runtime);
  // The configuration in use: what a request starting now gets.
  std::shared_ptr<const Runtime> runtime() const { return runtime_.load(); }
  // Swaps in a new configuration for the requests that start from now on; those in
  // flight finish with the one they started with. Returns the previous one.
  std::shared_ptr<const Runtime> install(std::shared_ptr<const Runtime> runtime) {
    return runtime_.exchange(std::move(runtime));
  }
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
  // A small application/x-www-form-urlencoded body (16 KiB at most). nullopt: an error
  // was answered, or the client is gone; keep_alive then says whether to go on.
  asio::awaitable<std::optional<Secret>> read_form(Connection& c, Parser& parser, bool& keep_alive);
  // gatehouse's own pages for signed-in users: the switcher, delegations, the stylesheet.
  asio::awaitable<bool> handle_tenancy(Connection& c, Parser& parser, const std::string& path,
                                       const std::string& query);
  asio::awaitable<bool> handle_parties(Connection& c, Parser& parser, const auth::Principal& p,
                                       const std::string& query);
  asio::awaitable<bool> handle_switch(Connection& c, Parser& parser, const auth::Principal& p);
  asio::awaitable<bool> handle_delegations(Connection& c, Parser& parser, const auth::Principal& p,
                                           std::string error, std::string notice, http::status status);
  asio::awaitable<bool> handle_grant(Connection& c, Parser& parser, const auth::Principal& p);
  asio::awaitable<bool> handle_revoke(Connection& c, Parser& parser, const auth::Principal& p, std::string_view id);
  // The tenant vault's page for a tenant's superusers (gateway_secrets.cc).
  asio::awaitable<bool> handle_secrets(Connection& c, Parser& parser, const std::string& path,
                                       const std::string& query);
  asio::awaitable<bool> secrets_page_answer(Connection& c, Parser& parser, const auth::Principal& p,
                                            std::string error, std::string notice, http::status status);
  asio::awaitable<bool> handle_secret_change(Connection& c, Parser& parser, const auth::Principal& p,
                                             const std::string& path);
  // 403 for a route's inject_secret the effective party has no value for.
  asio::awaitable<bool> respond_secret_missing(Connection& c, Parser& parser, const std::string& tenant,
                                               const std::string& secret);
  // A form of a signed-in user's page: read, and its CSRF token checked (403 otherwise).
  asio::awaitable<std::optional<FormFields>> read_checked_form(Connection& c, Parser& parser,
                                                               const auth::Principal& p, bool& keep_alive);
  // The CSRF token for a page's forms, issuing a binding cookie on `res` when needed.
  std::string page_csrf_token(Connection& c, const http::request<http::buffer_body>& req,
                              http::response<http::string_body>& res);
  // The principal behind the session cookie, or nullopt (then an answer was sent: the
  // sign-in page, 401 or 503).
  asio::awaitable<std::optional<auth::Principal>> page_principal(Connection& c, Parser& parser, bool& keep_alive);
  // The delegation bar (and a one-time notice) for a page, empty when neither is due.
  static std::string page_banner(const auth::Principal& p, std::string_view rd);
  // The principal's one-time notice was put on a page: cleared for every device.
  asio::awaitable<void> notice_shown(Connection& c, const auth::Principal& p);
  asio::awaitable<bool> handle_logout(Connection& c, Parser& parser);
  asio::awaitable<bool> handle_metrics(Connection& c, Parser& parser);
  asio::awaitable<bool> handle_oidc(Connection& c, Parser& parser, std::string_view rest, const std::string& query);
  // SessionManager::resolve, answered from memory on the event loop when it can, else on
  // the blocking pool: a busy or locked store delays this request, not the event loop.
  asio::awaitable<Result<auth::SessionPtr>> resolve_session(Connection& c, std::string_view cookie);
  // A request to a protected route with "Authorization: Bearer": the token's identity,
  // or nullptr after an error response was sent (`responded` says whether it was).
  asio::awaitable<auth::SessionPtr> bearer_session(Connection& c, Parser& parser, std::string_view header,
                                                   bool& keep_alive, bool& responded);
  // The request's principal, from its session or bearer token (PrincipalResolver: from
  // memory when it can, else on the blocking pool).
  asio::awaitable<Result<auth::Principal>> principal_of(Connection& c, const store::SessionRecord& identity,
                                                        bool bearer);
  asio::awaitable<bool> proxy(Connection& c, Parser& parser, const config::RouteConfig& route,
                              const std::string& upstream_target, const auth::Principal* principal);
  static asio::awaitable<bool> write_pieces(Connection& c, http::response_serializer<http::buffer_body>& sr,
                                            http::response<http::buffer_body>& res,
                                            const BannerInjector::Pieces& pieces, bool last,
                                            std::chrono::seconds timeout);
  static void set_status(Connection& c, int status);
  asio::awaitable<bool> respond(Connection& c, Parser& parser, http::response<http::string_body>& res);
  asio::awaitable<bool> respond_error(Connection& c, Parser& parser, http::status status,
                                      std::string_view title, std::string_view message);

  static LoginPageModel login_model(const Runtime& rt);
  static void access_log(const Connection& c, const http::request<http::buffer_body>& req,
                         std::chrono::steady_clock::time_point started);

  GatewayContext ctx_;
  std::atomic<std::shared_ptr<const Runtime>> runtime_;
  std::atomic<std::size_t> active_{0};
  std::atomic<bool> shutting_down_{false};
};

}  // namespace gatehouse::daemon
