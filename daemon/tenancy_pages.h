#pragma once
// The organisation switcher and the delegations page: HTML only, every value escaped.
#include <cstdint>
#include <string>
#include <vector>

#include "store/tenancy_store.h"
#include "tenancy/tenancy.h"

namespace gatehouse::daemon {

struct PartiesPageModel {
  std::string banner;  // rendered delegation bar (empty when acting for the own tenant)
  std::string real_party;
  std::string effective_party;
  std::vector<tenancy::Party> parties;  // the own organisation first
  std::string csrf_token;
  std::string rd;
  std::string error;
};

struct DelegationsPageModel {
  std::string banner;
  struct TenantSection {
    tenancy::TenantInfo tenant;
    std::vector<store::Delegation> delegations;  // newest first
    std::vector<store::DelegationActivity> activity;
    std::vector<store::DelegationUsage> usage;
  };
  std::vector<TenantSection> tenants;
  std::int64_t now = 0;
  std::string default_length;  // "7d", for the form's hint
  std::string csrf_token;
  std::string error;
  std::string notice;
};

std::string parties_page(const PartiesPageModel& model);
std::string delegations_page(const DelegationsPageModel& model);

}  // namespace gatehouse::daemon
