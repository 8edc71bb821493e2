#include "auth/policy.h"

#include <gtest/gtest.h>

namespace gatehouse::auth {
namespace {

Principal policy_principal(std::string real, std::string effective, std::vector<std::string> groups = {}) {
  Principal p;
  p.user = {"corp", "carol"};
  p.real_party = std::move(real);
  p.effective_party = std::move(effective);
  p.groups = std::move(groups);
  return p;
}

TEST(Policy, TenantsAreAWallOnTheEffectiveParty) {
  config::RouteConfig route;
  route.tenants = {"acme", "initech"};
  EXPECT_EQ(decide_access(route, nullptr), Access::need_login);
  const auto own = policy_principal("acme", "acme");
  EXPECT_EQ(decide_access(route, &own), Access::allow);
  // A consultant of globex acting for acme is let in; one of acme acting for globex is not.
  const auto delegate_in = policy_principal("globex", "acme");
  EXPECT_EQ(decide_access(route, &delegate_in), Access::allow);
  const auto delegate_out = policy_principal("acme", "globex");
  EXPECT_EQ(decide_access(route, &delegate_out), Access::forbidden);
  // Neither a group nor a name that only looks alike opens it.
  const auto group = policy_principal("globex", "globex", {"acme"});
  EXPECT_EQ(decide_access(route, &group), Access::forbidden);
  for (const char* party : {"", "ACME", "acme ", "acm", "acme,initech"}) {
    const auto p = policy_principal("x", party);
    EXPECT_EQ(decide_access(route, &p), Access::forbidden) << party;
  }
}

TEST(Policy, TenantsAndGroupsMustBothHold) {
  config::RouteConfig route;
  route.tenants = {"acme"};
  route.allow_groups = {"admins"};
  const auto both = policy_principal("acme", "acme", {"admins"});
  EXPECT_EQ(decide_access(route, &both), Access::allow);
  const auto no_group = policy_principal("acme", "acme", {"staff"});
  EXPECT_EQ(decide_access(route, &no_group), Access::forbidden);
  const auto wrong_party = policy_principal("globex", "globex", {"admins"});
  EXPECT_EQ(decide_access(route, &wrong_party), Access::forbidden);
}

TEST(Policy, PublicAndOpenRoutes) {
  config::RouteConfig route;
  route.is_public = true;
  EXPECT_EQ(decide_access(route, nullptr), Access::allow);
  route.is_public = false;
  const auto p = policy_principal("acme", "acme");
  EXPECT_EQ(decide_access(route, &p), Access::allow);
}

}  // namespace
}  // namespace gatehouse::auth
