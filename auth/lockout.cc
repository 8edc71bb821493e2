#include "auth/lockout.h"

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace gatehouse::auth {

namespace {

constexpr std::size_t kMaxAccountKeyBytes = 256;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string account_key(std::string_view typed_username) {
  const std::string_view whole = trim(typed_username);
  std::string_view name = whole;
  // The last backslash: "A\B\alice" must not escape the count of "alice".
  if (auto slash = name.rfind('\\'); slash != std::string_view::npos) name.remove_prefix(slash + 1);
  // The first @: "alice@x@y" is alice too.
  if (auto at = name.find('@'); at != std::string_view::npos) name = name.substr(0, at);
  name = trim(name);
  if (name.empty()) name = whole;  // "@", "CORP\": keep what was typed
  std::string key(name.substr(0, kMaxAccountKeyBytes));
  for (char& c : key)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return key;
}

namespace detail {

// Attempts in flight per account and per address. `mu` also serialises begin() and
// failed(), so "failures + in flight" never changes between the check and the charge.
struct InFlight {
  std::mutex mu;
  std::unordered_map<std::string, std::int64_t> accounts;
  std::unordered_map<std::string, std::int64_t> addresses;

  static void take(std::unordered_map<std::string, std::int64_t>& map, const std::string& key) {
    ++map[key];
  }
  static void give_back(std::unordered_map<std::string, std::int64_t>& map,
                        const std::string& key) {
    auto it = map.find(key);
    if (it != map.end() && --it->second <= 0) map.erase(it);
  }
  static std::int64_t count(const std::unordered_map<std::string, std::int64_t>& map,
                            const std::string& key) {
    auto it = map.find(key);
    return it == map.end() ? 0 : it->second;
  }
};

// The pre-charge of one allowed attempt; given back once.
struct Charge {
  std::shared_ptr<InFlight> in_flight;
  std::string account;  // "" when the account is whitelisted (not charged)
  std::string address;  // "" when the client is whitelisted
  bool released = false;

  // Caller holds in_flight->mu.
  void release_locked() {
    if (released) return;
    released = true;
    if (!account.empty()) InFlight::give_back(in_flight->accounts, account);
    if (!address.empty()) InFlight::give_back(in_flight->addresses, address);
  }
  ~Charge() {
    std::lock_guard lock(in_flight->mu);
    release_locked();
  }
};

// Gives a charge back when the report about its attempt is done (the caller holds
// in_flight->mu).
struct ReleaseOnExit {
  Charge& charge;
  ~ReleaseOnExit() { charge.release_locked(); }
};

}  // namespace detail

using detail::InFlight;

Lockout::Lockout(config::LockoutConfig config, store::LockoutStore& store, const Clock& clock)
    : config_(std::move(config)),
      store_(store),
      clock_(clock),
      in_flight_(std::make_shared<InFlight>()) {}

Lockout::Lockout(config::LockoutConfig config, const Lockout& previous)
    : config_(std::move(config)),
      store_(previous.store_),
      clock_(previous.clock_),
      in_flight_(previous.in_flight_) {}

Lockout::~Lockout() = default;

// A failure at t counts while now < t + window.
std::int64_t Lockout::window_start(std::int64_t now) const {
  return now - config_.window.count() + 1;
}

Result<Attempt> Lockout::begin(std::string_view typed_username, const IpAddress& client) {
  Attempt attempt;
  attempt.verdict_ = Verdict::allowed;
  attempt.account_ = account_key(typed_username);
  attempt.client_ = client;
  const std::string address = client.to_string();

  std::lock_guard lock(in_flight_->mu);
  const std::int64_t now = clock_.now();
  const std::int64_t since = window_start(now);
  auto state =
      store_.lockout_state({attempt.account_, address, since, now, config_.ip_max_failures});
  if (!state) return state.error();

  attempt.account_whitelisted_ = state->account_whitelisted;
  for (const auto& text : state->whitelisted_networks) {
    auto network = Cidr::parse(text);
    if (network && network->contains(client)) {
      attempt.client_whitelisted_ = true;
      break;
    }
  }

  if (!attempt.client_whitelisted_) {
    if (state->address_failures >= config_.ip_max_failures) {
      attempt.verdict_ = Verdict::throttled;
      attempt.retry_after_ =
          state->address_threshold_at > 0
              ? std::max<std::int64_t>(1, state->address_threshold_at + config_.window.count() - now)
              : 1;
      return attempt;
    }
    if (state->address_failures + InFlight::count(in_flight_->addresses, address) >= config_.ip_max_failures) {
      attempt.verdict_ = Verdict::busy;
      return attempt;
    }
  }

  if (!attempt.account_whitelisted_) {
    if (state->lock) {
      attempt.verdict_ = Verdict::locked;
      attempt.lock_ = std::move(state->lock);
    } else if (state->account_failures >= config_.max_failures) {
      attempt.verdict_ = Verdict::locked;
    } else if (state->account_failures + InFlight::count(in_flight_->accounts, attempt.account_) >=
               config_.max_failures) {
      attempt.verdict_ = Verdict::busy;
      return attempt;
    }
    if (attempt.verdict_ == Verdict::locked) {
      // Guessing at locked accounts still counts against the address.
      if (!attempt.client_whitelisted_) {
        store::FailureRecord record;
        record.address = address;
        record.at = now;
        record.window_start = since;
        if (auto tally = store_.record_failure(record); !tally) return tally.error();
      }
      return attempt;
    }
  }

  auto charge = std::make_shared<detail::Charge>();
  charge->in_flight = in_flight_;
  if (!attempt.account_whitelisted_) {
    charge->account = attempt.account_;
    InFlight::take(in_flight_->accounts, charge->account);
  }
  if (!attempt.client_whitelisted_) {
    charge->address = address;
    InFlight::take(in_flight_->addresses, charge->address);
  }
  attempt.charge_ = std::move(charge);
  return attempt;
}

Result<FailureOutcome> Lockout::failed(Attempt& attempt) {
  std::lock_guard lock(in_flight_->mu);
  if (!attempt.allowed() || !attempt.charge_ || attempt.charge_->released)
    return make_error("lockout.invalid", "failed() needs an allowed attempt that is not done yet");
  // The charge turns into a stored failure under the same lock, so begin() never sees
  // both or neither.
  detail::ReleaseOnExit release{*attempt.charge_};

  const std::int64_t now = clock_.now();
  store::FailureRecord record;
  record.account = attempt.account_whitelisted_ ? std::string() : attempt.account_;
  record.address = attempt.client_whitelisted_ ? std::string() : attempt.client_.to_string();
  record.at = now;
  record.window_start = window_start(now);
  record.lock_threshold = config_.max_failures;
  record.lock.until = config_.lock_duration.count() > 0 ? now + config_.lock_duration.count() : 0;
  record.lock.reason = std::to_string(config_.max_failures) + " failed login" +
                       (config_.max_failures == 1 ? "" : "s") + " within " +
                       config::format_duration(config_.window);
  record.lock.last_client = attempt.client_.to_string();
  auto tally = store_.record_failure(record);
  if (!tally) return tally.error();

  FailureOutcome outcome;
  outcome.locked_now = tally->locked_now;
  outcome.account_failures = tally->account_failures;
  if (tally->locked_now) outcome.locked_until = record.lock.until;
  return outcome;
}

Status Lockout::succeeded(Attempt& attempt, std::string_view canonical_username) {
  std::lock_guard lock(in_flight_->mu);
  if (!attempt.allowed() || !attempt.charge_ || attempt.charge_->released)
    return make_error("lockout.invalid",
                      "succeeded() needs an allowed attempt that is not done yet");
  detail::ReleaseOnExit release{*attempt.charge_};

  if (attempt.account_whitelisted_) return Ok{};
  if (auto s = store_.clear_account_failures(attempt.account_); !s) return s;
  const std::string canonical = account_key(canonical_username);
  if (!canonical.empty() && canonical != attempt.account_)
    if (auto s = store_.clear_account_failures(canonical); !s) return s;
  return Ok{};
}

Result<bool> Lockout::unlock(std::string_view user) {
  return store_.unlock_account(account_key(user), clock_.now());
}

Result<std::int64_t> Lockout::unblock_address(const IpAddress& address) {
  return store_.clear_address_failures(address.to_string());
}

Result<store::WhitelistChange> Lockout::whitelist_user(std::string_view user,
                                                       std::string_view added_by,
                                                       std::string_view comment) {
  const std::int64_t now = clock_.now();
  store::WhitelistEntry entry{store::WhitelistKind::user, account_key(user), now,
                              std::string(added_by), std::string(comment)};
  return store_.add_to_whitelist(entry, now);
}

Result<store::WhitelistChange> Lockout::whitelist_network(const Cidr& network,
                                                          std::string_view added_by,
                                                          std::string_view comment) {
  const std::int64_t now = clock_.now();
  store::WhitelistEntry entry{store::WhitelistKind::network, network.to_string(), now,
                              std::string(added_by), std::string(comment)};
  return store_.add_to_whitelist(entry, now);
}

Result<store::WhitelistChange> Lockout::unwhitelist_user(std::string_view user) {
  return store_.remove_from_whitelist(store::WhitelistKind::user, account_key(user));
}

Result<store::WhitelistChange> Lockout::unwhitelist_network(const Cidr& network) {
  return store_.remove_from_whitelist(store::WhitelistKind::network, network.to_string());
}

Result<std::vector<store::WhitelistEntry>> Lockout::whitelist() { return store_.list_whitelist(); }

Result<std::vector<store::AccountLock>> Lockout::locks() { return store_.list_locks(clock_.now()); }

Result<std::vector<ThrottledAddress>> Lockout::throttled_addresses() {
  const std::int64_t now = clock_.now();
  auto failing = store_.list_failing_addresses(window_start(now), config_.ip_max_failures);
  if (!failing) return failing.error();
  auto whitelist = store_.list_whitelist();
  if (!whitelist) return whitelist.error();
  std::vector<Cidr> networks;
  for (const auto& e : *whitelist)
    if (e.kind == store::WhitelistKind::network)
      if (auto c = Cidr::parse(e.value)) networks.push_back(*c);

  std::vector<ThrottledAddress> out;
  for (const auto& a : *failing) {
    auto ip = IpAddress::parse(a.address);
    if (ip && std::any_of(networks.begin(), networks.end(),
                          [&](const Cidr& c) { return c.contains(*ip); }))
      continue;
    out.push_back({a.address, a.failures, a.first_at, a.threshold_at + config_.window.count()});
  }
  return out;
}

Result<std::int64_t> Lockout::prune() {
  const std::int64_t now = clock_.now();
  return store_.prune_lockout(window_start(now), now);
}

}  // namespace gatehouse::auth
