#pragma once
// Tenants, their superusers, delegations and the switch of the effective party: the rules,
// on top of store::TenancyStore. Used by the daemon (pages, the background sweep) and the
// CLI alike, so both apply the same rules and write the same audit records and e-mails.
//
// A superuser of tenant T is a user named with `tenant superuser add T USER`, or a user
// whose real party is T and whose groups (as its source reported them at sign-in) include
// one of T's superuser_groups. Acting for T through a delegation never makes anyone a
// superuser of T: a delegate cannot re-delegate.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth/audit.h"
#include "auth/principal.h"
#include "common/clock.h"
#include "common/net.h"
#include "config/config.h"
#include "directory/directory.h"
#include "store/store.h"
#include "store/tenancy_store.h"

namespace gatehouse::tenancy {

// "source:name": how users are written in the CLI, audit details and granted_by.
std::string user_text(const store::UserRef& user);

// [[tenant]] tables written into the store (added, or display name and language updated),
// so that users, delegations and superusers may refer to them.
Status sync_configured_tenants(const config::Config& config, store::TenancyStore& store, std::int64_t now);

struct TenantInfo {
  std::string name;
  std::string display_name;  // never empty: the name when none is set
  std::string language = "en";
  std::vector<std::string> superuser_groups;  // from [[tenant]]
  bool exists = false;  // declared in the configuration or present in the store
};

// One organisation the user may act for.
struct Party {
  std::string party;
  std::string display_name;
  std::int64_t delegation_id = 0;  // 0: the own organisation
  std::int64_t until = 0;          // 0: no end
};

struct GrantRequest {
  std::string tenant;
  std::string email;
  // Exactly one of: an explicit end, no end, or neither (the default length).
  std::optional<std::int64_t> until;
  bool no_end = false;
  std::string granted_by;  // user_text() of a superuser, or "cli"
  std::optional<IpAddress> client;
};

enum class SwitchResult { switched, unchanged, forbidden };

class Tenancy {
 public:
  Tenancy(std::shared_ptr<const config::Config> config, store::TenancyStore& store, store::TenantStore& tenants,
          store::UserStore& users, const Clock& clock, auth::AuditSink& audit);

  const config::Config& config() const { return *config_; }
  std::int64_t now() const { return clock_.now(); }

  // [[tenant]] tables written into the store (added, or display name and language updated),
  // so that users, delegations and superusers may refer to them.
  Status sync_configured_tenants();

  // Display name, language and superuser groups; cached for a few seconds.
  TenantInfo tenant(const std::string& name);

  // The user as of this sign-in, for e-mails to superusers and the delegations page.
  Status record_sign_in(const store::UserRef& user, const directory::Identity& identity);

  // Tenants `p` is a superuser of, sorted (store read).
  Result<std::vector<std::string>> superuser_tenants(const auth::Principal& p);
  Result<bool> is_superuser(const auth::Principal& p, const std::string& tenant);
  // Addresses of every superuser of `tenant` (named ones and group members known from
  // their sign-in), lower-cased, without duplicates.
  Result<std::vector<std::string>> superuser_addresses(const std::string& tenant);

  // Errors: "tenancy.bad_email", "tenancy.bad_until", "store.no_tenant".
  Result<store::Delegation> grant(const GrantRequest& request);
  // false when it was revoked already. Users acting through it are switched out at once.
  Result<bool> revoke(std::int64_t id, const std::string& by, std::optional<IpAddress> client);

  // The own organisation first, then every organisation with an active delegation for
  // the user's verified e-mail address.
  Result<std::vector<Party>> parties(const auth::Principal& p);
  // Switches `p` to act for `party` (its own tenant, or one it holds an active delegation
  // for). The choice, the e-mails to the superusers concerned and the activity row are
  // written together; the audit record follows.
  Result<SwitchResult> switch_party(const auth::Principal& p, const std::string& party,
                                    std::optional<IpAddress> client);
  // A choice whose delegation ended, was revoked or no longer reaches the user: back to
  // the real party, told once, the superusers e-mailed. `reason`: "expired", "revoked",
  // "not_reached". false when another process did it first.
  Result<bool> switch_out(const store::PartyChoice& choice, const std::string& real_party,
                          const std::string& reason);

  // Background work, about once a second: delegation.expired for delegations that ended,
  // and every user still acting through an ended or revoked delegation switched out.
  // Returns how many users were switched out.
  Result<std::int64_t> sweep();

 private:
  store::OutboxMessage switch_message(const std::string& recipient, const TenantInfo& tenant,
                                      const store::UserRef& user, const store::KnownUser* known,
                                      const auth::Principal* p, bool in, bool automatic,
                                      std::int64_t delegation_id, const std::string& reason) const;
  std::vector<store::OutboxMessage> switch_messages(const std::string& tenant, const store::UserRef& user,
                                                    const auth::Principal* p, bool in, bool automatic,
                                                    std::int64_t delegation_id, const std::string& reason);
  void audit_switch(const store::UserRef& user, const std::string& from, const std::string& to,
                    std::int64_t delegation_id, bool automatic, const std::string& reason,
                    std::optional<IpAddress> client, std::size_t notifications);

  std::shared_ptr<const config::Config> config_;
  store::TenancyStore& store_;
  store::TenantStore& tenants_;
  store::UserStore& users_;
  const Clock& clock_;
  auth::AuditSink& audit_;
  std::mutex mu_;
  struct CachedTenant {
    TenantInfo info;
    std::chrono::steady_clock::time_point fetched;
  };
  std::unordered_map<std::string, CachedTenant> tenant_cache_;
};

}  // namespace gatehouse::tenancy
