#include "daemon/cli.h"

#include <pwd.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "auth/audit.h"
#include "common/encoding.h"
#include "crypto/keys.h"
#include "auth/lockout.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/text.h"
#include "config/config.h"
#include "daemon/cli_common.h"
#include "daemon/cli_tenancy.h"
#include "daemon/cli_vault.h"
#include "vault/vault.h"
#include "daemon/echo_app.h"
#include "daemon/server.h"
#include "directory/local_directory.h"
#include "store/database.h"
#include "tenancy/tenancy.h"

namespace gatehouse::daemon {
namespace {

using namespace cli;

struct LoadedConfig {
  std::shared_ptr<const config::Config> config;
  int exit_code = kOk;
};

LoadedConfig load(const std::string& path) {
  if (path.empty()) {
    std::cerr << "gatehouse: --config FILE is required for this command\n";
    return {nullptr, kUsage};
  }
  auto r = config::load_config(path);
  if (!r.errors.empty()) {
    for (const auto& e : r.errors) std::cerr << e.to_string() << "\n";
    return {nullptr, kUsage};
  }
  return {r.config, kOk};
}

std::unique_ptr<store::Database> open_store(const config::Config& cfg, int& exit_code) {
  auto s = store::open_database(cfg.store);
  if (!s) {
    std::cerr << "gatehouse: " << s.error().message << "\n";
    exit_code = kFailure;
    return nullptr;
  }
  return std::move(s.value());
}

// Before serving: from here on every line is written as [log] asks. Config errors
// were printed before this, as plain FILE:LINE: message lines.
void apply_log_config(const config::LogConfig& c) {
  log::set_format(c.format);
  log::set_min_level(c.level);
}

std::optional<Secret> password_from_stdin() {
  std::string line;
  if (!std::getline(std::cin, line)) {
    std::cerr << "gatehouse: --password-stdin given but nothing could be read from standard input\n";
    return std::nullopt;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  Secret s(std::move(line));
  if (s.empty()) {
    std::cerr << "gatehouse: the password read from standard input is empty\n";
    return std::nullopt;
  }
  return s;
}

Secret generated_password() { return Secret(base64url_encode(random_bytes(15))); }

// "10.0.0.0/8", "192.0.2.7", "2001:db8::/32": meant as a network, whether valid or not.
bool looks_like_network(std::string_view s) {
  if (s.find('/') != std::string_view::npos) return true;
  bool digits_and_dots = !s.empty(), has_dot = false;
  for (char c : s) {
    if (c == '.')
      has_dot = true;
    else if (c < '0' || c > '9')
      digits_and_dots = false;
  }
  if (digits_and_dots && has_dot) return true;
  if (s.find(':') == std::string_view::npos) return false;
  for (char c : s) {
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex && c != ':' && c != '.') return false;
  }
  return true;
}

// A whitelist entry or unlock target as typed: a network, or a user name.
struct Target {
  std::optional<Cidr> network;
  std::string user;  // trimmed
};

std::optional<Target> parse_target(const std::string& value) {
  const std::string_view v = trim_blanks(value);
  if (looks_like_network(v)) {
    auto network = Cidr::parse(v);
    if (!network) {
      std::cerr << "gatehouse: \"" << printable(v)
                << "\" is not a valid IP address or CIDR network (write e.g. 10.0.0.0/8, "
                   "192.0.2.7 or 2001:db8::/32)\n";
      return std::nullopt;
    }
    return Target{network, ""};
  }
  if (v.empty() || v.size() > 256) {
    std::cerr << "gatehouse: a user name is 1 to 256 characters\n";
    return std::nullopt;
  }
  return Target{std::nullopt, std::string(v)};
}

int run_lockout_list(auth::Lockout& lockout) {
  auto locks = lockout.locks();
  if (!locks) return store_error(locks.error());
  auto throttled = lockout.throttled_addresses();
  if (!throttled) return store_error(throttled.error());
  if (locks->empty()) {
    std::cout << "no locked users\n";
  } else {
    std::printf("%-24s %-21s %-21s %-16s %s\n", "LOCKED USER", "SINCE", "UNTIL", "LAST CLIENT",
                "REASON");
    for (const auto& l : *locks)
      std::printf("%-24s %-21s %-21s %-16s %s\n", printable(l.account).c_str(),
                  config::format_rfc3339(l.since).c_str(),
                  time_or(l.until, "unlocked by an admin").c_str(),
                  printable(l.last_client).c_str(), printable(l.reason).c_str());
  }
  if (throttled->empty()) {
    std::cout << "no throttled addresses\n";
  } else {
    std::printf("%-40s %-21s %-21s %s\n", "THROTTLED ADDRESS", "FIRST FAILURE", "UNTIL", "REASON");
    for (const auto& a : *throttled)
      std::printf("%-40s %-21s %-21s %lld failed logins within %s\n", a.address.c_str(),
                  config::format_rfc3339(a.first_failure).c_str(),
                  config::format_rfc3339(a.until).c_str(), static_cast<long long>(a.failures),
                  config::format_duration(lockout.config().window).c_str());
  }
  return kOk;
}

int run_lockout_unlock(auth::Lockout& lockout, auth::Audit& audit, const std::string& value) {
  const std::string admin = admin_name();
  if (auto address = IpAddress::parse(value)) {
    auto forgotten = lockout.unblock_address(*address);
    if (!forgotten) return store_error(forgotten.error());
    if (*forgotten == 0) {
      std::cout << "address " << address->to_string() << " had no recent failed logins\n";
      return kOk;
    }
    std::cout << "address " << address->to_string() << " unblocked (" << *forgotten
              << " failed logins forgotten)\n";
    auto e =
        admin_event(auth::AuditEventType::lockout_unlocked, "", "address unblocked by " + admin);
    e.client = address;
    return audited(audit, e);
  }
  auto target = parse_target(value);
  if (!target) return kUsage;
  if (target->network) {
    std::cerr << "gatehouse: lockout unlock takes a user name or one IP address, not a network\n";
    return kUsage;
  }
  auto unlocked = lockout.unlock(target->user);
  if (!unlocked) return store_error(unlocked.error());
  const std::string key = printable(auth::account_key(target->user));
  if (!*unlocked) {
    std::cout << "user " << key << " was not locked (its failed logins were forgotten)\n";
    return kOk;
  }
  std::cout << "user " << key << " unlocked\n";
  return audited(audit, admin_event(auth::AuditEventType::lockout_unlocked, target->user,
                                    "unlocked by " + admin));
}

// Whether a local user counts against the same account as `user`.
Result<bool> local_user_known(store::UserStore& users, const std::string& user) {
  auto list = users.list_users();
  if (!list) return list.error();
  const std::string key = auth::account_key(user);
  for (const auto& u : *list)
    if (auth::account_key(u.name) == key) return true;
  return false;
}

int run_whitelist_change(bool add, auth::Lockout& lockout, auth::Audit& audit,
                         store::UserStore& users, const std::string& value,
                         const std::string& comment) {
  auto target = parse_target(value);
  if (!target) return kUsage;
  const std::string admin = admin_name();
  const auto type =
      add ? auth::AuditEventType::whitelist_added : auth::AuditEventType::whitelist_removed;
  if (target->network) {
    const std::string text = target->network->to_string();
    auto change = add ? lockout.whitelist_network(*target->network, admin, comment)
                      : lockout.unwhitelist_network(*target->network);
    if (!change) return store_error(change.error());
    if (!change->changed) {
      std::cout << "network " << text
                << (add ? " is already on the whitelist\n" : " was not on the whitelist\n");
      return kOk;
    }
    std::cout << "network " << text
              << (add ? " added to the whitelist\n" : " removed from the whitelist\n");
    return audited(audit, admin_event(type, "", "network " + text + " by " + admin));
  }

  const std::string key = auth::account_key(target->user);
  auto change = add ? lockout.whitelist_user(target->user, admin, comment)
                    : lockout.unwhitelist_user(target->user);
  if (!change) return store_error(change.error());
  if (add) {
    auto known = local_user_known(users, target->user);
    if (!known) return store_error(known.error());
    if (!*known)
      std::cout << "note: no local user \"" << printable(target->user)
                << "\"; the entry applies to that name in any directory\n";
  }
  if (!change->changed) {
    std::cout << "user " << printable(key)
              << (add ? " is already on the whitelist\n" : " was not on the whitelist\n");
    return kOk;
  }
  std::cout << "user " << printable(key)
            << (add ? " added to the whitelist\n" : " removed from the whitelist\n");
  int code = audited(audit, admin_event(type, target->user, "by " + admin));
  if (change->unlocked) {
    std::cout << "user " << printable(key) << " was locked and is unblocked\n";
    code = std::max(code, audited(audit, admin_event(auth::AuditEventType::lockout_unlocked,
                                                     target->user, "whitelisted by " + admin)));
  }
  return code;
}

int run_whitelist_list(auth::Lockout& lockout) {
  auto list = lockout.whitelist();
  if (!list) return store_error(list.error());
  if (list->empty()) {
    std::cout << "the whitelist is empty\n";
    return kOk;
  }
  std::printf("%-8s %-40s %-21s %-20s %s\n", "KIND", "ENTRY", "ADDED", "BY", "COMMENT");
  for (const auto& e : *list)
    std::printf("%-8s %-40s %-21s %-20s %s\n",
                e.kind == store::WhitelistKind::user ? "user" : "network",
                printable(e.value).c_str(), config::format_rfc3339(e.added_at).c_str(),
                printable(e.added_by).c_str(), printable(e.comment).c_str());
  return kOk;
}

struct AuditListOptions {
  std::string user;
  std::string since;
  std::string event;
  bool json = false;
  std::int64_t limit = 100;
  std::int64_t before = 0;
};

int run_audit_list(store::AuditStore& store, const AuditListOptions& o) {
  store::AuditQuery q;
  if (!o.user.empty()) q.account = auth::account_key(o.user);
  if (!o.since.empty()) {
    q.since = config::parse_rfc3339(o.since);
    if (!q.since) {
      std::cerr << "gatehouse: --since \"" << printable(o.since)
                << "\" is not an RFC 3339 time (write e.g. 2024-05-01T00:00:00Z or "
                   "2024-05-01T02:00:00+02:00)\n";
      return kUsage;
    }
  }
  if (!o.event.empty()) {
    if (!auth::parse_event_name(o.event)) {
      std::cerr << "gatehouse: --event \"" << printable(o.event) << "\" is not one of";
      for (auto t : auth::all_audit_event_types()) std::cerr << " " << auth::event_name(t);
      std::cerr << "\n";
      return kUsage;
    }
    q.event = o.event;
  }
  q.limit = o.limit;
  q.before_id = o.before;
  auto records = store.list_audit(q);
  if (!records) return store_error(records.error());

  if (o.json) {
    auto out = nlohmann::json::array();
    for (const auto& r : *records)
      out.push_back({{"id", r.id},
                     {"time", config::format_rfc3339(r.at)},
                     {"unix_time", r.at},
                     {"event", r.event},
                     {"user", r.user},
                     {"client", r.client},
                     {"source", r.source},
                     {"route", r.route},
                     {"detail", r.detail}});
    // Names typed at the login form need not be UTF-8; replace what is not.
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kOk;
  }
  if (records->empty()) {
    std::cout << "no audit records\n";
    return kOk;
  }
  std::printf("%-8s %-21s %-18s %-24s %-16s %-10s %-16s %s\n", "ID", "TIME", "EVENT", "USER",
              "CLIENT", "SOURCE", "ROUTE", "DETAIL");
  for (const auto& r : *records)
    std::printf("%-8lld %-21s %-18s %-24s %-16s %-10s %-16s %s\n", static_cast<long long>(r.id),
                config::format_rfc3339(r.at).c_str(), r.event.c_str(), printable(r.user).c_str(),
                r.client.c_str(), printable(r.source).c_str(), printable(r.route).c_str(),
                printable(r.detail).c_str());
  if (static_cast<std::int64_t>(records->size()) == o.limit)
    std::cerr << "(newest " << records->size() << " shown; older ones: --before "
              << records->back().id << ")\n";
  return kOk;
}

// `user list`: local users with their last login, last failure and lock state.
int run_user_list(store::Database& db, auth::Lockout& lockout) {
  auto list = db.list_users();
  if (!list) return store_error(list.error());
  auto locks = lockout.locks();
  if (!locks) return store_error(locks.error());
  auto whitelist = lockout.whitelist();
  if (!whitelist) return store_error(whitelist.error());
  std::map<std::string, store::AccountLock> locked;
  for (auto& l : *locks) locked.emplace(l.account, l);
  std::set<std::string> whitelisted;
  for (const auto& e : *whitelist)
    if (e.kind == store::WhitelistKind::user) whitelisted.insert(e.value);

  std::printf("%-24s %-16s %-32s %-24s %-9s %-21s %-21s %s\n", "NAME", "TENANT", "EMAIL", "GROUPS",
              "STATUS", "LAST LOGIN", "LAST FAILURE", "LOCK");
  for (const auto& u : *list) {
    const std::string key = auth::account_key(u.name);
    auto summary = db.login_summary(key);
    if (!summary) return store_error(summary.error());
    std::string lock = "-";
    if (auto it = locked.find(key); it != locked.end())
      lock = it->second.until == 0 ? "locked"
                                   : "locked until " + config::format_rfc3339(it->second.until);
    else if (whitelisted.count(key) != 0)
      lock = "whitelisted";
    std::printf("%-24s %-16s %-32s %-24s %-9s %-21s %-21s %s\n", u.name.c_str(), u.tenant.c_str(),
                u.email.c_str(), join(u.groups, ",").c_str(), u.disabled ? "disabled" : "enabled",
                time_or(summary->last_success, "never").c_str(),
                time_or(summary->last_failure, "never").c_str(), lock.c_str());
  }
  return kOk;
}

// Binds port 0 briefly to find a free port for the demo, so the URL printed and the
// assertion issuer agree with the address the daemon then listens on.
std::uint16_t free_port(const std::string& host) {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address(host), 0));
  return a.local_endpoint().port();
}

int run_demo(std::string listen) {
  if (sodium_init() < 0) return kFailure;
  auto addr = config::ListenAddress::parse(listen);
  if (!addr) {
    std::cerr << "gatehouse: --listen \"" << listen << "\" is not HOST:PORT\n";
    return kUsage;
  }
  if (addr->port == 0) addr->port = free_port(addr->host);
  const bool v6 = addr->host.find(':') != std::string::npos;
  const std::string hostport = (v6 ? "[" + addr->host + "]" : addr->host) + ":" + std::to_string(addr->port);

  char tmpl[] = "/tmp/gatehouse-demo-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    std::cerr << "gatehouse: cannot create a temporary state directory\n";
    return kFailure;
  }
  const std::filesystem::path dir = tmpl;
  struct Cleanup {
    std::filesystem::path dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{dir};

  EchoApp echo;
  const std::string echo_url = "http://127.0.0.1:" + std::to_string(echo.port());
  std::ostringstream toml;
  toml << "# gatehouse demo configuration (temporary; removed when the demo stops)\n"
       << "[server]\nlisten = \"" << hostport << "\"\npublic_url = \"http://"
       << (addr->host == "0.0.0.0" ? "127.0.0.1:" + std::to_string(addr->port) : hostport) << "\"\n\n"
       << "[store]\npath = \"" << (dir / "gatehouse.db").string() << "\"\n\n"
       << "[keys]\nmaster_key_file = \"" << (dir / "master.key").string() << "\"\n\n"
       << "[session]\nidle_timeout = \"30m\"\nabsolute_timeout = \"12h\"\n\n"
       << "[[directory]]\nname = \"local\"\nkind = \"local\"\n\n"
       << "[[tenant]]\nname = \"acme\"\ndisplay_name = \"Acme Ltd\"\nsuperuser_groups = [\"admins\"]\n\n"
       << "[[tenant]]\nname = \"globex\"\ndisplay_name = \"Globex Consulting\"\nsuperuser_groups = [\"admins\"]\n\n"
       << "[[route]]\npath_prefix = \"/public\"\nupstream = \"" << echo_url << "\"\npublic = true\n\n"
       << "[[route]]\npath_prefix = \"/acme\"\nupstream = \"" << echo_url << "\"\ntenants = [\"acme\"]\n\n"
       << "[[route]]\npath_prefix = \"/api\"\nupstream = \"" << echo_url
       << "\"\ninject_secret = { header = \"Authorization\", secret = \"api-token\", format = \"Bearer {}\" }\n\n"
       << "[[route]]\npath_prefix = \"/\"\nupstream = \"" << echo_url << "\"\n";
  const auto config_path = dir / "gatehouse.toml";
  {
    std::ofstream out(config_path);
    out << toml.str();
  }
  auto loaded = config::load_config(config_path.string());
  if (!loaded.errors.empty()) {
    for (const auto& e : loaded.errors) std::cerr << e.to_string() << "\n";
    return kFailure;
  }
  struct DemoUser {
    const char* name;
    const char* tenant;
    const char* display;
    std::vector<std::string> groups;
  };
  const std::vector<DemoUser> users = {
      {"alice", "acme", "Alice Anders", {"staff", "admins"}},
      {"bob", "acme", "Bob Berger", {"staff"}},
      {"carol", "globex", "Carol Conti", {"consultants"}},
  };
  std::vector<std::pair<std::string, Secret>> logins;
  {
    int code = kOk;
    auto db = open_store(*loaded.config, code);
    if (!db) return code;
    if (auto st = tenancy::sync_configured_tenants(*loaded.config, *db, std::time(nullptr)); !st)
      return store_error(st.error());
    for (const auto& u : users) {
      Secret pw = generated_password();
      auto hash = directory::hash_password(pw);
      if (!hash) return store_error(hash.error());
      store::User rec{u.name, u.tenant, std::string(u.name) + "@" + u.tenant + ".example",
                      u.display, u.groups, *hash, false, std::time(nullptr)};
      if (auto st = db->add_user(rec); !st) return store_error(st.error());
      logins.emplace_back(u.name, std::move(pw));
    }
    // Carol, a consultant of Globex, may act for Acme: the switcher and the banner.
    store::Delegation d;
    d.tenant = "acme";
    d.email = "carol@globex.example";
    d.granted_by = "demo";
    d.created_at = std::time(nullptr);
    if (auto id = db->add_delegation(d); !id) return store_error(id.error());
    // Each organisation's own API token, handed to /api for whoever acts for it.
    auto ring = crypto::load_keyring(loaded.config->keys.master_key_file, {});
    if (!ring) return store_error(ring.error());
    SystemClock clock;
    vault::Vault vault(*db, *db, std::make_shared<const crypto::Keyring>(std::move(ring.value())), clock);
    for (const char* tenant : {"acme", "globex"})
      if (auto v = vault.set(tenant, "api-token", Secret(std::string("demo-token-of-") + tenant), "demo"); !v)
        return store_error(v.error());
  }
  ServeHooks hooks;
  hooks.on_listening = [&](const std::string&) {
    std::cout << "\ngatehouse demo is running.\n\n  Open  http://" << hostport << "/\n\n"
              << "  Demo logins (tenant in brackets):\n";
    for (std::size_t i = 0; i < logins.size(); ++i)
      std::cout << "    " << logins[i].first << " / " << logins[i].second.reveal() << "   ("
                << users[i].tenant << ")\n";
    std::cout << "\n  carol (Globex) holds a delegation from Acme: after signing in she can switch at\n"
              << "    http://" << hostport << "/.gatehouse/parties   and then open  http://" << hostport
              << "/acme  (Acme only)\n"
              << "  alice manages Acme's delegations at  http://" << hostport << "/.gatehouse/delegations\n"
              << "    and its secrets at  http://" << hostport << "/.gatehouse/secrets\n"
              << "  /api receives the API token of the organisation you act for (Authorization header):\n"
              << "    http://" << hostport << "/api   (carol gets Globex's, or Acme's once switched)\n"
              << "\n  Public page (no login):  http://" << hostport << "/public\n"
              << "  Who am I (JSON):         http://" << hostport << "/.gatehouse/whoami\n"
              << "  Signing keys (JWKS):     http://" << hostport << "/.gatehouse/jwks.json\n"
              << "  Configuration used:      " << config_path.string() << "\n\n"
              << "Press Ctrl-C to stop; the temporary state is removed.\n"
              << std::flush;
  };
  apply_log_config(loaded.config->log);
  return serve(loaded.config, hooks);
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{"gatehouse: an identity gateway. It fronts web applications as a reverse proxy,\n"
               "authenticates users and tells the applications who they are."};
  app.set_version_flag("--version", std::string("gatehouse ") + GATEHOUSE_VERSION);
  app.require_subcommand(1);
  std::string config_path;
  app.add_option("--config,-c", config_path, "configuration file (TOML)");
  app.fallthrough();

  auto* serve_cmd = app.add_subcommand("serve", "run the daemon in the foreground (systemd Type=notify)");
  serve_cmd->fallthrough();

  std::string demo_listen = "127.0.0.1:8080";
  auto* demo_cmd = app.add_subcommand("demo", "self-contained demo with local users and an echo application");
  demo_cmd->add_option("--listen", demo_listen, "address to listen on")->capture_default_str();

  auto* config_cmd = app.add_subcommand("config", "configuration tools");
  config_cmd->fallthrough();
  config_cmd->require_subcommand(1);
  auto* check_cmd = config_cmd->add_subcommand("check", "validate the configuration file");
  check_cmd->fallthrough();

  auto* keys_cmd = app.add_subcommand("keys", "master key");
  keys_cmd->fallthrough();
  keys_cmd->require_subcommand(1);
  auto* keys_init = keys_cmd->add_subcommand("init", "create [keys] master_key_file if absent");
  keys_init->fallthrough();

  auto* user_cmd = app.add_subcommand("user", "users of the local directory");
  user_cmd->fallthrough();
  user_cmd->require_subcommand(1);
  std::string user_name, user_tenant, user_email, user_display;
  std::vector<std::string> user_groups;
  bool password_stdin = false;
  auto* user_add = user_cmd->add_subcommand("add", "add a user");
  user_add->fallthrough();
  user_add->add_option("NAME", user_name, "user name")->required();
  user_add->add_option("--tenant", user_tenant, "home tenant (real party)")->required();
  user_add->add_option("--email", user_email, "e-mail address");
  user_add->add_option("--name", user_display, "display name");
  user_add->add_option("--group", user_groups, "group (repeatable)");
  user_add->add_flag("--password-stdin", password_stdin, "read the password from standard input");
  auto* user_list = user_cmd->add_subcommand("list", "list users");
  user_list->fallthrough();
  auto* user_passwd = user_cmd->add_subcommand("passwd", "set a new password (ends the user's sessions)");
  user_passwd->fallthrough();
  user_passwd->add_option("NAME", user_name, "user name")->required();
  user_passwd->add_flag("--password-stdin", password_stdin, "read the password from standard input");
  auto* user_disable = user_cmd->add_subcommand("disable", "refuse logins (ends the user's sessions)");
  user_disable->fallthrough();
  user_disable->add_option("NAME", user_name, "user name")->required();
  auto* user_enable = user_cmd->add_subcommand("enable", "allow logins again");
  user_enable->fallthrough();
  user_enable->add_option("NAME", user_name, "user name")->required();

  TenancyCommands tenancy_commands(app);
  VaultCommands vault_commands(app, *keys_cmd);

  auto* lockout_cmd = app.add_subcommand("lockout", "locked users and throttled addresses");
  lockout_cmd->fallthrough();
  lockout_cmd->require_subcommand(1);
  auto* lockout_list = lockout_cmd->add_subcommand(
      "list", "locked users and throttled addresses, with why and until when");
  lockout_list->fallthrough();
  std::string unlock_target;
  auto* lockout_unlock =
      lockout_cmd->add_subcommand("unlock", "lift a user's lock (or forget an address's failures)");
  lockout_unlock->fallthrough();
  lockout_unlock->add_option("USER", unlock_target, "user name, or an IP address")->required();

  auto* whitelist_cmd =
      app.add_subcommand("whitelist", "users and networks that are never locked or throttled");
  whitelist_cmd->fallthrough();
  whitelist_cmd->require_subcommand(1);
  std::string whitelist_value, whitelist_comment;
  auto* whitelist_add =
      whitelist_cmd->add_subcommand("add", "whitelist a user (unblocking it) or a network");
  whitelist_add->fallthrough();
  whitelist_add->add_option("USER|CIDR", whitelist_value, "user name, IP address or CIDR network")
      ->required();
  whitelist_add->add_option("--comment", whitelist_comment, "why, for whitelist list");
  auto* whitelist_remove =
      whitelist_cmd->add_subcommand("remove", "take a user or network off the whitelist");
  whitelist_remove->fallthrough();
  whitelist_remove
      ->add_option("USER|CIDR", whitelist_value, "user name, IP address or CIDR network")
      ->required();
  auto* whitelist_list = whitelist_cmd->add_subcommand("list", "list the whitelist");
  whitelist_list->fallthrough();

  auto* audit_cmd = app.add_subcommand("audit", "the audit log");
  audit_cmd->fallthrough();
  audit_cmd->require_subcommand(1);
  AuditListOptions audit_options;
  auto* audit_list = audit_cmd->add_subcommand("list", "audit records, newest first");
  audit_list->fallthrough();
  audit_list->add_option("--user", audit_options.user, "only this user (any form of the name)");
  audit_list->add_option("--since", audit_options.since,
                         "only records at or after this RFC 3339 time");
  audit_list->add_option("--event", audit_options.event, "only this event, e.g. login.failure");
  audit_list->add_flag("--json", audit_options.json, "a JSON array instead of a table");
  audit_list->add_option("--limit", audit_options.limit, "at most this many records")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1'000'000}))
      ->capture_default_str();
  audit_list
      ->add_option("--before", audit_options.before,
                   "only records older than this id (the next page)")
      ->check(CLI::PositiveNumber);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kUsage;
  }

  if (*demo_cmd) return run_demo(demo_listen);

  auto loaded = load(config_path);
  if (!loaded.config) return loaded.exit_code;
  const auto& cfg = *loaded.config;

  if (*check_cmd) {
    std::cout << config_path << ": OK (" << cfg.routes.size() << " route(s), " << cfg.directories.size()
              << " directory(ies))\n";
    return kOk;
  }
  if (*serve_cmd) {
    apply_log_config(cfg.log);
    return serve(loaded.config);
  }
  if (*keys_init) {
    auto key = crypto::MasterKey::load_or_create(cfg.keys.master_key_file);
    if (!key) {
      std::cerr << "gatehouse: " << key.error().message << "\n";
      return kFailure;
    }
    std::cout << "master key ready: "
              << (cfg.keys.master_key_file.empty() ? "$CREDENTIALS_DIRECTORY/master.key" : cfg.keys.master_key_file)
              << "\n";
    return kOk;
  }

  int code = kOk;
  auto db = open_store(cfg, code);
  if (!db) return code;
  // [[tenant]] tables are in the store before any command names one.
  if (auto st = tenancy::sync_configured_tenants(cfg, *db, std::time(nullptr)); !st) return store_error(st.error());
  // Admin commands report on stdout; their audit records need no second copy on stderr.
  log::set_min_level(log::Level::warning);
  SystemClock clock;
  auth::Lockout lockout(cfg.lockout, *db, clock);
  auth::Audit audit(cfg.audit, *db, clock);

  if (*lockout_list) return run_lockout_list(lockout);
  if (*lockout_unlock) return run_lockout_unlock(lockout, audit, unlock_target);
  if (*whitelist_add || *whitelist_remove)
    return run_whitelist_change(whitelist_add->parsed(), lockout, audit, *db, whitelist_value,
                                whitelist_comment);
  if (*whitelist_list) return run_whitelist_list(lockout);
  if (*audit_list) return run_audit_list(*db, audit_options);

  if (auto code = tenancy_commands.run(loaded.config, *db, *db, *db, *db)) return *code;
  if (auto code = vault_commands.run(cfg, *db, *db, *db, *db)) return *code;
  // Local names are case-insensitive: act on the user as stored ("Alice" -> "alice"), so
  // its sessions (which carry the stored name) are ended too.
  if (*user_passwd || *user_disable || *user_enable) {
    auto found = db->find_user(user_name);
    if (!found) return store_error(found.error());
    if (found->has_value()) user_name = (*found)->name;
  }
  if (*user_add || *user_passwd) {
    if (*user_add && (user_name.empty() || user_name.size() > 256 ||
                      user_name.find_first_of(" \t\r\n") != std::string::npos)) {
      std::cerr << "gatehouse: a user name is 1 to 256 characters without spaces\n";
      return kUsage;
    }
    std::optional<Secret> pw;
    bool generated = false;
    if (password_stdin) {
      pw = password_from_stdin();
      if (!pw) return kUsage;
    } else {
      pw = generated_password();
      generated = true;
    }
    auto hash = directory::hash_password(*pw);
    if (!hash) return store_error(hash.error());
    const std::string admin = admin_name();
    auth::AuditEvent event;
    if (*user_add) {
      store::User u{user_name, user_tenant, user_email, user_display, user_groups, *hash, false,
                    std::time(nullptr)};
      if (auto st = db->add_user(u); !st) return store_error(st.error());
      std::cout << "user " << user_name << " added to tenant " << user_tenant << "\n";
      event = admin_event(auth::AuditEventType::user_added, user_name,
                          "tenant " + user_tenant + (generated ? ", generated password" : "") + " by " + admin);
    } else {
      if (auto st = db->set_password_hash(user_name, *hash); !st) return store_error(st.error());
      (void)db->delete_user_sessions(user_name);
      std::cout << "password of " << user_name << " changed; their sessions were ended\n";
      event = admin_event(auth::AuditEventType::user_password_changed, user_name,
                          std::string(generated ? "generated password" : "password from stdin") +
                              ", sessions ended, by " + admin);
    }
    // The password is shown even when the audit record fails: the change has happened.
    if (generated) std::cout << "generated password (shown once): " << pw->reveal() << "\n";
    return audited(audit, event);
  }
  if (*user_list) return run_user_list(*db, lockout);
  if (*user_disable || *user_enable) {
    const bool disable = user_disable->parsed();
    if (auto st = db->set_disabled(user_name, disable); !st) return store_error(st.error());
    if (disable) (void)db->delete_user_sessions(user_name);
    std::cout << "user " << user_name << (disable ? " disabled; their sessions were ended\n" : " enabled\n");
    return audited(audit, admin_event(disable ? auth::AuditEventType::user_disabled : auth::AuditEventType::user_enabled,
                                      user_name, (disable ? "sessions ended, by " : "logins allowed again, by ") + admin_name()));
  }
  std::cerr << app.help();
  return kUsage;
}

}  // namespace gatehouse::daemon
