#pragma once
// The composition root: the only code that names concrete store, directory and auth
// types. Everything it builds receives interfaces.
#include <functional>
#include <memory>
#include <string>

#include "config/config.h"

namespace gatehouse::daemon {

struct ServeHooks {
  // Called once the listener is bound, with "host:port".
  std::function<void(const std::string& address)> on_listening;
};

// Runs until SIGTERM/SIGINT; returns the process exit code.
int serve(std::shared_ptr<const config::Config> config, const ServeHooks& hooks = {});

}  // namespace gatehouse::daemon
