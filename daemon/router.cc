#include "daemon/router.h"

namespace gatehouse::daemon {

bool prefix_matches(std::string_view prefix, std::string_view path) {
  if (prefix == "/") return true;
  if (!path.starts_with(prefix)) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

Router::Router(std::shared_ptr<const config::Config> config) : config_(std::move(config)) {}

const config::RouteConfig* Router::match(std::string_view host, std::string_view path) const {
  const config::RouteConfig* best = nullptr;
  for (const auto& r : config_->routes) {
    if (!r.host.empty() && r.host != host) continue;
    if (!prefix_matches(r.path_prefix, path)) continue;
    if (best == nullptr || r.path_prefix.size() > best->path_prefix.size() ||
        (r.path_prefix.size() == best->path_prefix.size() && best->host.empty() && !r.host.empty()))
      best = &r;
  }
  return best;
}

}  // namespace gatehouse::daemon
