#pragma once
// Narrow storage interfaces: each consumer sees only what it needs. One backend
// (SQLite) implements all of them today; a PostgreSQL backend must pass the same
// conformance suite (tests/unit/store).
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace gatehouse::store {

struct Tenant {
  std::string name;
  std::int64_t created_at = 0;
  std::string display_name;  // "" : shown as the name
  std::string language;      // "en", "nl", "de", "it"; "" : en
};

struct User {
  std::string name;          // unique, case-sensitive as stored; lookups are exact
  std::string tenant;        // home tenant (real party); must exist
  std::string email;
  std::string display_name;
  std::vector<std::string> groups;  // a set: returned sorted (byte order), duplicates dropped
  std::string password_hash;  // argon2id string from crypto_pwhash_str; "" = no password set
  bool disabled = false;
  std::int64_t created_at = 0;
};

class TenantStore {
 public:
  virtual ~TenantStore() = default;
  // error code "store.exists" when present already
  virtual Status add_tenant(const Tenant& tenant) = 0;
  virtual Result<std::vector<Tenant>> list_tenants() = 0;
  virtual Result<bool> tenant_exists(const std::string& name) = 0;
};

class UserStore {
 public:
  virtual ~UserStore() = default;
  // error "store.exists" if the name is taken, "store.no_tenant" if the tenant is unknown
  virtual Status add_user(const User& user) = 0;
  virtual Result<std::optional<User>> find_user(const std::string& name) = 0;
  virtual Result<std::vector<User>> list_users() = 0;
  // error "store.not_found" for an unknown user
  virtual Status set_password_hash(const std::string& name, const std::string& hash) = 0;
  virtual Status set_disabled(const std::string& name, bool disabled) = 0;
};

// A server-side session. The cookie only carries a sealed reference (the id); the
// record is what logout deletes, so a copied cookie dies at once.
struct SessionRecord {
  std::string id;  // 32 random bytes, raw; the store keeps only a hash of it
  std::string user;
  std::string email;
  bool email_verified = true;  // the source vouches for the address (OpenID: email_verified)
  std::string display_name;
  std::vector<std::string> groups;
  std::string real_party;
  std::string effective_party;  // unused: the effective party is the user's choice (tenancy)
  std::string source;  // directory or provider name that authenticated the user
  std::int64_t created_at = 0;
  std::int64_t last_seen = 0;
  // Sessions from an OpenID provider: its tokens, sealed by the caller (opaque bytes
  // here), and when its claims are due for a refresh (0 = never).
  std::string provider_state;
  std::int64_t refresh_at = 0;
};

// What a refresh of a session's claims changes.
struct SessionUpdate {
  std::string user;
  std::string email;
  bool email_verified = true;
  std::string display_name;
  std::vector<std::string> groups;
  std::string real_party;
  std::string effective_party;
  std::string provider_state;
  std::int64_t refresh_at = 0;
};

class SessionStore {
 public:
  virtual ~SessionStore() = default;
  // error "store.exists" for an id already in use; groups keep their order
  virtual Status create_session(const SessionRecord& record) = 0;
  virtual Result<std::optional<SessionRecord>> find_session(const std::string& id) = 0;
  // last_seen only moves forward; error "store.not_found" for an unknown session
  virtual Status touch_session(const std::string& id, std::int64_t last_seen) = 0;
  // Succeeds for an unknown session too: logging out twice is not an error.
  virtual Status delete_session(const std::string& id) = 0;
  // Replaces the identity and provider fields; error "store.not_found" for an unknown
  // session.
  virtual Status update_session(const std::string& id, const SessionUpdate& update) = 0;
  // Removes sessions with created_at < created_before or last_seen < idle_before;
  // returns how many.
  virtual Result<std::int64_t> delete_expired_sessions(std::int64_t created_before,
                                                       std::int64_t idle_before) = 0;
  virtual Result<std::int64_t> delete_user_sessions(const std::string& user) = 0;
  // Sessions with created_at >= created_since and last_seen >= seen_since: those that
  // delete_expired_sessions(created_since, seen_since) would keep.
  virtual Result<std::int64_t> count_sessions(std::int64_t created_since, std::int64_t seen_since) = 0;
};

// Small named blobs the daemon must keep across restarts (the assertion signing key,
// sealed by the caller before it gets here).
class KeyValueStore {
 public:
  virtual ~KeyValueStore() = default;
  virtual Result<std::optional<std::string>> get_value(const std::string& key) = 0;
  // Inserts only if absent; returns the value that is stored afterwards (so two
  // processes racing to create a key agree on one).
  virtual Result<std::string> put_value_if_absent(const std::string& key, const std::string& value) = 0;
  // Replaces the value if it is still `expected`; false when it changed or is absent.
  virtual Result<bool> replace_value(const std::string& key, const std::string& expected,
                                     const std::string& value) = 0;
  virtual Result<bool> remove_value(const std::string& key) = 0;
};

// --- lockout ---------------------------------------------------------------------
// Failed logins are counted per account key and per client address; the policy
// (thresholds, whitelisting, normalising names) belongs to auth::Lockout, which
// passes its thresholds in so that counting and locking happen in one transaction.

struct AccountLock {
  std::string account;  // account key (auth::account_key)
  std::int64_t since = 0;
  std::int64_t until = 0;   // 0: until an admin unlocks
  std::string reason;       // for `lockout list`, e.g. "5 failed logins within 15m"
  std::string last_client;  // address of the failure that locked it
};

// A lock is in force at `now` while until is 0 or later than now.
inline bool lock_in_force(const AccountLock& lock, std::int64_t now) {
  return lock.until == 0 || lock.until > now;
}

enum class WhitelistKind { user, network };

struct WhitelistEntry {
  WhitelistKind kind = WhitelistKind::user;
  std::string value;  // account key, or a network in canonical CIDR form ("10.0.0.0/8")
  std::int64_t added_at = 0;
  std::string added_by;
  std::string comment;
};

// What auth::Lockout needs to judge one attempt, read in one snapshot.
struct LockoutQuery {
  std::string account;
  std::string address;
  std::int64_t window_start = 0;       // failures at or after this time count
  std::int64_t now = 0;                // for "is the lock still in force"
  std::int64_t address_threshold = 1;  // see LockoutState::address_threshold_at
};

struct LockoutState {
  std::int64_t account_failures = 0;  // since window_start
  std::int64_t address_failures = 0;  // since window_start
  // Time of the address_threshold-th newest failure of the address in the window, 0
  // when there are fewer: once it leaves the window the address is below the threshold.
  std::int64_t address_threshold_at = 0;
  std::optional<AccountLock> lock;  // only a lock in force at `now`
  bool account_whitelisted = false;
  std::vector<std::string> whitelisted_networks;  // CIDR texts
};

struct FailureRecord {
  std::string account;  // "" : not counted against an account (whitelisted user)
  std::string address;  // "" : not counted against an address
  std::int64_t at = 0;
  std::int64_t window_start = 0;
  // When the account's failures since window_start reach lock_threshold (0: never)
  // and no lock is in force at `at`, `lock` is stored and the account's failures are
  // cleared: the lock carries the state from then on.
  std::int64_t lock_threshold = 0;
  AccountLock lock;  // account and since are taken from above
};

struct FailureTally {
  std::int64_t account_failures = 0;  // in the window, this one included
  std::int64_t address_failures = 0;  // in the window, this one included
  bool locked_now = false;            // this failure stored the lock
};

struct FailingAddress {
  std::string address;
  std::int64_t failures = 0;      // since window_start
  std::int64_t first_at = 0;      // oldest failure in the window
  std::int64_t threshold_at = 0;  // min_failures-th newest failure (see LockoutState)
};

struct WhitelistChange {
  bool changed = false;   // added (or removed); false when it was already so
  bool unlocked = false;  // adding a user lifted a lock in force
};

class LockoutStore {
 public:
  virtual ~LockoutStore() = default;
  virtual Result<LockoutState> lockout_state(const LockoutQuery& query) = 0;
  // One transaction: the failure rows, the count and, at the threshold, the lock.
  virtual Result<FailureTally> record_failure(const FailureRecord& failure) = 0;
  // A successful login: the account's failures are forgotten (its lock is not touched).
  virtual Status clear_account_failures(const std::string& account) = 0;
  // Removes the lock and the failures of the account; true when a lock was in force.
  virtual Result<bool> unlock_account(const std::string& account, std::int64_t now) = 0;
  // Removes the failures of the address; returns how many there were.
  virtual Result<std::int64_t> clear_address_failures(const std::string& address) = 0;
  // Locks in force at `now`, oldest first.
  virtual Result<std::vector<AccountLock>> list_locks(std::int64_t now) = 0;
  // Addresses with at least min_failures failures since window_start, by address.
  virtual Result<std::vector<FailingAddress>> list_failing_addresses(std::int64_t window_start,
                                                                     std::int64_t min_failures) = 0;
  // Adding a user also clears its lock and failures, in the same transaction. An entry
  // already present is kept as it is (changed = false).
  virtual Result<WhitelistChange> add_to_whitelist(const WhitelistEntry& entry,
                                                   std::int64_t now) = 0;
  virtual Result<WhitelistChange> remove_from_whitelist(WhitelistKind kind,
                                                        const std::string& value) = 0;
  // Users first, then networks, each sorted by value.
  virtual Result<std::vector<WhitelistEntry>> list_whitelist() = 0;
  // Deletes failures older than failures_before and locks that ended by `now`;
  // returns how many rows went.
  virtual Result<std::int64_t> prune_lockout(std::int64_t failures_before, std::int64_t now) = 0;
};

// --- audit -----------------------------------------------------------------------
// Append-only: records are never changed, only deleted when older than the retention.

struct AuditRecord {
  std::int64_t id = 0;  // assigned by the store, increasing; never reused
  std::int64_t at = 0;
  std::string event;    // "login.success", …
  std::string user;     // as given (typed or canonical name)
  std::string account;  // account key of user, for filtering and login history
  std::string client;   // client address, "" when none
  std::string source;   // directory or provider, "cli" for admin commands
  std::string route;
  std::string detail;  // never a secret
};

struct AuditQuery {
  std::string account;                // "" = any
  std::optional<std::int64_t> since;  // at >= since
  std::string event;                  // "" = any
  std::int64_t before_id = 0;         // paging cursor: only ids below it; 0 = from the newest
  std::int64_t limit = 100;           // 0 or less: no limit
};

struct LoginSummary {
  std::int64_t last_success = 0;  // 0 = never (within the retention)
  std::int64_t last_failure = 0;  // login.failure or login.locked
};

class AuditStore {
 public:
  virtual ~AuditStore() = default;
  // Returns the id given to the record.
  virtual Result<std::int64_t> append_audit(const AuditRecord& record) = 0;
  // Newest first (by id).
  virtual Result<std::vector<AuditRecord>> list_audit(const AuditQuery& query) = 0;
  // Deletes up to `limit` of the oldest records with at < before; returns how many.
  // Small batches keep each write transaction short beside the login path.
  virtual Result<std::int64_t> delete_audit_before(std::int64_t before, std::int64_t limit) = 0;
  virtual Result<LoginSummary> login_summary(const std::string& account) = 0;
};

// Group commit: several independent pieces of work in one write transaction. Each job
// calls the store's methods as usual; their own transactions become savepoints of the
// batch's. The answer says, per job, whether what it wrote was committed: a job whose
// calls all succeeded can still lose its writes when the batch cannot be committed.
// When the transaction cannot even begin, the jobs are not run and get its error.
class BatchStore {
 public:
  virtual ~BatchStore() = default;
  virtual std::vector<Status> run_batch(std::span<const std::function<void()>> jobs) = 0;
};

}  // namespace gatehouse::store
