// gatehouse's pages for tenancy: the organisation switcher (/.gatehouse/parties), the
// delegations of the tenants a user is superuser of (/.gatehouse/delegations) and the
// banner's stylesheet. Every change is a POST with a CSRF token bound to the browser.
#include <charconv>
#include <nlohmann/json.hpp>

#include "auth/redirect.h"
#include "common/log.h"
#include "common/run_blocking.h"
#include "common/text.h"
#include "daemon/banner_injector.h"
#include "daemon/form.h"
#include "daemon/gateway.h"
#include "daemon/gateway_connection.h"
#include "daemon/http_util.h"
#include "daemon/tenancy_pages.h"

namespace gatehouse::daemon {
namespace {

std::string dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

// The last day of a delegation as the page's date field sends it ("2026-12-31": to the end
// of that day, UTC), or an RFC 3339 time.
std::optional<std::int64_t> parse_until(std::string_view text) {
  if (text.size() == 10) {
    if (auto start = config::parse_rfc3339(std::string(text) + "T00:00:00Z")) return *start + 86400 - 1;
    return std::nullopt;
  }
  return config::parse_rfc3339(text);
}

// The one-time notice of a principal, in words.
std::string banner_notice(const auth::Principal& p) {
  if (p.notice == "switched")
    return p.delegated() ? "You now act for " + p.effective_party_name + "."
                         : "You act for your own organisation, " + p.real_party_name + ", again.";
  if (p.notice == "ended")
    return "The delegation you acted through has ended: you act for your own organisation, " + p.real_party_name +
           ", again.";
  return {};
}

std::optional<std::int64_t> parse_id(std::string_view text) {
  std::int64_t id = 0;
  if (text.empty() || text.size() > 18) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id <= 0) return std::nullopt;
  return id;
}

}  // namespace

std::string Gateway::page_banner(const auth::Principal& p, std::string_view rd) {
  if (!p.delegated() && p.notice.empty()) return {};
  BannerModel model;
  if (p.delegated()) {
    model.effective_party = p.effective_party_name;
    model.real_party = p.real_party_name;
  }
  model.switcher_url = "/.gatehouse/parties?rd=" + url_encode(rd.empty() ? std::string_view("/") : rd);
  model.notice = banner_notice(p);
  return banner_html(model);
}

asio::awaitable<void> Gateway::notice_shown(Connection& c, const auth::Principal& p) {
  if (p.notice.empty()) co_return;
  // Shown once, on whichever page or device comes first: gone before the next request.
  co_await run_blocking(ctx_.blocking, [&] {
    if (auto st = c.rt->db->clear_party_notice(p.user, p.notice); !st)
      log::warning("tenancy.notice_not_cleared", {{"error", st.error().message}});
    c.rt->principals->forget(p.user);
    return 0;
  });
}

std::string Gateway::page_csrf_token(Connection& c, const http::request<http::buffer_body>& req,
                                     http::response<http::string_body>& res) {
  // A binding gatehouse did not issue (made up, or from before a key change) is replaced.
  std::string binding = request_cookie(req, c.rt->csrf_cookie);
  if (!ctx_.csrf.issued(binding)) {
    binding = ctx_.csrf.new_binding();
    res.set(http::field::set_cookie, csrf_cookie(*c.rt, binding));
  }
  return ctx_.csrf.token_for(binding);
}

asio::awaitable<std::optional<FormFields>> Gateway::read_checked_form(Connection& c, Parser& parser,
                                                                      const auth::Principal& p, bool& keep_alive) {
  auto body = co_await read_form(c, parser, keep_alive);
  if (!body) co_return std::nullopt;
  FormFields fields = parse_form(body->reveal());
  if (!ctx_.csrf.verify(request_cookie(parser.get(), c.rt->csrf_cookie), form_value(fields, "csrf"))) {
    log::info("tenancy.csrf_rejected", {{"client", c.forward.client_address}, {"user", p.user.name}});
    keep_alive = co_await respond_error(c, parser, http::status::forbidden, "Form expired",
                                        "The form had expired. Go back, reload the page and try again.");
    co_return std::nullopt;
  }
  co_return fields;
}

asio::awaitable<std::optional<auth::Principal>> Gateway::page_principal(Connection& c, Parser& parser,
                                                                        bool& keep_alive) {
  auto& req = parser.get();
  if (auto cookie = request_cookie(req, c.rt->session_cookie); !cookie.empty()) {
    auto session = co_await resolve_session(c, cookie);
    std::optional<Error> failed;
    if (!session) {
      failed = session.error();
    } else if (*session) {
      auto p = co_await principal_of(c, **session, false);
      if (p) {
        c.user = p->user.name;
        c.rt->principals->name_parties(*p);
        co_return std::move(p.value());
      }
      failed = p.error();
    }
    if (failed) {
      log::error("principal.store_error", {{"error", failed->message}});
      keep_alive = co_await respond_error(c, parser, http::status::service_unavailable, "Temporarily unavailable",
                                          "Please try again in a moment.");
      co_return std::nullopt;
    }
  }
  const std::string_view target = req.target();
  if (accepts_html(req) && req.method() != http::verb::post) {
    http::response<http::string_body> res{http::status::found, 11};
    set_page_headers(res);
    res.set(http::field::location, "/.gatehouse/login?rd=" + url_encode(auth::safe_redirect(target)));
    res.body() = error_page(302, "Sign-in required", "Continue to the sign-in page.");
    keep_alive = co_await respond(c, parser, res);
    co_return std::nullopt;
  }
  http::response<http::string_body> res{http::status::unauthorized, 11};
  res.set(http::field::www_authenticate, "Cookie realm=\"gatehouse\"");
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.body() = R"({"error":"authentication_required"})";
  keep_alive = co_await respond(c, parser, res);
  co_return std::nullopt;
}

asio::awaitable<bool> Gateway::handle_tenancy(Connection& c, Parser& parser, const std::string& path,
                                              const std::string& query) {
  const auto method = parser.get().method();
  if (path == "/.gatehouse/banner.css") {
    http::response<http::string_body> res{http::status::ok, 11};
    res.set(http::field::content_type, "text/css; charset=utf-8");
    res.set(http::field::cache_control, "public, max-age=3600");
    res.set("X-Content-Type-Options", "nosniff");
    res.body() = std::string(banner_css());
    co_return co_await respond(c, parser, res);
  }
  bool keep = false;
  auto principal = co_await page_principal(c, parser, keep);
  if (!principal) co_return keep;
  const auth::Principal& p = *principal;
  if (path == "/.gatehouse/parties") co_return co_await handle_parties(c, parser, p, query);
  if (path == "/.gatehouse/parties/switch") co_return co_await handle_switch(c, parser, p);
  if (path == "/.gatehouse/delegations") {
    if (method == http::verb::post) co_return co_await handle_grant(c, parser, p);
    auto params = parse_form(query);
    std::string notice;
    if (auto id = form_value(params, "granted"); !id.empty() && parse_id(id))
      notice = "Delegation " + std::string(id) + " was granted; an invitation was e-mailed to the address.";
    if (auto id = form_value(params, "revoked"); !id.empty() && parse_id(id))
      notice = "Delegation " + std::string(id) + " was revoked.";
    co_return co_await handle_delegations(c, parser, p, {}, notice, http::status::ok);
  }
  constexpr std::string_view prefix = "/.gatehouse/delegations/";
  std::string_view rest = std::string_view(path).substr(prefix.size());
  if (rest.ends_with("/revoke")) co_return co_await handle_revoke(c, parser, p, rest.substr(0, rest.size() - 7));
  co_return co_await respond_error(c, parser, http::status::not_found, "Not found", "There is nothing at this address.");
}

asio::awaitable<bool> Gateway::handle_parties(Connection& c, Parser& parser, const auth::Principal& p,
                                              const std::string& query) {
  auto& req = parser.get();
  auto params = parse_form(query);
  const std::string rd = auth::safe_redirect(form_value(params, "rd"));
  auto parties = co_await run_blocking(ctx_.blocking, [&] { return c.rt->tenancy->parties(p); });
  if (!parties) {
    log::error("tenancy.store_error", {{"error", parties.error().message}});
    co_return co_await respond_error(c, parser, http::status::service_unavailable, "Temporarily unavailable",
                                     "Please try again in a moment.");
  }
  if (prefers_json(req)) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& x : *parties)
      list.push_back({{"party", x.party},
                      {"display_name", x.display_name},
                      {"delegation", x.delegation_id == 0 ? std::string() : std::to_string(x.delegation_id)},
                      {"until", x.until == 0 ? std::string() : rfc3339(x.until)}});
    http::response<http::string_body> res{http::status::ok, 11};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-store");
    res.body() = dump({{"real_party", p.real_party}, {"effective_party", p.effective_party}, {"parties", list}});
    co_return co_await respond(c, parser, res);
  }
  http::response<http::string_body> res{http::status::ok, 11};
  set_page_headers(res);
  PartiesPageModel model;
  model.banner = page_banner(p, rd);
  co_await notice_shown(c, p);
  model.real_party = p.real_party;
  model.effective_party = p.effective_party;
  model.parties = std::move(parties.value());
  model.csrf_token = page_csrf_token(c, req, res);
  model.rd = rd;
  res.body() = parties_page(model);
  co_return co_await respond(c, parser, res);
}

asio::awaitable<bool> Gateway::handle_switch(Connection& c, Parser& parser, const auth::Principal& p) {
  bool keep = false;
  auto form = co_await read_checked_form(c, parser, p, keep);
  if (!form) co_return keep;
  const FormFields& fields = *form;
  const std::string party(form_value(fields, "party"));
  const std::string rd = auth::safe_redirect(form_value(fields, "rd"));
  const auto client = IpAddress::parse(c.forward.client_address);
  auto switched = co_await run_blocking(ctx_.blocking, [&] { return c.rt->tenancy->switch_party(p, party, client); });
  if (!switched) {
    log::error("tenancy.switch_failed", {{"user", p.user.name}, {"error", switched.error().message}});
    co_return co_await respond_error(c, parser, http::status::service_unavailable, "Temporarily unavailable",
                                     "Your organisation was not changed. Please try again in a moment.");
  }
  if (*switched == tenancy::SwitchResult::forbidden) {
    log::info("parties.switch_refused", {{"user", p.user.name}, {"party", party}});
    co_return co_await respond_error(c, parser, http::status::forbidden, "Not allowed",
                                     "You hold no active delegation for that organisation.");
  }
  c.rt->principals->forget(p.user);
  c.rt->notifications.poke();
  http::response<http::string_body> res{http::status::see_other, 11};
  set_page_headers(res);
  res.set(http::field::location, rd);
  res.body() = error_page(303, "Organisation changed", "Continue.");
  co_return co_await respond(c, parser, res);
}

asio::awaitable<bool> Gateway::handle_delegations(Connection& c, Parser& parser, const auth::Principal& p,
                                                  std::string error, std::string notice, http::status status) {
  auto& req = parser.get();
  const auto now = c.rt->tenancy->config().delegation.default_duration;
  struct Loaded {
    Status status = Ok{};
    std::vector<DelegationsPageModel::TenantSection> sections;
  };
  Loaded loaded = co_await run_blocking(ctx_.blocking, [&] {
    Loaded out;
    auto tenants = c.rt->tenancy->superuser_tenants(p);
    if (!tenants) {
      out.status = tenants.error();
      return out;
    }
    for (const auto& t : *tenants) {
      DelegationsPageModel::TenantSection section;
      section.tenant = c.rt->tenancy->tenant(t);
      auto list = c.rt->db->list_delegations({t, ""});
      auto activity = c.rt->db->delegation_activity(t);
      auto usage = c.rt->db->delegation_usage(t);
      if (!list || !activity || !usage) {
        out.status = !list ? list.error() : !activity ? activity.error() : usage.error();
        return out;
      }
      section.delegations = std::move(*list);
      section.activity = std::move(*activity);
      section.usage = std::move(*usage);
      out.sections.push_back(std::move(section));
    }
    return out;
  });
  if (!loaded.status) {
    log::error("tenancy.store_error", {{"error", loaded.status.error().message}});
    co_return co_await respond_error(c, parser, http::status::service_unavailable, "Temporarily unavailable",
                                     "Please try again in a moment.");
  }
  if (loaded.sections.empty()) {
    log::info("delegations.refused", {{"user", p.user.name}, {"source", p.user.source}});
    co_return co_await respond_error(c, parser, http::status::forbidden, "Access denied",
                                     "Only superusers of an organisation can manage its delegations.");
  }
  http::response<http::string_body> res{status, 11};
  set_page_headers(res);
  DelegationsPageModel model;
  model.banner = page_banner(p, "/.gatehouse/delegations");
  co_await notice_shown(c, p);
  model.tenants = std::move(loaded.sections);
  model.now = c.rt->tenancy->now();
  model.default_length = config::format_duration(now);
  model.csrf_token = page_csrf_token(c, req, res);
  model.error = std::move(error);
  model.notice = std::move(notice);
  res.body() = delegations_page(model);
  co_return co_await respond(c, parser, res);
}

asio::awaitable<bool> Gateway::handle_grant(Connection& c, Parser& parser, const auth::Principal& p) {
  bool keep = false;
  auto form = co_await read_checked_form(c, parser, p, keep);
  if (!form) co_return keep;
  const FormFields& fields = *form;
  tenancy::GrantRequest grant;
  grant.tenant = std::string(form_value(fields, "tenant"));
  grant.email = std::string(trim_blanks(form_value(fields, "email")));
  grant.no_end = !form_value(fields, "no_end").empty();
  grant.granted_by = tenancy::user_text(p.user);
  grant.client = IpAddress::parse(c.forward.client_address);
  const std::string until(trim_blanks(form_value(fields, "until")));
  if (!until.empty() && !grant.no_end) {
    grant.until = parse_until(until);
    if (!grant.until)
      co_return co_await handle_delegations(c, parser, p, "The last day is not a date (YYYY-MM-DD).", {},
                                            http::status::bad_request);
  }
  auto allowed = co_await run_blocking(ctx_.blocking, [&] { return c.rt->tenancy->is_superuser(p, grant.tenant); });
  if (!allowed || !*allowed) {
    if (!allowed) log::error("tenancy.store_error", {{"error", allowed.error().message}});
    log::info("delegations.grant_refused", {{"user", p.user.name}, {"tenant", grant.tenant}});
    co_return co_await respond_error(c, parser, http::status::forbidden, "Access denied",
                                     "Only superusers of an organisation can grant its delegations.");
  }
  auto granted = co_await run_blocking(ctx_.blocking, [&] { return c.rt->tenancy->grant(grant); });
  if (!granted) {
    const auto& e = granted.error();
    if (e.code == "tenancy.bad_email" || e.code == "tenancy.bad_until" || e.code == "store.no_tenant")
      co_return co_await handle_delegations(c, parser, p, e.message, {}, http::status::bad_request);
    log::error("tenancy.grant_failed", {{"error", e.message}});
    co_return co_await respond_error(c, parser, http::status::service_unavailable, "Temporarily unavailable",
                                     "The delegation was not granted. Please try again in a moment.");
  }
  c.rt->notifications.poke();
  http::response<http::string_body> res{http::status::see_other, 11};
  set_page_headers(res);
  res.set(http::field::location, "/.gatehouse/delegations?granted=" + std::to_string(granted->id));
  res.body() = error_page(303, "Delegation granted", "Continue.");
  co_return co_await respond(c, parser, res);
}

asio::awaitable<bool> Gateway::handle_revoke(Connection& c, Parser& parser, const auth::Principal& p,
                                             std::string_view id_text) {
  bool keep = false;
  auto form = co_await read_checked_form(c, parser, p, keep);
  if (!form) co_return keep;
  const auto id = parse_id(id_text);
  if (!id)
    co_return co_await respond_error(c, parser, http::status::not_found, "Not found", "There is no such delegation.");
  enum class Outcome { revoked, not_found, forbidden, failed };
  const auto client = IpAddress::parse(c.forward.client_address);
  const Outcome outcome = co_await run_blocking(ctx_.blocking, [&] {
    auto d = c.rt->db->find_delegation(*id);
    if (!d) return Outcome::failed;
    if (!d->has_value()) return Outcome::not_found;
    auto allowed = c.rt->tenancy->is_superuser(p, (*d)->tenant);
    if (!allowed) return Outcome::failed;
    if (!*allowed) return Outcome::forbidden;
    auto done = c.rt->tenancy->revoke(*id, tenancy::user_text(p.user), client);
    if (!done) {
      log::error("tenancy.revoke_failed", {{"error", done.error().message}});
      return Outcome::failed;
    }
    return Outcome::revoked;
  });
  switch (outcome) {
    case Outcome::not_found:
      co_return co_await respond_error(c, parser, http::status::not_found, "Not found", "There is no such delegation.");
    case Outcome::forbidden:
      log::info("delegations.revoke_refused", {{"user", p.user.name}, {"delegation", std::to_string(*id)}});
      co_return co_await respond_error(c, parser, http::status::forbidden, "Access denied",
                                       "Only superusers of an organisation can revoke its delegations.");
    case Outcome::failed:
      co_return co_await respond_error(c, parser, http::status::service_unavailable, "Temporarily unavailable",
                                       "The delegation was not revoked. Please try again in a moment.");
    case Outcome::revoked:
      break;
  }
  c.rt->notifications.poke();
  http::response<http::string_body> res{http::status::see_other, 11};
  set_page_headers(res);
  res.set(http::field::location, "/.gatehouse/delegations?revoked=" + std::to_string(*id));
  res.body() = error_page(303, "Delegation revoked", "Continue.");
  co_return co_await respond(c, parser, res);
}

}  // namespace gatehouse::daemon
