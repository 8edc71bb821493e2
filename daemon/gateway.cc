#include "daemon/gateway.h"
#include "daemon/gateway_connection.h"

#include <sodium.h>
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>

#include "auth/identity_headers.h"
#include "auth/policy.h"
#include "auth/redirect.h"
#include "common/log.h"
#include "common/text.h"
#include "daemon/body_reader.h"
#include "daemon/form.h"
#include "daemon/identity.h"
#include "daemon/forwarding.h"
#include "daemon/http_util.h"
#include "daemon/pages.h"
#include "daemon/request_head.h"

namespace gatehouse::daemon {

namespace {

// The largest form: a vault secret of 8 KiB, every byte percent-encoded, and its fields.
constexpr std::size_t kFormLimit = 32 * 1024;
constexpr std::string_view kInternalPrefix = "/.gatehouse/";
constexpr std::string_view kOidcPrefix = "/.gatehouse/oidc/";
constexpr std::string_view kGenericLoginFailure = "The user name or password is incorrect.";

// Said only when the directory confirmed the password itself was right (AD 532, 773):
// anything else gets the generic message, so a guesser learns nothing.
std::string_view login_failure_message(directory::AuthStatus outcome) {
  switch (outcome) {
    case directory::AuthStatus::password_expired:
      return "Your password has expired. Change it with your organisation's password tool, "
             "then sign in with the new password.";
    case directory::AuthStatus::must_change_password:
      return "You must change your password before you can sign in. Change it with your "
             "organisation's password tool, then sign in with the new password.";
    default:
      return kGenericLoginFailure;
  }
}

struct ActiveGuard {
  std::atomic<std::size_t>& n;
  explicit ActiveGuard(std::atomic<std::size_t>& c) : n(c) { ++n; }
  ~ActiveGuard() { --n; }
};

void count_login(const Metrics& metrics, const auth::LoginResult& r) {
  switch (r.status) {
    case auth::LoginStatus::success:
      metrics.count_login(r.directory, LoginOutcome::success);
      return;
    case auth::LoginStatus::unavailable:
      metrics.count_login(r.directory, LoginOutcome::unavailable);
      return;
    case auth::LoginStatus::throttled:
      metrics.count_login("", LoginOutcome::throttled);
      return;
    case auth::LoginStatus::failed:
      if (r.account_locked) {
        metrics.count_login("", LoginOutcome::locked);
        return;
      }
      metrics.count_login(r.directory, LoginOutcome::failure);
      if (r.locked_now) metrics.count_lockout();
      return;
  }
}

std::string upstream_target(const config::RouteConfig& route, const Target& t) {
  std::string path;
  const std::string& base = route.upstream.path;
  if (base.empty() || base == "/") {
    path = t.path;
  } else {
    // nginx semantics: an upstream with a path replaces the matched prefix.
    std::string_view rest = std::string_view(t.path);
    if (route.path_prefix != "/") rest.remove_prefix(route.path_prefix.size());
    else rest.remove_prefix(1);
    path = base;
    if (!rest.empty() && rest.front() != '/' && path.back() != '/') path += '/';
    if (!rest.empty() && rest.front() == '/' && path.back() == '/') rest.remove_prefix(1);
    path += rest;
  }
  if (!t.query.empty()) {
    path += '?';
    path += t.query;
  }
  return path;
}

}  // namespace

Gateway::Gateway(GatewayContext ctx, std::shared_ptr<const Runtime> runtime)
    : ctx_(std::move(ctx)), runtime_(std::move(runtime)) {}

asio::awaitable<void> Gateway::serve(tcp::socket socket, UpstreamPool& upstreams) {
  error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  auto remote = socket.remote_endpoint(ec);
  Connection c{beast::tcp_stream(std::move(socket)), upstreams, nullptr, beast::flat_buffer(), {}, {}, {}};
  if (!ec) {
    c.peer = remote.address().to_string();
    c.peer_ip = IpAddress::parse(c.peer);
  }
  try {
    for (;;) {
      Parser parser;
      std::chrono::seconds header_timeout, keepalive_timeout;
      {
        // The limits of the configuration in use now; the request itself takes the
        // one in use once its header is in (a keep-alive connection may idle across a
        // reload).
        const auto rt = runtime_.load();
        parser.header_limit(rt->config->server.max_header_bytes);
        parser.body_limit(rt->config->server.max_body_bytes);
        header_timeout = rt->config->server.header_timeout;
        keepalive_timeout = rt->config->server.keepalive_timeout;
      }
      // Idle until the next request's first byte (keepalive_timeout), then the whole
      // header within header_timeout: a client sending it a byte at a time (slowloris)
      // holds the connection that long, not for as long as it keeps trickling.
      if (c.buffer.size() == 0) {
        c.stream.expires_after(keepalive_timeout);
        const std::size_t n = co_await c.stream.async_read_some(c.buffer.prepare(4096), awaitable_ec(ec));
        c.buffer.commit(n);
        if (ec) break;
      }
      c.stream.expires_after(header_timeout);
      co_await http::async_read_header(c.stream, c.buffer, parser, awaitable_ec(ec));
      if (ec == http::error::end_of_stream || ec == asio::error::eof ||
          ec == asio::error::connection_reset || ec == asio::error::operation_aborted)
        break;
      if (ec == beast::error::timeout) {
        // The stream closed the socket when its timer fired: as nginx does, the 408 is
        // logged and counted, not sent.
        log::info("http.header_timeout", {{"client", c.peer}});
        const auto rt = runtime_.load();
        rt->metrics.count_request(rt->metrics.unmatched_slot(), 408);
        break;
      }
      if (ec) {
        http::status status = http::status::bad_request;
        std::string_view title = "Bad request";
        if (ec == http::error::header_limit) {
          status = http::status::request_header_fields_too_large;
          title = "Request header fields too large";
        } else if (ec == http::error::body_limit) {
          status = http::status::payload_too_large;
          title = "Request too large";
        }
        log::info("http.bad_request", {{"client", c.peer}, {"reason", ec.message()}});
        http::response<http::string_body> res{status, 11};
        set_page_headers(res);
        res.body() = error_page(static_cast<int>(status), title, "The request could not be accepted.");
        res.keep_alive(false);
        res.prepare_payload();
        // Counted before the answer leaves: a client that has it and scrapes next sees it.
        const auto rt = runtime_.load();
        rt->metrics.count_request(rt->metrics.unmatched_slot(), static_cast<int>(status));
        c.stream.expires_after(std::chrono::seconds(10));
        co_await http::async_write(c.stream, res, awaitable_ec(ec));
        break;
      }
      ActiveGuard guard(active_);
      const auto started = std::chrono::steady_clock::now();
      c.rt = runtime_.load();
      c.metrics_route = c.rt->metrics.unmatched_slot();
      c.status = 0;
      c.route = nullptr;
      c.user.clear();
      c.forward = {};
      c.close_after = false;
      bool keep = co_await handle(c, parser);
      if (c.rt->config->log.access_log) access_log(c, parser.get(), started);
      c.rt.reset();  // an idle connection holds no configuration
      if (!keep || shutting_down_) break;
    }
  } catch (const std::exception& e) {
    log::error("http.connection_error", {{"client", c.peer}, {"error", e.what()}});
  }
  c.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  c.stream.close();
}

// One line per request, after its response: never the query string (it may carry an
// authorization code or an application's tokens), never a header value.
void Gateway::access_log(const Connection& c, const http::request<http::buffer_body>& req,
                         std::chrono::steady_clock::time_point started) {
  const std::string_view target = req.target();
  const std::string_view path = target.substr(0, target.find('?'));
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();
  char duration[32];
  std::snprintf(duration, sizeof duration, "%.3f", static_cast<double>(micros) / 1000.0);
  const std::string route = c.route != nullptr ? c.route->id()
                            : c.metrics_route == c.rt->metrics.internal_slot() ? std::string("internal")
                                                                                : std::string("unmatched");
  const std::string status = c.status != 0 ? std::to_string(c.status) : std::string("-");
  log::info("http.access", {{"client", c.forward.client_address.empty() ? c.peer : c.forward.client_address},
                            {"method", req.method_string()},
                            {"path", path},
                            {"route", route},
                            {"user", c.user},
                            {"status", status},
                            {"duration_ms", duration}});
}

// Records the status of the response about to be sent and counts it before a byte of it
// leaves, so that a client which has its answer and scrapes next finds it counted.
void Gateway::set_status(Connection& c, int status) {
  c.status = status;
  c.rt->metrics.count_request(c.metrics_route, status);
}

asio::awaitable<bool> Gateway::respond(Connection& c, Parser& parser, http::response<http::string_body>& res) {
  // A request body we did not read would be taken for the next request: close instead.
  const bool keep = parser.get().keep_alive() && parser.is_done() && !shutting_down_ && !c.close_after;
  res.version(11);
  res.keep_alive(keep);
  if (parser.get().method() == http::verb::head) {
    auto len = res.body().size();
    res.body().clear();
    res.content_length(len);
  } else {
    res.prepare_payload();
  }
  error_code ec;
  set_status(c, res.result_int());
  c.stream.expires_after(std::chrono::seconds(30));
  co_await http::async_write(c.stream, res, awaitable_ec(ec));
  co_return keep && !ec;
}

asio::awaitable<bool> Gateway::respond_error(Connection& c, Parser& parser, http::status status,
                                             std::string_view title, std::string_view message) {
  http::response<http::string_body> res{status, 11};
  set_page_headers(res);
  res.body() = error_page(static_cast<int>(status), title, message);
  co_return co_await respond(c, parser, res);
}

asio::awaitable<bool> Gateway::handle(Connection& c, Parser& parser) {
  auto& req = parser.get();
  auto checked = check_request_head(req.base());
  if (auto* refused = std::get_if<HeadRefusal>(&checked)) {
    // Nothing after a head that is refused can be trusted to be framed as it seems.
    c.close_after = true;
    log::info("http.bad_request", {{"client", c.peer}, {"reason", refused->reason}});
    co_return co_await respond_error(c, parser, refused->status,
                                     refused->status == http::status::not_implemented ? "Not implemented" : "Bad request",
                                     "The request could not be accepted.");
  }
  RequestHead& head = std::get<RequestHead>(checked);
  const Target* target = &head.target;
  c.forward = forward_info(req, c.peer, c.peer_ip, c.rt->config->server, false, head.host_header);
  // RFC 9110 9.3.8: TRACE would echo the request, cookies and all, back to a script.
  if (req.method() == http::verb::trace || req.method() == http::verb::connect ||
      beast::iequals(req.method_string(), "TRACK")) {
    http::response<http::string_body> res{http::status::method_not_allowed, 11};
    set_page_headers(res);
    res.set(http::field::allow, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    res.body() = error_page(405, "Method not allowed", "This address does not accept that method.");
    co_return co_await respond(c, parser, res);
  }

  if (target->path.starts_with(kInternalPrefix) || target->path == "/.gatehouse") {
    c.metrics_route = c.rt->metrics.internal_slot();
    co_return co_await handle_internal(c, parser, target->path, target->query);
  }

  const config::RouteConfig* route = c.rt->router.match(head.host, target->path);
  if (route == nullptr)
    co_return co_await respond_error(c, parser, http::status::not_found, "Not found",
                                     "No application is configured at this address.");
  c.metrics_route = c.rt->metrics.route_slot(static_cast<std::size_t>(route - c.rt->config->routes.data()));
  c.route = route;

  auth::SessionPtr session;
  bool bearer = false;
  const auto authorization = req[http::field::authorization];
  if (!route->is_public && c.rt->oidc->bearer_enabled() && authorization.size() > 7 &&
      beast::iequals(authorization.substr(0, 7), "Bearer ")) {
    // An API client: the token is the identity, no session, no cookie.
    bool keep = false, responded = false;
    bearer = true;
    session = co_await bearer_session(c, parser, authorization.substr(7), keep, responded);
    if (responded) co_return keep;
  } else if (auto cookie = request_cookie(req, c.rt->session_cookie); !cookie.empty()) {
    auto resolved = co_await resolve_session(c, cookie);
    if (!resolved) {
      log::error("session.store_error", {{"error", resolved.error().message}});
      co_return co_await respond_error(c, parser, http::status::service_unavailable,
                                       "Temporarily unavailable", "Please try again in a moment.");
    }
    session = std::move(resolved.value());
    // An OpenID session that outlived its ID token: fresh claims from the refresh token.
    if (session && c.rt->oidc->refresh_due(*session)) {
      const auth::RefreshOutcome refreshed =
          co_await run_blocking(ctx_.blocking, [&] { return c.rt->oidc->refresh(*session); });
      if (refreshed == auth::RefreshOutcome::ended) {
        session.reset();
      } else if (refreshed == auth::RefreshOutcome::refreshed) {
        auto again = co_await resolve_session(c, cookie);
        if (again) session = std::move(again.value());
      }
    }
  }

  std::optional<auth::Principal> principal;
  if (session) {
    c.user = session->user;  // the access log names the user, refused or not
    auto resolved = co_await principal_of(c, *session, bearer);
    if (!resolved) {
      log::error("principal.store_error", {{"error", resolved.error().message}});
      co_return co_await respond_error(c, parser, http::status::service_unavailable,
                                       "Temporarily unavailable", "Please try again in a moment.");
    }
    principal = std::move(resolved.value());
  }
  switch (auth::decide_access(*route, principal ? &*principal : nullptr)) {
    case auth::Access::allow:
      break;
    case auth::Access::forbidden:
      co_return co_await respond_error(c, parser, http::status::forbidden, "Access denied",
                                       "Your account is not allowed to use this application.");
    case auth::Access::need_login: {
      std::string rd = target->path;
      if (!target->query.empty()) rd += "?" + target->query;
      if (accepts_html(req)) {
        http::response<http::string_body> res{http::status::found, 11};
        set_page_headers(res);
        // Only one way to sign in, through a provider: go straight there.
        if (c.rt->config->directories.empty() && c.rt->oidc->providers().size() == 1)
          res.set(http::field::location, "/.gatehouse/oidc/" + url_encode(c.rt->oidc->providers()[0]->name()) +
                                             "/start?rd=" + url_encode(rd));
        else
          res.set(http::field::location, "/.gatehouse/login?rd=" + url_encode(rd));
        res.body() = error_page(302, "Sign-in required", "Continue to the sign-in page.");
        co_return co_await respond(c, parser, res);
      }
      http::response<http::string_body> res{http::status::unauthorized, 11};
      res.set(http::field::www_authenticate,
              "Cookie realm=\"gatehouse\", form-action=\"/.gatehouse/login\", cookie-name=\"" +
                  c.rt->session_cookie + "\"");
      res.set(http::field::content_type, "application/json");
      res.set(http::field::cache_control, "no-store");
      res.body() = R"({"error":"authentication_required"})";
      co_return co_await respond(c, parser, res);
    }
  }
  if (principal) c.rt->usage.count(*principal, route->id());
  co_return co_await proxy(c, parser, *route, upstream_target(*route, *target), principal ? &*principal : nullptr);
}

asio::awaitable<bool> Gateway::handle_internal(Connection& c, Parser& parser, const std::string& path,
                                               const std::string& query) {
  auto& req = parser.get();
  const auto method = req.method();
  const bool get = method == http::verb::get || method == http::verb::head;
  // gatehouse's own endpoints and the methods each takes: another method is 405 with
  // Allow, an address not here 404.
  struct Endpoint {
    std::string_view path;
    bool prefix;
    std::string_view allow;
  };
  static constexpr Endpoint endpoints[] = {
      {"/.gatehouse/login", false, "GET, HEAD, POST"}, {"/.gatehouse/logout", false, "POST"},
      {kOidcPrefix, true, "GET, HEAD"},                {"/.gatehouse/whoami", false, "GET, HEAD"},
      {"/.gatehouse/jwks.json", false, "GET, HEAD"},   {"/.gatehouse/healthz", false, "GET, HEAD"},
      {"/.gatehouse/readyz", false, "GET, HEAD"},      {"/.gatehouse/metrics", false, "GET, HEAD"},
      {"/.gatehouse/parties", false, "GET, HEAD"},     {"/.gatehouse/parties/switch", false, "POST"},
      {"/.gatehouse/delegations", false, "GET, HEAD, POST"},
      {"/.gatehouse/delegations/", true, "POST"},      {"/.gatehouse/banner.css", false, "GET, HEAD"},
      {"/.gatehouse/secrets", false, "GET, HEAD, POST"}, {"/.gatehouse/secrets/remove", false, "POST"}};
  const Endpoint* endpoint = nullptr;
  for (const auto& e : endpoints)
    if (e.prefix ? path.starts_with(e.path) : path == e.path) endpoint = &e;
  if (endpoint == nullptr)
    co_return co_await respond_error(c, parser, http::status::not_found, "Not found",
                                     "There is nothing at this address.");
  const bool allowed = get || (method == http::verb::post && endpoint->allow.find("POST") != std::string_view::npos);
  if (!allowed || (get && endpoint->allow == "POST")) {
    http::response<http::string_body> res{http::status::method_not_allowed, 11};
    set_page_headers(res);
    res.set(http::field::allow, endpoint->allow);
    res.body() = error_page(405, "Method not allowed", "This address does not accept that method.");
    co_return co_await respond(c, parser, res);
  }
  if (path == "/.gatehouse/login") {
    if (get) co_return co_await handle_login_form(c, parser, query);
    if (method == http::verb::post) co_return co_await handle_login_post(c, parser);
  } else if (path == "/.gatehouse/logout") {
    if (method == http::verb::post) co_return co_await handle_logout(c, parser);
  } else if (path.starts_with(kOidcPrefix)) {
    if (get) co_return co_await handle_oidc(c, parser, std::string_view(path).substr(kOidcPrefix.size()), query);
  } else if (path == "/.gatehouse/whoami" && get) {
    http::response<http::string_body> res{http::status::ok, 11};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-store");
    std::optional<auth::Principal> s;
    if (auto cookie = request_cookie(req, c.rt->session_cookie); !cookie.empty()) {
      auto r = co_await resolve_session(c, cookie);
      if (r && *r) {
        auto p = co_await principal_of(c, **r, false);
        if (p) {
          s = std::move(p.value());
          c.rt->principals->name_parties(*s);
        }
      }
    }
    if (!s) {
      res.result(http::status::unauthorized);
      res.set(http::field::www_authenticate, "Cookie realm=\"gatehouse\"");
      res.body() = R"({"error":"authentication_required"})";
      co_return co_await respond(c, parser, res);
    }
    nlohmann::json j = {{"user", s->user.name},
                        {"email", s->email},
                        {"name", s->display_name},
                        {"groups", s->groups},
                        {"roles", s->roles},
                        {"real_party", s->real_party},
                        {"real_party_name", s->real_party_name},
                        {"effective_party", s->effective_party},
                        {"effective_party_name", s->effective_party_name},
                        {"delegation", s->delegation_text()},
                        {"delegation_until", s->delegation_until == 0 ? std::string() : rfc3339(s->delegation_until)},
                        {"source", s->user.source},
                        {"expires_at", rfc3339(s->expires_at)}};
    res.body() = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    co_return co_await respond(c, parser, res);
  } else if (path == "/.gatehouse/jwks.json" && get) {
    http::response<http::string_body> res{http::status::ok, 11};
    res.set(http::field::content_type, "application/jwk-set+json");
    res.set(http::field::cache_control, "public, max-age=300");
    res.body() = ctx_.signer.jwks_json();
    co_return co_await respond(c, parser, res);
  } else if (path == "/.gatehouse/healthz" && get) {
    http::response<http::string_body> res{http::status::ok, 11};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-store");
    res.body() = R"({"status":"ok"})";
    co_return co_await respond(c, parser, res);
  } else if (path == "/.gatehouse/readyz" && get) {
    std::vector<NotReady> failing;
    std::optional<store::OutboxStats> outbox;
    failing = co_await run_blocking(ctx_.blocking, [&] {
      if (auto o = c.rt->db->outbox_stats(); o) outbox = *o;
      return c.rt->readiness();
    });
    http::response<http::string_body> res{failing.empty() ? http::status::ok : http::status::service_unavailable, 11};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-store");
    nlohmann::json j = {{"status", failing.empty() ? "ready" : "not_ready"}};
    // The notification backlog is shown, not judged: e-mails wait for the mail server
    // without keeping gatehouse from serving.
    if (outbox)
      j["outbox"] = {{"pending", outbox->pending},
                     {"oldest", outbox->oldest_created_at == 0 ? std::string() : rfc3339(outbox->oldest_created_at)}};
    if (!failing.empty()) {
      j["failing"] = nlohmann::json::array();
      for (const auto& f : failing) j["failing"].push_back({{"component", f.component}, {"message", f.message}});
    }
    res.body() = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    co_return co_await respond(c, parser, res);
  } else if (path == "/.gatehouse/metrics" && get) {
    co_return co_await handle_metrics(c, parser);
  } else if (path.starts_with("/.gatehouse/parties") || path.starts_with("/.gatehouse/delegations") ||
             path == "/.gatehouse/banner.css") {
    co_return co_await handle_tenancy(c, parser, path, query);
  } else if (path.starts_with("/.gatehouse/secrets")) {
    co_return co_await handle_secrets(c, parser, path, query);
  }
  co_return co_await respond_error(c, parser, http::status::not_found, "Not found",
                                   "There is nothing at this address.");
}

asio::awaitable<bool> Gateway::handle_metrics(Connection& c, Parser& parser) {
  // The real client, as decided with trusted_proxies: behind a reverse proxy on the
  // same host the TCP peer is always loopback, whoever sent the request.
  const auto client = IpAddress::parse(c.forward.client_address);
  const auto& allow = c.rt->config->metrics.allow;
  if (!client || std::none_of(allow.begin(), allow.end(), [&](const Cidr& n) { return n.contains(*client); })) {
    log::info("metrics.refused", {{"client", c.forward.client_address}});
    co_return co_await respond_error(c, parser, http::status::forbidden, "Access denied",
                                     "Metrics are not available to your address.");
  }
  LiveState live = co_await run_blocking(ctx_.blocking, [&] {
    LiveState state;
    if (auto n = c.rt->sessions->count_active(); n)
      state.sessions_active = *n;
    else
      log::warning("metrics.sessions_failed", {{"error", n.error().message}});
    for (auto& f : c.rt->readiness()) state.failing.push_back(std::move(f.component));
    if (auto o = c.rt->db->outbox_stats(); o) {
      state.outbox_pending = o->pending;
      state.outbox_oldest_age = o->oldest_created_at == 0 ? 0 : std::max<std::int64_t>(0, c.rt->tenancy->now() - o->oldest_created_at);
    } else {
      log::warning("metrics.outbox_failed", {{"error", o.error().message}});
    }
    return state;
  });
  http::response<http::string_body> res{http::status::ok, 11};
  res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.body() = c.rt->metrics.render(live);
  co_return co_await respond(c, parser, res);
}

asio::awaitable<bool> Gateway::handle_login_form(Connection& c, Parser& parser, const std::string& query) {
  auto params = parse_form(query);
  LoginPageModel model = login_model(*c.rt);
  model.rd = auth::safe_redirect(form_value(params, "rd"));
  if (form_value(params, "signed_out") == "1") model.notice = "You have been signed out.";
  std::string binding = request_cookie(parser.get(), c.rt->csrf_cookie);
  http::response<http::string_body> res{http::status::ok, 11};
  set_page_headers(res);
  // Only the password form needs a CSRF binding (providers' buttons are plain links).
  // A binding gatehouse did not issue (invented by a client, or an attacker's planted
  // one from before a key change) is replaced: a token made for it would fail.
  if (model.password_form && !ctx_.csrf.issued(binding)) {
    binding = ctx_.csrf.new_binding();
    res.set(http::field::set_cookie, csrf_cookie(*c.rt, binding));
  }
  if (model.password_form) model.csrf_token = ctx_.csrf.token_for(binding);
  res.body() = login_page(model);
  co_return co_await respond(c, parser, res);
}

asio::awaitable<std::optional<Secret>> Gateway::read_form(Connection& c, Parser& parser, bool& keep_alive) {
  auto& req = parser.get();
  error_code ec;
  if (beast::iequals(req[http::field::expect], "100-continue") && !parser.is_done()) {
    static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
    co_await asio::async_write(c.stream, asio::buffer(cont.data(), cont.size()), awaitable_ec(ec));
    if (ec) {
      keep_alive = false;
      co_return std::nullopt;
    }
  }
  // Read the (small) form body; anything bigger is refused before it is buffered. It may
  // hold a password: every copy is wiped.
  std::string raw;
  char buf[4096];
  while (!parser.is_done()) {
    req.body().data = buf;
    req.body().size = sizeof buf;
    c.stream.expires_after(std::chrono::seconds(30));
    co_await read_body_some(c.stream, c.buffer, parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) break;
    raw.append(buf, sizeof buf - req.body().size);
    if (raw.size() > kFormLimit) break;
  }
  sodium_memzero(buf, sizeof buf);
  if (ec || raw.size() > kFormLimit) {
    sodium_memzero(raw.data(), raw.size());
    const auto status = ec ? body_error_status(ec) : std::optional(http::status::payload_too_large);
    keep_alive = false;
    if (!status) co_return std::nullopt;
    c.close_after = true;
    keep_alive = co_await respond_error(c, parser, *status,
                                        *status == http::status::bad_request ? "Bad request" : "Request too large",
                                        "The form was not accepted.");
    co_return std::nullopt;
  }
  co_return Secret(std::move(raw));
}

asio::awaitable<bool> Gateway::handle_login_post(Connection& c, Parser& parser) {
  auto& req = parser.get();
  bool keep = false;
  std::optional<Secret> read = co_await read_form(c, parser, keep);
  if (!read) co_return keep;
  Secret body = std::move(*read);
  auto fields = parse_form(body.reveal());
  const std::string username(form_value(fields, "username"));
  Secret password{std::string(form_value(fields, "password"))};
  const std::string rd = auth::safe_redirect(form_value(fields, "rd"));
  const std::string binding = request_cookie(req, c.rt->csrf_cookie);
  const bool csrf_ok = ctx_.csrf.verify(binding, form_value(fields, "csrf"));
  wipe_form(fields);

  LoginPageModel model = login_model(*c.rt);
  model.rd = rd;
  model.username = username;
  http::response<http::string_body> res{http::status::ok, 11};
  set_page_headers(res);
  std::string new_binding = binding;
  if (!ctx_.csrf.issued(binding)) {
    new_binding = ctx_.csrf.new_binding();
    res.set(http::field::set_cookie, csrf_cookie(*c.rt, new_binding));
  }
  model.csrf_token = ctx_.csrf.token_for(new_binding);
  if (!csrf_ok) {
    log::info("login.csrf_rejected", {{"client", c.forward.client_address}});
    res.result(http::status::forbidden);
    model.error = "Your sign-in form had expired. Please try again.";
    res.body() = login_page(model);
    co_return co_await respond(c, parser, res);
  }

  // The address the lockout counts: the real client, as decided with trusted_proxies.
  const IpAddress client = IpAddress::parse(c.forward.client_address).value_or(IpAddress{});
  auto outcome = co_await c.rt->login->login(username, password, client, ctx_.blocking);
  if (!outcome) {
    c.rt->metrics.count_login("", LoginOutcome::unavailable);
    log::error("login.error", {{"user", username}, {"client", c.forward.client_address},
                               {"error", outcome.error().message}});
    co_return co_await respond_error(c, parser, http::status::service_unavailable,
                                     "Sign-in is temporarily unavailable", "Please try again in a moment.");
  }
  const auth::LoginResult& r = outcome.value();
  count_login(c.rt->metrics, r);
  switch (r.status) {
    case auth::LoginStatus::success: {
      // A session presented before login is ended: the new one has a fresh id.
      if (auto old = request_cookie(req, c.rt->session_cookie); !old.empty())
        (void)c.rt->sessions->end(old);
      http::response<http::string_body> ok{http::status::see_other, 11};
      set_page_headers(ok);
      ok.set(http::field::location, rd);
      ok.set(http::field::set_cookie, cookie_header(c.rt->session_cookie, r.session.cookie_value,
                                                    "/", "Lax", c.rt->secure_cookies, false));
      // A new binding with the new session: a token seen before sign-in is worth nothing after.
      ok.insert(http::field::set_cookie, csrf_cookie(*c.rt, ctx_.csrf.new_binding()));
      co_return co_await respond(c, parser, ok);
    }
    case auth::LoginStatus::unavailable:
      co_return co_await respond_error(c, parser, http::status::service_unavailable,
                                       "Sign-in is temporarily unavailable",
                                       "The account directory cannot be reached. Please try again in a moment.");
    case auth::LoginStatus::throttled: {
      res.result(http::status::too_many_requests);
      res.set(http::field::retry_after, std::to_string(r.retry_after));
      const auto minutes = (r.retry_after + 59) / 60;
      model.error = "Too many failed sign-ins from your address. Please try again in " +
                    (minutes <= 1 ? std::string("a minute") : std::to_string(minutes) + " minutes") + ".";
      res.body() = login_page(model);
      co_return co_await respond(c, parser, res);
    }
    case auth::LoginStatus::failed:
      break;
  }
  res.result(http::status::unauthorized);
  model.error = std::string(login_failure_message(r.outcome));
  res.body() = login_page(model);
  co_return co_await respond(c, parser, res);
}

asio::awaitable<bool> Gateway::handle_logout(Connection& c, Parser& parser) {
  auto& req = parser.get();
  std::string location = "/.gatehouse/login?signed_out=1";
  if (auto cookie = request_cookie(req, c.rt->session_cookie); !cookie.empty()) {
    auto s = co_await resolve_session(c, cookie);
    // Signed in through a provider with RP-initiated logout: end the session there too.
    if (s && *s && !(*s)->provider_state.empty()) {
      const std::string back = c.rt->config->server.public_url.origin() + "/.gatehouse/login";
      std::string provider_logout =
          co_await run_blocking(ctx_.blocking, [&] { return c.rt->oidc->end_session_url(**s, back); });
      if (!provider_logout.empty()) location = std::move(provider_logout);
    }
    // Store writes: off the event loop.
    co_await run_blocking(ctx_.blocking, [&] {
      if (auto st = c.rt->sessions->end(cookie); !st)
        log::error("logout.error", {{"error", st.error().message}});
      else if (s && *s)
        (void)c.rt->audit->record(auth::AuditEvent{auth::AuditEventType::logout, (*s)->user,
                                                 IpAddress::parse(c.forward.client_address), (*s)->source, "", ""});
      return true;
    });
  }
  http::response<http::string_body> res{http::status::see_other, 11};
  set_page_headers(res);
  res.set(http::field::location, location);
  res.set(http::field::set_cookie,
          cookie_header(c.rt->session_cookie, "", "/", "Lax", c.rt->secure_cookies, true));
  co_return co_await respond(c, parser, res);
}

LoginPageModel Gateway::login_model(const Runtime& rt) {
  LoginPageModel model;
  model.password_form = !rt.config->directories.empty();
  for (const auto& p : rt.oidc->providers()) model.providers.push_back({p->name(), p->config().display_name});
  return model;
}

asio::awaitable<bool> Gateway::handle_oidc(Connection& c, Parser& parser, std::string_view rest,
                                           const std::string& query) {
  auto& req = parser.get();
  const auto slash = rest.find('/');
  const std::string name(rest.substr(0, slash));
  const std::string_view action = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  oidc::Provider* provider = c.rt->oidc->find(name);
  if (provider == nullptr || (action != "start" && action != "callback"))
    co_return co_await respond_error(c, parser, http::status::not_found, "Not found",
                                     "There is nothing at this address.");
  const std::string callback_path = std::string(kOidcPrefix) + name + "/callback";
  auto params = parse_form(query);

  if (action == "start") {
    const std::string rd(form_value(params, "rd"));
    const IpAddress client = IpAddress::parse(c.forward.client_address).value_or(IpAddress{});
    auto started = co_await run_blocking(ctx_.blocking, [&] { return c.rt->oidc->start(*provider, rd, client); });
    if (!started) {
      log::error("oidc.start_failed", {{"provider", name}, {"error", started.error().message}});
      co_return co_await respond_error(c, parser, http::status::service_unavailable,
                                       "Sign-in is temporarily unavailable",
                                       provider->config().display_name +
                                           " cannot be reached right now. Please try again in a moment.");
    }
    http::response<http::string_body> res{http::status::found, 11};
    set_page_headers(res);
    res.set(http::field::location, started->location);
    // Sent back only to the callback, and only for the time a sign-in may take.
    std::string cookie = started->cookie_name + "=" + started->cookie_value + "; Path=" + callback_path +
                         "; Max-Age=" + std::to_string(auth::kOidcFlowLifetime) + "; HttpOnly; SameSite=Lax";
    if (c.rt->secure_cookies) cookie += "; Secure";
    res.set(http::field::set_cookie, cookie);
    res.body() = error_page(302, "Signing in", "Continue to " + provider->config().display_name + ".");
    co_return co_await respond(c, parser, res);
  }

  std::map<std::string, std::string> fields;
  for (auto& [k, v] : params) fields.emplace(k, v);  // the first of repeated parameters
  std::string cookies;
  for (auto it = req.find(http::field::cookie); it != req.end() && it->name() == http::field::cookie; ++it) {
    if (!cookies.empty()) cookies += "; ";
    cookies += std::string(it->value());
  }
  const IpAddress client = IpAddress::parse(c.forward.client_address).value_or(IpAddress{});
  auto outcome =
      co_await run_blocking(ctx_.blocking, [&] { return c.rt->oidc->finish(*provider, fields, cookies, client); });
  http::response<http::string_body> res{http::status::see_other, 11};
  set_page_headers(res);
  if (auto flow_cookie = auth::OidcLogin::flow_cookie_name(form_value(params, "state")); !flow_cookie.empty())
    res.insert(http::field::set_cookie, cookie_header(flow_cookie, "", callback_path, "Lax", c.rt->secure_cookies, true));
  c.rt->metrics.count_login(name, outcome.ok                  ? LoginOutcome::success
                                 : outcome.status == 503 ? LoginOutcome::unavailable
                                                         : LoginOutcome::failure);
  if (!outcome.ok) {
    res.result(static_cast<http::status>(outcome.status));
    res.body() = error_page(outcome.status, "Sign-in failed", outcome.message);
    co_return co_await respond(c, parser, res);
  }
  if (auto old = request_cookie(req, c.rt->session_cookie); !old.empty()) (void)c.rt->sessions->end(old);
  res.set(http::field::location, outcome.rd);
  res.insert(http::field::set_cookie, cookie_header(c.rt->session_cookie, outcome.session.cookie_value,
                                                    "/", "Lax", c.rt->secure_cookies, false));
  co_return co_await respond(c, parser, res);
}

asio::awaitable<Result<auth::SessionPtr>> Gateway::resolve_session(Connection& c, std::string_view cookie) {
  if (auto known = c.rt->sessions->resolve_cached(cookie)) co_return std::move(*known);
  co_return co_await run_blocking(ctx_.blocking, [&] { return c.rt->sessions->resolve(cookie); });
}

asio::awaitable<Result<auth::Principal>> Gateway::principal_of(Connection& c, const store::SessionRecord& identity,
                                                               bool bearer) {
  const std::int64_t expires = bearer ? 0 : c.rt->sessions->expires_at(identity);
  if (auto p = c.rt->principals->resolve_cached(identity, expires, bearer)) co_return std::move(*p);
  co_return co_await run_blocking(ctx_.blocking,
                                  [&] { return c.rt->principals->resolve(identity, expires, bearer); });
}

asio::awaitable<auth::SessionPtr> Gateway::bearer_session(Connection& c, Parser& parser, std::string_view header,
                                                          bool& keep_alive, bool& responded) {
  const std::string token(trim_blanks(header));
  std::optional<Result<store::SessionRecord>> verified = c.rt->oidc->bearer_cached(token);
  if (!verified) verified.emplace(co_await run_blocking(ctx_.blocking, [&] { return c.rt->oidc->bearer(token); }));
  if (*verified) co_return std::make_shared<const store::SessionRecord>(std::move(verified->value()));

  const Error& why = verified->error();
  responded = true;
  if (why.code == "oidc.unreachable") {
    log::error("bearer.unavailable", {{"client", c.forward.client_address}, {"error", why.message}});
    keep_alive = co_await respond_error(c, parser, http::status::service_unavailable, "Temporarily unavailable",
                                        "The identity provider cannot be reached. Please try again in a moment.");
    co_return nullptr;
  }
  // Never the token itself: only why it was refused.
  log::info("bearer.rejected", {{"client", c.forward.client_address}, {"reason", why.message}});
  http::response<http::string_body> res{http::status::unauthorized, 11};
  std::string description;
  for (char ch : why.message) description += (ch == '"' || ch == '\\' || static_cast<unsigned char>(ch) < 0x20) ? ' ' : ch;
  res.set(http::field::www_authenticate,
          "Bearer realm=\"gatehouse\", error=\"invalid_token\", error_description=\"" + description + "\"");
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.body() = R"({"error":"invalid_token"})";
  keep_alive = co_await respond(c, parser, res);
  co_return nullptr;
}

}  // namespace gatehouse::daemon
