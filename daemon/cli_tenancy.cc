#include "daemon/cli_tenancy.h"

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/email_address.h"
#include "daemon/cli_common.h"
#include "tenancy/tenancy.h"

namespace gatehouse::daemon {

using namespace cli;

struct TenancyCommands::Options {
  CLI::App* tenant_add = nullptr;
  CLI::App* tenant_list = nullptr;
  CLI::App* superuser_add = nullptr;
  CLI::App* superuser_remove = nullptr;
  CLI::App* superuser_list = nullptr;
  CLI::App* grant = nullptr;
  CLI::App* revoke = nullptr;
  CLI::App* delegation_list = nullptr;
  CLI::App* usage_report = nullptr;
  CLI::App* outbox_list = nullptr;

  std::string tenant, display_name, language, user, email, until, since;
  bool no_end = false, json = false, csv = false;
  std::int64_t id = 0;
};

namespace {

std::string dump(const nlohmann::json& j) {
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool valid_tenant_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) return false;
  return true;
}

// "corp:alice", or "alice" when only one directory or provider is configured.
std::optional<store::UserRef> parse_user(const config::Config& cfg, std::string_view text) {
  std::vector<std::string> sources;
  for (const auto& d : cfg.directories) sources.push_back(d.name);
  for (const auto& o : cfg.oidc) sources.push_back(o.name);
  const auto colon = text.find(':');
  if (colon != std::string_view::npos) {
    const std::string source(text.substr(0, colon));
    const std::string name(text.substr(colon + 1));
    if (std::find(sources.begin(), sources.end(), source) != sources.end()) {
      if (name.empty() || name.size() > 256) {
        std::cerr << "gatehouse: a user name is 1 to 256 characters\n";
        return std::nullopt;
      }
      return store::UserRef{source, name};
    }
  }
  if (sources.size() == 1 && !text.empty() && text.size() <= 256) return store::UserRef{sources[0], std::string(text)};
  std::cerr << "gatehouse: say which directory or provider the user signs in through: SOURCE:NAME";
  if (!sources.empty()) std::cerr << " (SOURCE is one of " << join(sources, ", ") << ")";
  std::cerr << "\n";
  return std::nullopt;
}

std::string state_name(const store::Delegation& d, std::int64_t now) {
  switch (store::delegation_state(d, now)) {
    case store::DelegationState::active: return "active";
    case store::DelegationState::expired: return "expired";
    case store::DelegationState::revoked: return "revoked";
  }
  return "";
}

// A CSV field (RFC 4180): quoted when it holds a separator, quote or line break.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

TenancyCommands::TenancyCommands(CLI::App& app) : o_(std::make_shared<Options>()) {
  auto& o = *o_;
  auto* tenant = app.add_subcommand("tenant", "tenants (organisations) and their superusers");
  tenant->fallthrough();
  tenant->require_subcommand(1);
  o.tenant_add = tenant->add_subcommand("add", "add a tenant");
  o.tenant_add->fallthrough();
  o.tenant_add->add_option("T", o.tenant, "tenant name: a-z, 0-9, '.', '_', '-'")->required();
  o.tenant_add->add_option("--display-name", o.display_name, "name shown to people (default: T)");
  o.tenant_add->add_option("--language", o.language, "e-mails to its superusers: en, nl, de or it (default en)");
  o.tenant_list = tenant->add_subcommand("list", "list tenants");
  o.tenant_list->fallthrough();
  o.tenant_list->add_flag("--json", o.json, "a JSON array");
  auto* superuser = tenant->add_subcommand("superuser", "superusers of a tenant (also its superuser_groups)");
  superuser->fallthrough();
  superuser->require_subcommand(1);
  o.superuser_add = superuser->add_subcommand("add", "make USER a superuser of T");
  o.superuser_remove = superuser->add_subcommand("remove", "USER is no longer a superuser of T");
  for (auto* cmd : {o.superuser_add, o.superuser_remove}) {
    cmd->fallthrough();
    cmd->add_option("T", o.tenant, "tenant")->required();
    cmd->add_option("USER", o.user, "SOURCE:NAME (directory or provider, then the user's name there)")->required();
  }
  o.superuser_list = superuser->add_subcommand("list", "superusers of T");
  o.superuser_list->fallthrough();
  o.superuser_list->add_option("T", o.tenant, "tenant")->required();

  auto* delegation = app.add_subcommand("delegation", "delegations: another organisation's user acts for a tenant");
  delegation->fallthrough();
  delegation->require_subcommand(1);
  o.grant = delegation->add_subcommand("grant", "grant a delegation (prints its id) and e-mail an invitation");
  o.grant->fallthrough();
  o.grant->add_option("--tenant", o.tenant, "the delegating tenant")->required();
  o.grant->add_option("--email", o.email, "the delegate's e-mail address")->required();
  auto* until = o.grant->add_option("--until", o.until, "end (RFC 3339); default: [delegation] default_duration");
  auto* no_end = o.grant->add_flag("--no-end", o.no_end, "no end date");
  until->excludes(no_end);
  o.revoke = delegation->add_subcommand("revoke", "revoke a delegation; its delegates act for their own tenant at once");
  o.revoke->fallthrough();
  o.revoke->add_option("ID", o.id, "delegation id")->required()->check(CLI::PositiveNumber);
  o.delegation_list = delegation->add_subcommand("list", "delegations, newest first");
  o.delegation_list->fallthrough();
  o.delegation_list->add_option("--tenant", o.tenant, "only this tenant's");
  o.delegation_list->add_option("--email", o.email, "only this address's");
  o.delegation_list->add_flag("--json", o.json, "a JSON array");

  auto* usage = app.add_subcommand("usage", "requests per effective party (billing)");
  usage->fallthrough();
  usage->require_subcommand(1);
  o.usage_report = usage->add_subcommand("report", "requests per day, effective party and route");
  o.usage_report->fallthrough();
  o.usage_report->add_option("--tenant", o.tenant, "only this effective party");
  o.usage_report->add_option("--since", o.since, "from this RFC 3339 time's day (UTC)");
  o.usage_report->add_option("--until", o.until, "to this RFC 3339 time's day (UTC), inclusive");
  auto* json = o.usage_report->add_flag("--json", o.json, "a JSON array of rows");
  auto* csv = o.usage_report->add_flag("--csv", o.csv, "CSV with a header line");
  json->excludes(csv);

  auto* outbox = app.add_subcommand("outbox", "notification e-mails");
  outbox->fallthrough();
  outbox->require_subcommand(1);
  o.outbox_list = outbox->add_subcommand("list", "e-mails not yet delivered, with their last error");
  o.outbox_list->fallthrough();
  o.outbox_list->add_flag("--json", o.json, "a JSON array");
}

std::optional<int> TenancyCommands::run(std::shared_ptr<const config::Config> config, store::TenancyStore& db,
                                        store::TenantStore& tenants, store::UserStore& users,
                                        store::AuditStore& audit_store) {
  auto& o = *o_;
  const bool any = *o.tenant_add || *o.tenant_list || *o.superuser_add || *o.superuser_remove ||
                   *o.superuser_list || *o.grant || *o.revoke || *o.delegation_list || *o.usage_report ||
                   *o.outbox_list;
  if (!any) return std::nullopt;
  const auto& cfg = *config;
  SystemClock clock;
  auth::Audit audit(cfg.audit, audit_store, clock);
  tenancy::Tenancy tenancy(config, db, tenants, users, clock, audit);
  const auto now = clock.now();

  if (*o.tenant_add) {
    if (!valid_tenant_name(o.tenant)) {
      std::cerr << "gatehouse: a tenant name is 1 to 64 characters of a-z, 0-9, '.', '_' and '-'\n";
      return kUsage;
    }
    if (!o.language.empty() && o.language != "en" && o.language != "nl" && o.language != "de" && o.language != "it") {
      std::cerr << "gatehouse: --language is one of en, nl, de, it\n";
      return kUsage;
    }
    if (o.display_name.size() > 200 || printable(o.display_name) != o.display_name) {
      std::cerr << "gatehouse: --display-name is at most 200 characters, without control characters\n";
      return kUsage;
    }
    store::Tenant t{o.tenant, now, o.display_name, o.language.empty() ? std::string("en") : o.language};
    if (auto st = tenants.add_tenant(t); !st) return store_error(st.error());
    std::cout << "tenant " << o.tenant << " added\n";
    return kOk;
  }
  if (*o.tenant_list) {
    auto list = tenants.list_tenants();
    if (!list) return store_error(list.error());
    if (o.json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& t : *list) {
        const auto info = tenancy.tenant(t.name);
        out.push_back({{"name", t.name},
                       {"display_name", info.display_name},
                       {"language", info.language},
                       {"superuser_groups", info.superuser_groups},
                       {"configured", cfg.find_tenant(t.name) != nullptr},
                       {"created_at", config::format_rfc3339(t.created_at)}});
      }
      std::cout << dump(out) << "\n";
      return kOk;
    }
    for (const auto& t : *list) {
      const auto info = tenancy.tenant(t.name);
      std::cout << printable(t.name);
      if (info.display_name != t.name) std::cout << "\t" << printable(info.display_name);
      std::cout << "\n";
    }
    return kOk;
  }
  if (*o.superuser_add || *o.superuser_remove) {
    auto user = parse_user(cfg, o.user);
    if (!user) return kUsage;
    const bool add = o.superuser_add->parsed();
    auto changed = add ? db.add_superuser(o.tenant, *user, now) : db.remove_superuser(o.tenant, *user);
    if (!changed) return store_error(changed.error());
    const std::string who = tenancy::user_text(*user);
    if (!*changed) {
      std::cout << printable(who) << (add ? " is already" : " was not") << " a superuser of " << o.tenant << "\n";
      return kOk;
    }
    std::cout << printable(who) << (add ? " is now a superuser of " : " is no longer a superuser of ") << o.tenant
              << "\n";
    auto event = admin_event(add ? auth::AuditEventType::tenant_superuser_added
                                 : auth::AuditEventType::tenant_superuser_removed,
                             user->name, "tenant " + o.tenant + ", user " + who + ", by " + admin_name());
    return audited(audit, event);
  }
  if (*o.superuser_list) {
    auto named = db.list_superusers(o.tenant);
    if (!named) return store_error(named.error());
    for (const auto& u : *named) std::cout << printable(tenancy::user_text(u)) << "\n";
    const auto info = tenancy.tenant(o.tenant);
    for (const auto& g : info.superuser_groups) std::cout << "members of group " << printable(g) << "\n";
    return kOk;
  }
  if (*o.grant) {
    tenancy::GrantRequest r;
    r.tenant = o.tenant;
    r.email = o.email;
    r.no_end = o.no_end;
    r.granted_by = "cli";
    if (!o.until.empty()) {
      r.until = config::parse_rfc3339(o.until);
      if (!r.until) {
        std::cerr << "gatehouse: --until is an RFC 3339 time, e.g. 2026-12-31T18:00:00Z\n";
        return kUsage;
      }
    }
    auto d = tenancy.grant(r);
    if (!d) {
      if (d.error().code.starts_with("tenancy.")) {
        std::cerr << "gatehouse: " << d.error().message << "\n";
        return kUsage;
      }
      return store_error(d.error());
    }
    std::cout << d->id << "\n";
    std::cerr << "delegation " << d->id << " of " << d->tenant << " to " << d->email << ", "
              << (d->until == 0 ? std::string("no end") : "until " + config::format_rfc3339(d->until))
              << "; an invitation e-mail is queued\n";
    return kOk;
  }
  if (*o.revoke) {
    auto changed = tenancy.revoke(o.id, "cli " + admin_name(), std::nullopt);
    if (!changed) return store_error(changed.error());
    std::cout << "delegation " << o.id << (*changed ? " revoked\n" : " was already revoked\n");
    return kOk;
  }
  if (*o.delegation_list) {
    std::string email = o.email;
    if (!email.empty()) {
      std::string why;
      auto normal = normal_email(email, &why);
      if (!normal) {
        std::cerr << "gatehouse: --email: " << why << "\n";
        return kUsage;
      }
      email = *normal;
    }
    auto list = db.list_delegations({o.tenant, email});
    if (!list) return store_error(list.error());
    if (o.json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& d : *list)
        out.push_back({{"id", d.id},
                       {"tenant", d.tenant},
                       {"email", d.email},
                       {"granted_by", d.granted_by},
                       {"created", config::format_rfc3339(d.created_at)},
                       {"until", d.until == 0 ? nlohmann::json(nullptr) : nlohmann::json(config::format_rfc3339(d.until))},
                       {"revoked", d.revoked_at == 0 ? nlohmann::json(nullptr)
                                                     : nlohmann::json(config::format_rfc3339(d.revoked_at))},
                       {"state", state_name(d, now)}});
      std::cout << dump(out) << "\n";
      return kOk;
    }
    std::printf("%-6s %-16s %-32s %-8s %-21s %-21s %s\n", "ID", "TENANT", "EMAIL", "STATE", "CREATED", "UNTIL",
                "GRANTED BY");
    for (const auto& d : *list)
      std::printf("%-6lld %-16s %-32s %-8s %-21s %-21s %s\n", static_cast<long long>(d.id), printable(d.tenant).c_str(),
                  printable(d.email).c_str(), state_name(d, now).c_str(),
                  config::format_rfc3339(d.created_at).c_str(), time_or(d.until, "no end").c_str(),
                  printable(d.granted_by).c_str());
    return kOk;
  }
  if (*o.usage_report) {
    store::UsageQuery q;
    q.tenant = o.tenant;
    for (auto [text, day, name] : {std::tuple{&o.since, &q.since_day, "--since"}, std::tuple{&o.until, &q.until_day, "--until"}}) {
      if (text->empty()) continue;
      auto t = config::parse_rfc3339(*text);
      if (!t) {
        std::cerr << "gatehouse: " << name << " is an RFC 3339 time, e.g. 2026-12-01T00:00:00Z\n";
        return kUsage;
      }
      *day = config::format_rfc3339(*t).substr(0, 10);
    }
    auto rows = db.usage_report(q);
    if (!rows) return store_error(rows.error());
    if (o.json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& r : *rows)
        out.push_back({{"day", r.day},
                       {"effective_party", r.effective_party},
                       {"route", r.route},
                       {"requests", r.requests},
                       {"delegated_requests", r.delegated_requests}});
      std::cout << dump(out) << "\n";
    } else if (o.csv) {
      std::cout << "day,effective_party,route,requests,delegated_requests\r\n";
      for (const auto& r : *rows)
        std::cout << r.day << ',' << csv_field(r.effective_party) << ',' << csv_field(r.route) << ',' << r.requests
                  << ',' << r.delegated_requests << "\r\n";
    } else {
      std::printf("%-10s %-20s %-30s %10s %10s\n", "DAY", "EFFECTIVE PARTY", "ROUTE", "REQUESTS", "DELEGATED");
      for (const auto& r : *rows)
        std::printf("%-10s %-20s %-30s %10lld %10lld\n", r.day.c_str(), printable(r.effective_party).c_str(),
                    printable(r.route).c_str(), static_cast<long long>(r.requests),
                    static_cast<long long>(r.delegated_requests));
    }
    return kOk;
  }
  if (*o.outbox_list) {
    auto pending = db.list_outbox_pending();
    if (!pending) return store_error(pending.error());
    if (o.json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& m : *pending)
        out.push_back({{"id", m.id},
                       {"created", config::format_rfc3339(m.created_at)},
                       {"recipient", m.recipient},
                       {"kind", m.kind},
                       {"language", m.language},
                       {"attempts", m.attempts},
                       {"next_attempt", config::format_rfc3339(m.next_attempt_at)},
                       {"last_error", m.last_error}});
      std::cout << dump(out) << "\n";
      return kOk;
    }
    if (pending->empty()) std::cout << "no e-mail is waiting\n";
    for (const auto& m : *pending)
      std::cout << m.id << "  " << config::format_rfc3339(m.created_at) << "  " << printable(m.kind) << " to "
                << printable(m.recipient) << "  attempts " << m.attempts << ", next "
                << config::format_rfc3339(m.next_attempt_at)
                << (m.last_error.empty() ? std::string() : ", last error: " + printable(m.last_error)) << "\n";
    return kOk;
  }
  return std::nullopt;
}

}  // namespace gatehouse::daemon
