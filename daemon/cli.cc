#include "daemon/cli.h"

#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "auth/encoding.h"
#include "auth/keys.h"
#include "common/log.h"
#include "config/config.h"
#include "daemon/echo_app.h"
#include "daemon/server.h"
#include "directory/local_directory.h"
#include "store/sqlite_store.h"

namespace gatehouse::daemon {
namespace {

constexpr int kOk = 0;
constexpr int kFailure = 1;
constexpr int kUsage = 2;

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

std::unique_ptr<store::SqliteStore> open_store(const config::Config& cfg, int& exit_code) {
  auto s = store::SqliteStore::open(cfg.store.path);
  if (!s) {
    std::cerr << "gatehouse: " << s.error().message << "\n";
    exit_code = kFailure;
    return nullptr;
  }
  return std::move(s.value());
}

// A store error is bad input when it names something the admin typed.
int store_error(const Error& e) {
  std::cerr << "gatehouse: " << e.message << "\n";
  if (e.code == "store.no_tenant" || e.code == "store.not_found") return kUsage;
  return kFailure;
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

Secret generated_password() { return Secret(auth::base64url_encode(auth::random_bytes(15))); }

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
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
       << "[[route]]\npath_prefix = \"/public\"\nupstream = \"" << echo_url << "\"\npublic = true\n\n"
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
    for (const char* t : {"acme", "globex"})
      if (auto st = db->add_tenant({t, std::time(nullptr)}); !st) return store_error(st.error());
    for (const auto& u : users) {
      Secret pw = generated_password();
      auto hash = directory::hash_password(pw);
      if (!hash) return store_error(hash.error());
      store::User rec{u.name, u.tenant, std::string(u.name) + "@" + u.tenant + ".example",
                      u.display, u.groups, *hash, false, std::time(nullptr)};
      if (auto st = db->add_user(rec); !st) return store_error(st.error());
      logins.emplace_back(u.name, std::move(pw));
    }
  }
  ServeHooks hooks;
  hooks.on_listening = [&](const std::string&) {
    std::cout << "\ngatehouse demo is running.\n\n  Open  http://" << hostport << "/\n\n"
              << "  Demo logins (tenant in brackets):\n";
    for (std::size_t i = 0; i < logins.size(); ++i)
      std::cout << "    " << logins[i].first << " / " << logins[i].second.reveal() << "   ("
                << users[i].tenant << ")\n";
    std::cout << "\n  Public page (no login):  http://" << hostport << "/public\n"
              << "  Who am I (JSON):         http://" << hostport << "/.gatehouse/whoami\n"
              << "  Signing keys (JWKS):     http://" << hostport << "/.gatehouse/jwks.json\n"
              << "  Configuration used:      " << config_path.string() << "\n\n"
              << "Press Ctrl-C to stop; the temporary state is removed.\n"
              << std::flush;
  };
  return serve(loaded.config, hooks);
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{"gatehouse: an identity gateway. It fronts web applications as a reverse proxy,\n"
               "authenticates users and tells the applications who they are."};
  app.set_version_flag("--version", "gatehouse 0.1.0");
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

  auto* tenant_cmd = app.add_subcommand("tenant", "tenants (organisations)");
  tenant_cmd->fallthrough();
  tenant_cmd->require_subcommand(1);
  std::string tenant_name;
  auto* tenant_add = tenant_cmd->add_subcommand("add", "add a tenant");
  tenant_add->fallthrough();
  tenant_add->add_option("T", tenant_name, "tenant name")->required();
  auto* tenant_list = tenant_cmd->add_subcommand("list", "list tenants");
  tenant_list->fallthrough();

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
  if (*serve_cmd) return serve(loaded.config);
  if (*keys_init) {
    auto key = auth::MasterKey::load_or_create(cfg.keys.master_key_file);
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

  if (*tenant_add) {
    if (tenant_name.empty() || tenant_name.size() > 128) {
      std::cerr << "gatehouse: a tenant name is 1 to 128 characters\n";
      return kUsage;
    }
    if (auto st = db->add_tenant({tenant_name, std::time(nullptr)}); !st) return store_error(st.error());
    std::cout << "tenant " << tenant_name << " added\n";
    return kOk;
  }
  if (*tenant_list) {
    auto list = db->list_tenants();
    if (!list) return store_error(list.error());
    for (const auto& t : *list) std::cout << t.name << "\n";
    return kOk;
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
    if (*user_add) {
      store::User u{user_name, user_tenant, user_email, user_display, user_groups, *hash, false,
                    std::time(nullptr)};
      if (auto st = db->add_user(u); !st) return store_error(st.error());
      std::cout << "user " << user_name << " added to tenant " << user_tenant << "\n";
    } else {
      if (auto st = db->set_password_hash(user_name, *hash); !st) return store_error(st.error());
      (void)db->delete_user_sessions(user_name);
      std::cout << "password of " << user_name << " changed; their sessions were ended\n";
    }
    if (generated) std::cout << "generated password (shown once): " << pw->reveal() << "\n";
    return kOk;
  }
  if (*user_list) {
    auto list = db->list_users();
    if (!list) return store_error(list.error());
    std::printf("%-24s %-16s %-32s %-24s %s\n", "NAME", "TENANT", "EMAIL", "GROUPS", "STATUS");
    for (const auto& u : *list)
      std::printf("%-24s %-16s %-32s %-24s %s\n", u.name.c_str(), u.tenant.c_str(), u.email.c_str(),
                  join(u.groups, ",").c_str(), u.disabled ? "disabled" : "enabled");
    return kOk;
  }
  if (*user_disable || *user_enable) {
    const bool disable = user_disable->parsed();
    if (auto st = db->set_disabled(user_name, disable); !st) return store_error(st.error());
    if (disable) (void)db->delete_user_sessions(user_name);
    std::cout << "user " << user_name << (disable ? " disabled; their sessions were ended\n" : " enabled\n");
    return kOk;
  }
  std::cerr << app.help();
  return kUsage;
}

}  // namespace gatehouse::daemon
