#pragma once
// "Secrets" (/.gatehouse/secrets): the tenant vault of the organisations a user is
// superuser of. Names, versions and who changed them; values can be set and removed
// here, never read. HTML only, every value escaped.
#include <string>
#include <vector>

#include "store/vault_store.h"
#include "tenancy/tenancy.h"

namespace gatehouse::daemon {

struct SecretsPageModel {
  std::string banner;
  struct TenantSection {
    tenancy::TenantInfo tenant;
    std::vector<store::VaultSecretRecord> secrets;  // by name, without values
  };
  std::vector<TenantSection> tenants;
  std::string csrf_token;
  std::string error;
  std::string notice;
};

std::string secrets_page(const SecretsPageModel& model);

}  // namespace gatehouse::daemon
