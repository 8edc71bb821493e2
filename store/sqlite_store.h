#pragma once
// SQLite backend: WAL mode, busy timeout, numbered migrations applied at open.
// Thread-safe: one instance may be shared by all daemon threads. The admin CLI and
// the daemon may open the same file at once.
// The file holds only a BLAKE2b-256 hash of each session id, never the id; a new file
// is created with mode 0600. Session group names must not contain U+001F (the
// column separator): create_session refuses them with "store.invalid".
#include <memory>
#include <string>

#include "store/database.h"

namespace gatehouse::store {

class SqliteStore final : public Database {
 public:
  // Opens (creating if needed) and migrates. Errors: "store.open", "store.migrate"
  // (also when the file was migrated by a newer gatehouse).
  static Result<std::unique_ptr<SqliteStore>> open(const std::string& path);
  ~SqliteStore() override;

  int schema_version() const override;
  // Writable check for readiness probes: a write in a transaction that is rolled back.
  Status check_writable() override;

  Status add_tenant(const Tenant& tenant) override;
  Result<std::vector<Tenant>> list_tenants() override;
  Result<bool> tenant_exists(const std::string& name) override;

  Status add_user(const User& user) override;
  Result<std::optional<User>> find_user(const std::string& name) override;
  Result<std::vector<User>> list_users() override;
  Status set_password_hash(const std::string& name, const std::string& hash) override;
  Status set_disabled(const std::string& name, bool disabled) override;

  Status create_session(const SessionRecord& record) override;
  Result<std::optional<SessionRecord>> find_session(const std::string& id) override;
  Status touch_session(const std::string& id, std::int64_t last_seen) override;
  Status delete_session(const std::string& id) override;
  Status update_session(const std::string& id, const SessionUpdate& update) override;
  Result<std::int64_t> delete_expired_sessions(std::int64_t created_before,
                                               std::int64_t idle_before) override;
  Result<std::int64_t> delete_user_sessions(const std::string& user) override;
  Result<std::int64_t> count_sessions(std::int64_t created_since, std::int64_t seen_since) override;

  Result<std::optional<std::string>> get_value(const std::string& key) override;
  Result<std::string> put_value_if_absent(const std::string& key, const std::string& value) override;
  Result<bool> replace_value(const std::string& key, const std::string& expected,
                             const std::string& value) override;
  Result<bool> remove_value(const std::string& key) override;

  Result<LockoutState> lockout_state(const LockoutQuery& query) override;
  Result<FailureTally> record_failure(const FailureRecord& failure) override;
  Status clear_account_failures(const std::string& account) override;
  Result<bool> unlock_account(const std::string& account, std::int64_t now) override;
  Result<std::int64_t> clear_address_failures(const std::string& address) override;
  Result<std::vector<AccountLock>> list_locks(std::int64_t now) override;
  Result<std::vector<FailingAddress>> list_failing_addresses(std::int64_t window_start,
                                                             std::int64_t min_failures) override;
  Result<WhitelistChange> add_to_whitelist(const WhitelistEntry& entry, std::int64_t now) override;
  Result<WhitelistChange> remove_from_whitelist(WhitelistKind kind,
                                                const std::string& value) override;
  Result<std::vector<WhitelistEntry>> list_whitelist() override;
  Result<std::int64_t> prune_lockout(std::int64_t failures_before, std::int64_t now) override;

  Result<std::int64_t> append_audit(const AuditRecord& record) override;
  Result<std::vector<AuditRecord>> list_audit(const AuditQuery& query) override;
  Result<std::int64_t> delete_audit_before(std::int64_t before, std::int64_t limit) override;
  Result<LoginSummary> login_summary(const std::string& account) override;

  // BEGIN IMMEDIATE … COMMIT around the jobs. If the write lock cannot be had, the jobs
  // run without a batch (each call its own transaction). An error that ends the
  // transaction half-way (SQLITE_FULL, SQLITE_IOERR…) loses the writes of the jobs in it
  // so far, which are reported; the rest run in a new transaction.
  std::vector<Status> run_batch(std::span<const std::function<void()>> jobs) override;

  // TenancyStore (store/sqlite_tenancy.cc).
  Result<std::optional<Tenant>> find_tenant(const std::string& name) override;
  Status upsert_tenant(const Tenant& tenant) override;

  Result<bool> add_superuser(const std::string& tenant, const UserRef& user,
                             std::int64_t at) override;
  Result<bool> remove_superuser(const std::string& tenant, const UserRef& user) override;
  Result<std::vector<UserRef>> list_superusers(const std::string& tenant) override;
  Result<bool> is_named_superuser(const std::string& tenant, const UserRef& user) override;
  Result<std::vector<std::string>> named_superuser_tenants(const UserRef& user) override;

  Status record_sign_in(const KnownUser& user) override;
  Result<std::optional<KnownUser>> find_known_user(const UserRef& user) override;
  Result<std::vector<KnownUser>> group_superusers(const std::string& tenant) override;

  Result<std::int64_t> add_delegation(const Delegation& delegation,
                                      std::span<const OutboxMessage> messages = {}) override;
  Result<std::optional<Delegation>> find_delegation(std::int64_t id) override;
  Result<std::vector<Delegation>> list_delegations(const DelegationQuery& query) override;
  Result<std::vector<Delegation>> active_delegations_for(const std::string& email,
                                                         std::int64_t now) override;
  Result<bool> revoke_delegation(std::int64_t id, const std::string& by,
                                 std::int64_t at) override;
  Result<std::vector<Delegation>> take_newly_expired(std::int64_t now) override;

  Result<std::optional<PartyChoiceView>> find_party_choice(const UserRef& user) override;
  Result<std::vector<PartyChoice>> choices_on_delegation(std::int64_t delegation_id) override;
  Result<std::vector<PartyChoice>> choices_on_ended_delegations(std::int64_t now) override;
  Result<bool> switch_party(const PartySwitch& change) override;
  Status clear_party_notice(const UserRef& user, const std::string& notice) override;
  Result<std::vector<DelegationActivity>> delegation_activity(const std::string& tenant) override;

  Result<std::vector<OutboxMessage>> claim_outbox(std::int64_t now, std::int64_t lease_until,
                                                  std::int64_t limit) override;
  Status outbox_sent(std::int64_t id, std::int64_t at) override;
  Status outbox_failed(std::int64_t id, const std::string& error,
                       std::int64_t next_attempt_at) override;
  Result<std::vector<OutboxMessage>> list_outbox_pending() override;
  Result<OutboxStats> outbox_stats() override;
  Result<std::int64_t> prune_outbox(std::int64_t before) override;

  Status add_usage(std::span<const UsageRow> rows) override;
  Result<std::vector<UsageReportRow>> usage_report(const UsageQuery& query) override;
  Result<std::vector<DelegationUsage>> delegation_usage(const std::string& tenant) override;

  Result<std::optional<TenantKeyRecord>> find_tenant_key(const std::string& tenant) override;
  Result<TenantKeyRecord> add_tenant_key_if_absent(const TenantKeyRecord& key) override;
  Result<std::vector<TenantKeyRecord>> list_tenant_keys() override;
  Result<bool> rewrap_tenant_key(const std::string& tenant, const std::string& key_id,
                                 const std::string& expected, const std::string& wrapped) override;
  Result<std::optional<VaultSecretRecord>> find_vault_secret(const std::string& tenant,
                                                             const std::string& name) override;
  Result<std::vector<VaultSecretRecord>> list_vault_secrets(const std::string& tenant) override;
  Result<std::int64_t> last_vault_version(const std::string& tenant, const std::string& name) override;
  Result<bool> put_vault_secret(const VaultSecretRecord& secret, const std::string& key_id) override;
  Result<bool> remove_vault_secret(const std::string& tenant, const std::string& name, std::int64_t at,
                                   const std::string& by) override;
  Result<bool> replace_tenant_key(const std::string& old_key_id, const TenantKeyRecord& fresh,
                                  const std::vector<VaultSecretRecord>& resealed) override;
  Result<std::int64_t> vault_generation() override;

 private:
  struct Impl;
  struct LockoutSql;
  struct TenancySql;
  explicit SqliteStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gatehouse::store
