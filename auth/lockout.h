#pragma once
// The lockout regulator: account policy, kept apart from authentication. Failed
// logins are counted per account (the normalised user name) and per client address
// within a sliding window; at max_failures the account is locked, at ip_max_failures
// the address is throttled. Whitelisted users are never locked, whitelisted networks
// never throttled.
//
// Exactness under concurrency: begin() pre-charges each allowed attempt against its
// account and address. While "failures + attempts in flight" is at a limit but the
// stored failures alone are not, the verdict is busy: the caller waits and asks again,
// so parallel logins are never refused for failures that have not happened (16
// parallel logins with the right password all succeed), and parallel guesses are
// never let through beyond the limit.
// begin() and failed() run under one mutex and the store records a failure and its
// lock in one transaction, so 50 parallel guesses at one account reach the directory
// exactly max_failures times. Attempts in flight are known to this process only: one
// daemon per store, as today.
//
// Lock and whitelist state is read from the store on every begin(), so the admin CLI
// (another process) takes effect at the next attempt.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/net.h"
#include "common/result.h"
#include "config/config.h"
#include "store/store.h"

namespace gatehouse::auth {

// The account a typed user name counts against: surrounding white space trimmed,
// ASCII lower-cased (other bytes kept as they are), an AD "DOMAIN\" prefix and an
// "@suffix" removed, at most 256 bytes. "Alice", " alice ", "CORP\alice" and
// "alice@corp.example" are all "alice".
std::string account_key(std::string_view typed_username);

enum class Verdict {
  allowed,    // ask the directory, then report failed() or succeeded()
  locked,     // refuse with the generic message; the directory is not asked
  throttled,  // 429 with Retry-After: retry_after()
  busy,       // attempts in flight could still reach a limit: begin() again shortly
};

class Lockout;

namespace detail {
struct InFlight;
struct Charge;
}  // namespace detail

// One login attempt as judged by Lockout::begin(). An allowed attempt holds a charge
// against its account and address until failed() or succeeded() is called or the
// last copy of it is destroyed (a login that ended without an answer, e.g. because
// the directory was down, counts as neither).
class Attempt {
 public:
  Verdict verdict() const { return verdict_; }
  bool allowed() const { return verdict_ == Verdict::allowed; }
  const std::string& account() const { return account_; }
  const IpAddress& client() const { return client_; }
  bool account_whitelisted() const { return account_whitelisted_; }
  bool client_whitelisted() const { return client_whitelisted_; }
  // throttled: seconds until the address is below ip_max_failures again (>= 1).
  std::int64_t retry_after() const { return retry_after_; }
  // locked: the lock in force (nullopt only for an account whose stored failures reach
  // max_failures without a stored lock).
  const std::optional<store::AccountLock>& lock() const { return lock_; }

 private:
  friend class Lockout;

  Verdict verdict_ = Verdict::locked;
  std::string account_;
  IpAddress client_;
  bool account_whitelisted_ = false;
  bool client_whitelisted_ = false;
  std::int64_t retry_after_ = 0;
  std::optional<store::AccountLock> lock_;
  std::shared_ptr<detail::Charge> charge_;
};

struct FailureOutcome {
  bool locked_now = false;            // this failure locked the account: audit lockout.locked
  std::int64_t account_failures = 0;  // within the window, this one included
  std::int64_t locked_until = 0;      // when locked_now: end of the lock, 0 = until unlocked
};

struct ThrottledAddress {
  std::string address;
  std::int64_t failures = 0;       // within the window
  std::int64_t first_failure = 0;  // oldest failure within the window
  std::int64_t until = 0;          // when it drops below ip_max_failures
};

class Lockout {
 public:
  Lockout(config::LockoutConfig config, store::LockoutStore& store, const Clock& clock);
  // For a reload: the new policy, with the store, clock and attempts in flight of
  // `previous` (an attempt begun under the old policy still holds its place).
  Lockout(config::LockoutConfig config, const Lockout& previous);
  Lockout(const Lockout&) = delete;
  Lockout& operator=(const Lockout&) = delete;
  ~Lockout();

  // Judges an attempt before any directory is asked. Only store trouble is an Error.
  Result<Attempt> begin(std::string_view typed_username, const IpAddress& client);
  // The directory refused the credentials (or does not know the user). Records the
  // failure against the account and the address; at max_failures the account is
  // locked. Error "lockout.invalid" for an attempt that was not allowed or is done.
  Result<FailureOutcome> failed(Attempt& attempt);
  // The directory accepted: the account's failures are forgotten, under the typed
  // name's key and under the directory's canonical name's key.
  Status succeeded(Attempt& attempt, std::string_view canonical_username);

  // Administration (the CLI). Names are normalised with account_key().
  // true when a lock was in force; the account's failures are forgotten either way.
  Result<bool> unlock(std::string_view user);
  // Forgets the failures of an address; returns how many there were.
  Result<std::int64_t> unblock_address(const IpAddress& address);
  // Whitelisting a user lifts its lock (WhitelistChange::unlocked) and its count.
  Result<store::WhitelistChange> whitelist_user(std::string_view user, std::string_view added_by,
                                                std::string_view comment = {});
  Result<store::WhitelistChange> whitelist_network(const Cidr& network, std::string_view added_by,
                                                   std::string_view comment = {});
  Result<store::WhitelistChange> unwhitelist_user(std::string_view user);
  Result<store::WhitelistChange> unwhitelist_network(const Cidr& network);
  Result<std::vector<store::WhitelistEntry>> whitelist();
  // Locks in force now, oldest first.
  Result<std::vector<store::AccountLock>> locks();
  // Addresses at or above ip_max_failures now, whitelisted networks left out.
  Result<std::vector<ThrottledAddress>> throttled_addresses();
  // Forgets failures that left the window and locks that ended; safe to call from a
  // background thread while logins run.
  Result<std::int64_t> prune();

  const config::LockoutConfig& config() const { return config_; }

 private:
  std::int64_t window_start(std::int64_t now) const;

  config::LockoutConfig config_;
  store::LockoutStore& store_;
  const Clock& clock_;
  std::shared_ptr<detail::InFlight> in_flight_;  // shared with the charges of live attempts
};

}  // namespace gatehouse::auth
