#include "daemon/cli_vault.h"

#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/secret.h"
#include "crypto/keys.h"
#include "daemon/cli_common.h"
#include "vault/system_keys.h"
#include "vault/vault.h"

namespace gatehouse::daemon {

using namespace cli;

struct VaultCommands::Options {
  CLI::App* set = nullptr;
  CLI::App* list = nullptr;
  CLI::App* rm = nullptr;
  CLI::App* rotate = nullptr;
  CLI::App* rewrap = nullptr;
  std::string tenant, name;
  bool json = false;
};

namespace {

// The value from standard input, never from the command line (where `ps` and the shell
// history would show it). One trailing line end is not part of the value. From a
// terminal, the value is read without echo.
std::optional<Secret> value_from_stdin(const std::string& name) {
  const bool tty = ::isatty(STDIN_FILENO) == 1;
  termios saved{};
  if (tty) {
    std::cerr << "value of " << name << " (not shown; end with Enter): " << std::flush;
    if (::tcgetattr(STDIN_FILENO, &saved) == 0) {
      termios quiet = saved;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      (void)::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
  }
  // One buffer in secure memory, big enough for the longest value and a line end; a
  // longer input is refused, not cut.
  Secret buffer = Secret::with_size(vault::kMaxValueBytes + 3);
  std::size_t used = 0;
  bool too_long = false;
  for (;;) {
    if (used == buffer.size()) {
      too_long = true;
      break;
    }
    const ssize_t n = ::read(STDIN_FILENO, buffer.data() + used, buffer.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    used += static_cast<std::size_t>(n);
    if (tty && buffer.data()[used - 1] == '\n') break;
  }
  if (tty) {
    (void)::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    std::cerr << "\n";
  }
  if (too_long) {
    std::cerr << "gatehouse: the value is longer than 8 KiB\n";
    return std::nullopt;
  }
  std::string_view value(reinterpret_cast<const char*>(buffer.data()), used);
  if (value.ends_with("\r\n")) value.remove_suffix(2);
  else if (value.ends_with("\n")) value.remove_suffix(1);
  if (auto problem = vault::value_problem(value); !problem.empty()) {
    std::cerr << "gatehouse: " << problem << "\n";
    return std::nullopt;
  }
  return Secret::copy_of(value);
}

std::string dump(const nlohmann::json& j) { return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace); }

int vault_error(const Error& e) {
  if (e.code == "vault.tenant" || e.code == "vault.name" || e.code == "vault.value" || e.code == "vault.no_key") {
    std::cerr << "gatehouse: " << e.message << "\n";
    return kUsage;
  }
  return store_error(e);
}

}  // namespace

VaultCommands::VaultCommands(CLI::App& app, CLI::App& keys) : o_(std::make_shared<Options>()) {
  auto* secret = app.add_subcommand("secret", "the tenant vault: named secrets per tenant (values are never shown)");
  secret->fallthrough();
  secret->require_subcommand(1);
  o_->set = secret->add_subcommand("set", "store a new version of a secret; the value is read from standard input");
  o_->set->add_option("--tenant", o_->tenant, "tenant")->required();
  o_->set->add_option("NAME", o_->name, "secret name")->required();
  o_->list = secret->add_subcommand("list", "names, versions and who changed them last (never values)");
  o_->list->add_option("--tenant", o_->tenant, "tenant")->required();
  o_->list->add_flag("--json", o_->json, "JSON output");
  o_->rm = secret->add_subcommand("rm", "remove a secret");
  o_->rm->add_option("--tenant", o_->tenant, "tenant")->required();
  o_->rm->add_option("NAME", o_->name, "secret name")->required();
  o_->rotate = secret->add_subcommand("rotate-key", "a new data key for the tenant; every value is sealed again");
  o_->rotate->add_option("--tenant", o_->tenant, "tenant")->required();
  o_->rewrap = keys.add_subcommand(
      "rewrap", "seal every tenant key and system key again under the current master key (after a key change)");
  for (CLI::App* c : {o_->set, o_->list, o_->rm, o_->rotate, o_->rewrap}) c->fallthrough();
}

std::optional<int> VaultCommands::run(const config::Config& cfg, store::VaultStore& store, store::TenantStore& tenants,
                                      store::KeyValueStore& kv, store::AuditStore& audit_store) {
  const Options& o = *o_;
  if (!*o.set && !*o.list && !*o.rm && !*o.rotate && !*o.rewrap) return std::nullopt;
  // Listing and removing never open a value: they need no master key.
  std::shared_ptr<const crypto::Keyring> keyring;
  if (*o.set || *o.rotate || *o.rewrap) {
    auto ring = crypto::load_keyring(cfg.keys.master_key_file, cfg.keys.previous_master_key_files);
    if (!ring) {
      std::cerr << "gatehouse: [keys] " << ring.error().message << "\n";
      return kFailure;
    }
    keyring = std::make_shared<const crypto::Keyring>(std::move(ring.value()));
  }
  SystemClock clock;
  auth::Audit audit(cfg.audit, audit_store, clock);
  vault::Vault vault(store, tenants, keyring, clock);
  const std::string by = "cli:" + admin_name();

  // A name no secret can have is a usage error for rm as for set (not "no such secret").
  if ((*o.set || *o.rm) && !valid_secret_name(o.name)) {
    std::cerr << "gatehouse: a secret's name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or "
                 "digit\n";
    return kUsage;
  }
  if (*o.set) {
    auto value = value_from_stdin(o.name);
    if (!value) return kUsage;
    auto version = vault.set(o.tenant, o.name, *value, by);
    if (!version) return vault_error(version.error());
    std::cout << "secret " << o.name << " of tenant " << o.tenant << " stored (version " << *version << ")\n";
    return audited(audit, admin_event(auth::AuditEventType::secret_set, "",
                                      "tenant " + o.tenant + ", secret " + o.name + ", version " +
                                          std::to_string(*version) + ", by " + admin_name()));
  }
  if (*o.list) {
    auto rows = vault.list(o.tenant);
    if (!rows) return vault_error(rows.error());
    if (o.json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& r : *rows)
        out.push_back({{"name", r.name}, {"version", r.version}, {"updated_at", time_or(r.updated_at, "")},
                       {"updated_by", r.updated_by}});
      std::cout << dump(out) << "\n";
      return kOk;
    }
    if (rows->empty()) {
      std::cout << "tenant " << o.tenant << " has no secrets\n";
      return kOk;
    }
    for (const auto& r : *rows)
      std::cout << r.name << "  version " << r.version << "  updated " << time_or(r.updated_at, "-") << " by "
                << printable(r.updated_by) << "\n";
    return kOk;
  }
  if (*o.rm) {
    auto exists = tenants.tenant_exists(o.tenant);
    if (!exists) return store_error(exists.error());
    if (!*exists) {
      std::cerr << "gatehouse: no tenant named " << printable(o.tenant) << "\n";
      return kUsage;
    }
    auto removed = vault.remove(o.tenant, o.name, by);
    if (!removed) return vault_error(removed.error());
    if (!*removed) {
      std::cerr << "gatehouse: tenant " << o.tenant << " has no secret named " << printable(o.name) << "\n";
      return kFailure;
    }
    std::cout << "secret " << o.name << " of tenant " << o.tenant << " removed\n";
    return audited(audit, admin_event(auth::AuditEventType::secret_removed, "",
                                      "tenant " + o.tenant + ", secret " + o.name + ", by " + admin_name()));
  }
  if (*o.rotate) {
    auto key_id = vault.rotate_key(o.tenant);
    if (!key_id) return vault_error(key_id.error());
    std::cout << "tenant " << o.tenant << ": new data key " << *key_id << "; every secret sealed again\n";
    return audited(audit, admin_event(auth::AuditEventType::secret_key_rotated, "",
                                      "tenant " + o.tenant + ", data key " + *key_id + ", by " + admin_name()));
  }
  // keys rewrap
  int system_current = 0;
  auto system = vault::rewrap_system_keys(kv, *keyring, &system_current);
  if (!system) return vault_error(system.error());
  auto tenant_keys = vault.rewrap_tenant_keys();
  if (!tenant_keys) return vault_error(tenant_keys.error());
  const std::string id = keyring->current().id();
  std::cout << "sealed again under master key " << id << ": " << *system << " system key(s), "
            << tenant_keys->rewrapped << " tenant key(s); already under it: " << system_current << " system, "
            << tenant_keys->current << " tenant\n";
  if (!cfg.keys.previous_master_key_files.empty())
    std::cout << "nothing needs the previous master key(s) now: remove previous_master_key_files, reload every "
                 "instance, then destroy the old key\n";
  return audited(audit, admin_event(auth::AuditEventType::keys_rewrapped, "",
                                    "master key " + id + ": " + std::to_string(*system) + " system key(s), " +
                                        std::to_string(tenant_keys->rewrapped) + " tenant key(s), by " +
                                        admin_name()));
}

}  // namespace gatehouse::daemon
