#include "auth/policy.h"

#include <algorithm>

namespace gatehouse::auth {

Access decide_access(const config::RouteConfig& route, const store::SessionRecord* session) {
  if (route.is_public) return Access::allow;
  if (session == nullptr) return Access::need_login;
  if (route.allow_groups.empty()) return Access::allow;
  for (const auto& g : session->groups)
    if (std::find(route.allow_groups.begin(), route.allow_groups.end(), g) != route.allow_groups.end())
      return Access::allow;
  return Access::forbidden;
}

}  // namespace gatehouse::auth
