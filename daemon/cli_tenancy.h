#pragma once
// `gatehouse tenant …`, `delegation …`, `usage report` and `outbox list`.
#include <CLI/CLI.hpp>
#include <memory>
#include <optional>

#include "config/config.h"
#include "store/store.h"
#include "store/tenancy_store.h"

namespace gatehouse::daemon {

class TenancyCommands {
 public:
  // Adds the subcommands to `app`.
  explicit TenancyCommands(CLI::App& app);
  // The exit code when one of these commands was given, else nullopt.
  std::optional<int> run(std::shared_ptr<const config::Config> config, store::TenancyStore& tenancy,
                         store::TenantStore& tenants, store::UserStore& users, store::AuditStore& audit);

 private:
  struct Options;
  std::shared_ptr<Options> o_;
};

}  // namespace gatehouse::daemon
