// The tenant vault's page (/.gatehouse/secrets) for the superusers of a tenant: set and
// remove secrets, never read them; and the answer of a route whose inject_secret the
// effective party has no value for.
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "common/run_blocking.h"
#include "common/text.h"
#include "daemon/form.h"
#include "daemon/gateway.h"
#include "daemon/gateway_connection.h"
#include "daemon/http_util.h"
#include "daemon/vault_pages.h"

namespace gatehouse::daemon {

asio::awaitable<bool> Gateway::respond_secret_missing(Connection& c, Parser& parser, const std::string& tenant,
                                                      const std::string& secret) {
  if (!accepts_html(parser.get())) {
    http::response<http::string_body> res{http::status::forbidden, 11};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-store");
    res.body() = nlohmann::json{{"error", "secret_missing"}, {"tenant", tenant}, {"secret", secret}}.dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
    co_return co_await respond(c, parser, res);
  }
  const std::string who = c.rt->tenancy->tenant(tenant).display_name;
  co_return co_await respond_error(
      c, parser, http::status::forbidden, "Secret missing",
      "This application needs the secret \"" + secret + "\" of the organisation you act for (" + who +
          "), and that organisation has not stored it in gatehouse. Ask one of its superusers to add it under "
          "Secrets.");
}

asio::awaitable<bool> Gateway::handle_secrets(Connection& c, Parser& parser, const std::string& path,
                                              const std::string& query) {
  bool keep = false;
  auto principal = co_await page_principal(c, parser, keep);
  if (!principal) co_return keep;
  const auth::Principal& p = *principal;
  if (parser.get().method() == http::verb::post) co_return co_await handle_secret_change(c, parser, p, path);
  auto params = parse_form(query);
  std::string notice;
  if (auto name = form_value(params, "stored"); valid_secret_name(name))
    notice = "Secret " + std::string(name) + " was stored.";
  if (auto name = form_value(params, "removed"); valid_secret_name(name))
    notice = "Secret " + std::string(name) + " was removed.";
  co_return co_await secrets_page_answer(c, parser, p, {}, notice, http::status::ok);
}

asio::awaitable<bool> Gateway::secrets_page_answer(Connection& c, Parser& parser, const auth::Principal& p,
                                                   std::string error, std::string notice, http::status status) {
  struct Loaded {
    Status status = Ok{};
    std::vector<SecretsPageModel::TenantSection> sections;
  };
  Loaded loaded = co_await run_blocking(ctx_.blocking, [&] {
    Loaded out;
    auto tenants = c.rt->tenancy->superuser_tenants(p);
    if (!tenants) {
      out.status = tenants.error();
      return out;
    }
    for (const auto& t : *tenants) {
      SecretsPageModel::TenantSection section;
      section.tenant = c.rt->tenancy->tenant(t);
      auto list = c.rt->vault.list(t);
      if (!list) {
        out.status = list.error();
        return out;
      }
      section.secrets = std::move(list.value());
      out.sections.push_back(std::move(section));
    }
    return out;
  });
  if (!loaded.status) {
    log::error("vault.store_error", {{"error", loaded.status.error().message}});
    co_return co_await respond_error(c, parser, http::status::service_unavailable, "Temporarily unavailable",
                                     "Please try again in a moment.");
  }
  if (loaded.sections.empty()) {
    log::info("secrets.refused", {{"user", p.user.name}, {"source", p.user.source}});
    co_return co_await respond_error(c, parser, http::status::forbidden, "Access denied",
                                     "Only superusers of an organisation can manage its secrets.");
  }
  http::response<http::string_body> res{status, 11};
  set_page_headers(res);
  SecretsPageModel model;
  model.banner = page_banner(p, "/.gatehouse/secrets");
  co_await notice_shown(c, p);
  model.tenants = std::move(loaded.sections);
  model.csrf_token = page_csrf_token(c, parser.get(), res);
  model.error = std::move(error);
  model.notice = std::move(notice);
  res.body() = secrets_page(model);
  co_return co_await respond(c, parser, res);
}

asio::awaitable<bool> Gateway::handle_secret_change(Connection& c, Parser& parser, const auth::Principal& p,
                                                    const std::string& path) {
  bool keep = false;
  auto form = co_await read_checked_form(c, parser, p, keep);
  if (!form) co_return keep;
  FormFields fields = std::move(*form);
  const bool remove = path == "/.gatehouse/secrets/remove";
  const std::string tenant(form_value(fields, "tenant"));
  const std::string name(trim_blanks(form_value(fields, "name")));
  // The value leaves ordinary memory at once; the form's copy is wiped.
  Secret value = Secret::copy_of(form_value(fields, "value"));
  wipe_form(fields);
  const std::string by = tenancy::user_text(p.user);
  const auto client = IpAddress::parse(c.forward.client_address);

  enum class Outcome { done, forbidden, bad_input, not_found, failed };
  struct Result {
    Outcome outcome = Outcome::failed;
    std::string message;
    std::int64_t version = 0;
  };
  const Result r = co_await run_blocking(ctx_.blocking, [&] {
    Result out;
    auto allowed = c.rt->tenancy->is_superuser(p, tenant);
    if (!allowed) {
      log::error("vault.store_error", {{"error", allowed.error().message}});
      return out;
    }
    if (!*allowed) {
      out.outcome = Outcome::forbidden;
      return out;
    }
    auth::AuditEvent event{remove ? auth::AuditEventType::secret_removed : auth::AuditEventType::secret_set, p.user.name,
                           client, p.user.source, "", ""};
    if (remove) {
      auto removed = c.rt->vault.remove(tenant, name, by);
      if (!removed) {
        log::error("vault.remove_failed", {{"tenant", tenant}, {"secret", name}, {"error", removed.error().message}});
        return out;
      }
      if (!*removed) {
        out.outcome = Outcome::not_found;
        return out;
      }
      event.detail = "tenant " + tenant + ", secret " + name;
    } else {
      auto version = c.rt->vault.set(tenant, name, value, by);
      if (!version) {
        const auto& e = version.error();
        if (e.code == "vault.name" || e.code == "vault.value") {
          out.outcome = Outcome::bad_input;
          out.message = e.message;
          return out;
        }
        log::error("vault.set_failed", {{"tenant", tenant}, {"secret", name}, {"code", e.code}, {"error", e.message}});
        return out;
      }
      out.version = *version;
      event.detail = "tenant " + tenant + ", secret " + name + ", version " + std::to_string(*version);
    }
    if (auto st = c.rt->audit->record(event); !st)
      log::error("audit.write_failed", {{"error", st.error().message}});
    out.outcome = Outcome::done;
    return out;
  });
  switch (r.outcome) {
    case Outcome::forbidden:
      log::info("secrets.change_refused", {{"user", p.user.name}, {"tenant", tenant}});
      co_return co_await respond_error(c, parser, http::status::forbidden, "Access denied",
                                       "Only superusers of an organisation can manage its secrets.");
    case Outcome::bad_input:
      co_return co_await secrets_page_answer(c, parser, p, r.message, {}, http::status::bad_request);
    case Outcome::not_found:
      co_return co_await secrets_page_answer(c, parser, p, "There is no secret with that name.", {},
                                             http::status::not_found);
    case Outcome::failed:
      co_return co_await respond_error(c, parser, http::status::service_unavailable, "Temporarily unavailable",
                                       "Nothing was changed. Please try again in a moment.");
    case Outcome::done:
      break;
  }
  http::response<http::string_body> res{http::status::see_other, 11};
  set_page_headers(res);
  res.set(http::field::location, std::string("/.gatehouse/secrets?") + (remove ? "removed=" : "stored=") + name);
  res.body() = error_page(303, remove ? "Secret removed" : "Secret stored", "Continue.");
  co_return co_await respond(c, parser, res);
}

}  // namespace gatehouse::daemon
