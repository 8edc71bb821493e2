#pragma once
#include <memory>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace gatehouse::daemon {

// Chooses a route by host and longest path prefix (on segment boundaries: "/app"
// matches "/app" and "/app/x", not "/apple"). A route naming the host beats a
// host-less route of the same prefix length.
class Router {
 public:
  explicit Router(std::shared_ptr<const config::Config> config);
  const config::RouteConfig* match(std::string_view host, std::string_view path) const;

 private:
  std::shared_ptr<const config::Config> config_;
};

bool prefix_matches(std::string_view prefix, std::string_view path);

}  // namespace gatehouse::daemon
