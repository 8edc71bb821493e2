#pragma once
// Per-route access policy.
#include "config/config.h"
#include "store/store.h"

namespace gatehouse::auth {

enum class Access { allow, need_login, forbidden };

// public routes allow everyone; otherwise a session is needed, and when allow_groups
// is non-empty the user must be in at least one of them.
Access decide_access(const config::RouteConfig& route, const store::SessionRecord* session);

}  // namespace gatehouse::auth
