#pragma once
// kind = "ldap": users in an LDAP directory (OpenLDAP, 389-ds, …). Search-then-bind
// with a service account, or a direct bind with a DN template; groups from a group
// search (nested groups followed) or a memberOf-style attribute; the tenant from the
// config or an attribute. kind = "active_directory" is this class with AD's login
// names, defaults and bind sub-codes (ActiveDirectory below).
#include <chrono>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "directory/directory.h"
#include "directory/ldap_client.h"

namespace gatehouse::directory {

class LdapDirectory : public Directory {
 public:
  // Reads bind_password_file and sets up TLS; connects lazily, so a directory that is
  // down at start-up does not stop gatehouse from starting.
  static Result<std::shared_ptr<Directory>> create(const config::DirectoryConfig& config);

  const std::string& name() const override { return name_; }
  // The synchronous API runs the asynchronous one to completion on this thread.
  Result<AuthOutcome> authenticate(std::string_view username, const Secret& password) override;
  Status check() override;
  void shutdown() override { pool_->shutdown(); }
  // LDAP round trips wait in the caller's event loop; only opening a connection blocks,
  // on the connection pool's own threads.
  bool asynchronous() const override { return true; }
  boost::asio::awaitable<Result<AuthOutcome>> authenticate_async(std::string username,
                                                                 const Secret& password) override;

 protected:
  LdapDirectory(const config::DirectoryConfig& config, std::unique_ptr<ldap::Pool> pool);

  // The names to look the user up by (each substituted for {username} in
  // user_filter, OR-ed), or nullopt with `detail` set when the name cannot be one of
  // this directory's users.
  virtual std::optional<std::vector<std::string>> lookup_names(std::string_view username,
                                                               std::string* detail) const;
  // What a refused bind means.
  virtual AuthOutcome refused(const ldap::BindRefusal& refusal) const;
  // Account state the entry shows once the password has been proved right.
  virtual std::optional<AuthOutcome> account_state(const ldap::Entry& entry) const;
  virtual std::vector<std::string> entry_attributes() const;

  const config::LdapConfig& settings() const { return config_; }

 private:
  struct Found {
    std::optional<ldap::Entry> entry;
    std::string detail;  // why there is none
  };
  template <class T>
  using Task = boost::asio::awaitable<Result<T>>;
  Task<Found> find_user(const std::vector<std::string>& names);
  struct GroupRef {
    std::string dn;
    std::string name;
  };
  struct CachedParents {
    std::vector<GroupRef> parents;
    std::chrono::steady_clock::time_point expires;
  };
  Task<std::vector<std::string>> groups_of(ldap::Connection& c, const ldap::Entry& entry,
                                           std::string_view username);
  // Groups whose group_filter matches `member_dn` (a user or a group).
  Task<std::vector<GroupRef>> groups_with_member(ldap::Connection& c, const std::string& member_dn,
                                                 const std::string& username);
  // groups_with_member() for a group, cached for group_cache_ttl.
  Task<std::vector<GroupRef>> parents_of(ldap::Connection& c, const std::string& group_dn,
                                         const std::string& username);
  // A DN under user_base that no entry has (random), for the bind that makes an unknown
  // user cost what a wrong password costs.
  std::string decoy_dn() const;
  // The entry's username_attribute, else the name as typed.
  std::string canonical_name(const ldap::Entry& entry, std::string_view typed) const;
  AuthOutcome identity_of(const ldap::Entry& entry, std::string_view typed,
                          std::vector<std::string> groups) const;
  Task<AuthOutcome> authenticate_search_then_bind(std::string_view username, const Secret& password);
  Task<AuthOutcome> authenticate_direct(std::string_view username, const Secret& password);

  std::string name_;
  config::LdapConfig config_;
  std::unique_ptr<ldap::Pool> pool_;
  std::mutex parents_mutex_;
  std::unordered_map<std::string, CachedParents> parents_;  // by lower-cased group DN
};

// kind = "active_directory": sAMAccountName, user@upn.suffix or DOMAIN\user; nested
// groups with the in-chain matching rule; userAccountControl and the bind sub-codes
// (52e, 525, 530, 531, 532, 533, 701, 773, 775) mapped to outcomes.
class ActiveDirectory final : public LdapDirectory {
 public:
  using LdapDirectory::LdapDirectory;

 protected:
  std::optional<std::vector<std::string>> lookup_names(std::string_view username,
                                                       std::string* detail) const override;
  AuthOutcome refused(const ldap::BindRefusal& refusal) const override;
  std::optional<AuthOutcome> account_state(const ldap::Entry& entry) const override;
  std::vector<std::string> entry_attributes() const override;

  friend class LdapDirectory;
};

// For tests: what an AD bind refusal with this diagnostic message means.
AuthOutcome active_directory_refusal(const ldap::BindRefusal& refusal);
// For tests: the account state userAccountControl shows (disabled, locked), if any.
std::optional<AuthOutcome> active_directory_account_state(const ldap::Entry& entry);

}  // namespace gatehouse::directory
