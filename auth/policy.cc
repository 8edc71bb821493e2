#include "auth/policy.h"

#include <algorithm>

namespace gatehouse::auth {

Access decide_access(const config::RouteConfig& route, const Principal* principal) {
  if (route.is_public) return Access::allow;
  if (principal == nullptr) return Access::need_login;
  if (!route.tenants.empty() &&
      std::find(route.tenants.begin(), route.tenants.end(), principal->effective_party) == route.tenants.end())
    return Access::forbidden;
  if (route.allow_groups.empty()) return Access::allow;
  for (const auto& g : principal->groups)
    if (std::find(route.allow_groups.begin(), route.allow_groups.end(), g) != route.allow_groups.end())
      return Access::allow;
  return Access::forbidden;
}

}  // namespace gatehouse::auth
