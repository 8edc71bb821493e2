#pragma once
// Per-route access policy, decided on the request's principal.
#include "auth/principal.h"
#include "config/config.h"

namespace gatehouse::auth {

enum class Access { allow, need_login, forbidden };

// Public routes allow everyone; otherwise a principal is needed; when the route lists
// `tenants` its effective party must be one of them (the hard wall between tenants:
// neither the real party nor a group opens it); when allow_groups is non-empty the user
// must be in at least one of them.
Access decide_access(const config::RouteConfig& route, const Principal* principal);

}  // namespace gatehouse::auth
