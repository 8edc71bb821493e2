#pragma once
// `gatehouse secret …` (the tenant vault) and `gatehouse keys rewrap`.
#include <CLI/CLI.hpp>
#include <memory>
#include <optional>

#include "config/config.h"
#include "store/store.h"
#include "store/vault_store.h"

namespace gatehouse::daemon {

class VaultCommands {
 public:
  // Adds `secret …` to `app` and `rewrap` to the `keys` command.
  VaultCommands(CLI::App& app, CLI::App& keys);
  // The exit code when one of these commands was given, else nullopt.
  std::optional<int> run(const config::Config& config, store::VaultStore& vault, store::TenantStore& tenants,
                         store::KeyValueStore& kv, store::AuditStore& audit);

 private:
  struct Options;
  std::shared_ptr<Options> o_;
};

}  // namespace gatehouse::daemon
