// The lockout regulator against the real SQLite store, with an injected clock.
#include "auth/lockout.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite_store.h"
#include "unit/store/temp_dir.h"

namespace gatehouse::auth {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t kT0 = 1'700'000'000;

IpAddress ip(const char* text) { return *IpAddress::parse(text); }
Cidr cidr(const char* text) { return *Cidr::parse(text); }

config::LockoutConfig lockout_config(std::int64_t max_failures = 5, config::Seconds window = 15min,
                                     config::Seconds lock_duration = 0s,
                                     std::int64_t ip_max_failures = 50) {
  config::LockoutConfig c;
  c.max_failures = max_failures;
  c.window = window;
  c.lock_duration = lock_duration;
  c.ip_max_failures = ip_max_failures;
  return c;
}

class LockoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::SqliteStore::open(dir_.file("gatehouse.db"));
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store_ = std::move(opened).value();
    use(lockout_config());
  }

  void use(const config::LockoutConfig& c) {
    lockout_ = std::make_unique<Lockout>(c, *store_, clock_);
  }

  Attempt begin(std::string_view user, const char* client = "192.0.2.1") {
    auto a = lockout_->begin(user, ip(client));
    EXPECT_TRUE(a.ok()) << a.error().message;
    return a.ok() ? std::move(a).value() : Attempt();
  }

  // One wrong password: must be allowed; returns what failed() said.
  FailureOutcome fail(std::string_view user, const char* client = "192.0.2.1") {
    Attempt a = begin(user, client);
    EXPECT_EQ(a.verdict(), Verdict::allowed) << user << " from " << client;
    if (!a.allowed()) return {};
    auto outcome = lockout_->failed(a);
    EXPECT_TRUE(outcome.ok()) << outcome.error().message;
    return outcome.ok() ? *outcome : FailureOutcome{};
  }

  void succeed(std::string_view typed, std::string_view canonical,
               const char* client = "192.0.2.1") {
    Attempt a = begin(typed, client);
    ASSERT_EQ(a.verdict(), Verdict::allowed);
    ASSERT_TRUE(lockout_->succeeded(a, canonical).ok());
  }

  test_support::TempDir dir_;
  FakeClock clock_{kT0};
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<Lockout> lockout_;
};

// --- account keys ------------------------------------------------------------------

struct KeyCase {
  std::string typed;
  std::string key;
};

class AccountKeyTest : public ::testing::TestWithParam<KeyCase> {};

TEST_P(AccountKeyTest, NormalisesTheFormsOfOneName) {
  EXPECT_EQ(account_key(GetParam().typed), GetParam().key) << GetParam().typed;
}

INSTANTIATE_TEST_SUITE_P(
    Table, AccountKeyTest,
    ::testing::Values(
        KeyCase{"alice", "alice"}, KeyCase{"Alice", "alice"}, KeyCase{"  alice \t", "alice"},
        KeyCase{"ALICE", "alice"}, KeyCase{"CORP\\alice", "alice"}, KeyCase{"corp\\ALICE", "alice"},
        KeyCase{"alice@corp.example", "alice"}, KeyCase{"Alice@CORP.EXAMPLE", "alice"},
        KeyCase{" CORP\\Alice@corp.example ", "alice"}, KeyCase{"A\\B\\alice", "alice"},
        KeyCase{"alice@x@y", "alice"}, KeyCase{"CORP\\ alice", "alice"},
        KeyCase{"j.doe-2", "j.doe-2"},
        // Only ASCII is lower-cased; other bytes stay as typed.
        KeyCase{"\xC3\x84LICE", "\xC3\x84lice"}, KeyCase{"\xC3\xA4lice", "\xC3\xA4lice"},
        // Nothing left after stripping: keep what was typed.
        KeyCase{"@", "@"}, KeyCase{"CORP\\", "corp\\"}, KeyCase{"", ""}, KeyCase{"   ", ""},
        KeyCase{std::string(300, 'A'), std::string(256, 'a')}));

// --- locking -----------------------------------------------------------------------

TEST_F(LockoutTest, LocksAtExactlyMaxFailuresWithinWindow) {
  for (int i = 1; i <= 4; ++i) {
    auto outcome = fail("alice");
    EXPECT_FALSE(outcome.locked_now) << i;
    EXPECT_EQ(outcome.account_failures, i);
    clock_.advance(10);
  }
  auto fifth = fail("alice", "192.0.2.9");
  EXPECT_TRUE(fifth.locked_now);
  EXPECT_EQ(fifth.account_failures, 5);
  EXPECT_EQ(fifth.locked_until, 0);

  Attempt next = begin("alice");
  EXPECT_EQ(next.verdict(), Verdict::locked);
  ASSERT_TRUE(next.lock());
  EXPECT_EQ(next.lock()->since, kT0 + 40);
  EXPECT_EQ(next.lock()->until, 0);
  EXPECT_EQ(next.lock()->reason, "5 failed logins within 15m");
  EXPECT_EQ(next.lock()->last_client, "192.0.2.9");
  // Another account is not affected.
  EXPECT_EQ(begin("bob").verdict(), Verdict::allowed);
}

TEST_F(LockoutTest, OneFailureLocksWhenMaxFailuresIsOne) {
  use(lockout_config(1));
  EXPECT_TRUE(fail("alice").locked_now);
  EXPECT_EQ(begin("alice").verdict(), Verdict::locked);
}

TEST_F(LockoutTest, FailuresStillInsideTheWindowCountAtItsLastSecond) {
  for (int i = 0; i < 4; ++i) fail("alice");
  clock_.advance(15 * 60 - 1);
  EXPECT_TRUE(fail("alice").locked_now);
}

TEST_F(LockoutTest, FailuresThatLeftTheWindowNoLongerCount) {
  for (int i = 0; i < 4; ++i) fail("alice");
  clock_.advance(15 * 60);
  auto outcome = fail("alice");
  EXPECT_FALSE(outcome.locked_now);
  EXPECT_EQ(outcome.account_failures, 1);
}

TEST_F(LockoutTest, WindowSlidesOverSpreadFailures) {
  // Two failures every 10 minutes: never five within 15 minutes.
  for (int i = 0; i < 10; ++i) {
    EXPECT_FALSE(fail("alice").locked_now) << i;
    EXPECT_LE(fail("alice").account_failures, 4) << i;
    clock_.advance(10 * 60);
  }
}

TEST_F(LockoutTest, LockEndsAfterLockDurationAndCountingStartsAfresh) {
  use(lockout_config(5, 15min, 10min));
  for (int i = 0; i < 4; ++i) fail("alice");
  auto locking = fail("alice");
  ASSERT_TRUE(locking.locked_now);
  EXPECT_EQ(locking.locked_until, kT0 + 600);

  clock_.advance(599);
  Attempt still = begin("alice");
  EXPECT_EQ(still.verdict(), Verdict::locked);
  ASSERT_TRUE(still.lock());
  EXPECT_EQ(still.lock()->until, kT0 + 600);
  clock_.advance(1);
  EXPECT_EQ(begin("alice").verdict(), Verdict::allowed);
  // The failures that caused the lock are spent: one more does not lock again.
  auto after = fail("alice");
  EXPECT_FALSE(after.locked_now);
  EXPECT_EQ(after.account_failures, 1);
}

TEST_F(LockoutTest, ZeroLockDurationLocksUntilAnAdminUnlocks) {
  for (int i = 0; i < 5; ++i) fail("alice");
  clock_.advance(365 * 86400);
  EXPECT_EQ(begin("alice").verdict(), Verdict::locked);

  auto unlocked = lockout_->unlock("ALICE");
  ASSERT_TRUE(unlocked.ok());
  EXPECT_TRUE(*unlocked);
  EXPECT_EQ(begin("alice").verdict(), Verdict::allowed);
  EXPECT_FALSE(*lockout_->unlock("alice"));
  // Unlocking also forgot the count.
  EXPECT_EQ(fail("alice").account_failures, 1);
}

TEST_F(LockoutTest, SuccessResetsTheCount) {
  for (int i = 0; i < 4; ++i) fail("alice");
  succeed("alice", "alice");
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(fail("alice").locked_now);
  EXPECT_TRUE(fail("alice").locked_now);
}

TEST_F(LockoutTest, SuccessResetsTheTypedAndTheCanonicalAccount) {
  for (int i = 0; i < 4; ++i) fail("jdoe");
  for (int i = 0; i < 4; ++i) fail("john.doe");
  // Signed in as "john.doe", which the directory knows as JDoe.
  succeed("John.Doe", "JDoe");
  EXPECT_EQ(fail("jdoe").account_failures, 1);
  EXPECT_EQ(fail("john.doe").account_failures, 1);
}

TEST_F(LockoutTest, SuccessDoesNotLiftALock) {
  use(lockout_config(1));
  fail("alice");
  EXPECT_EQ(begin("alice").verdict(), Verdict::locked);
}

TEST_F(LockoutTest, NameFormsCountAgainstOneAccount) {
  for (const char* form : {"Alice", " alice ", "CORP\\alice", "alice@corp.example"}) fail(form);
  EXPECT_TRUE(fail("ALICE").locked_now);
  for (const char* form : {"alice", "Alice", "CORP\\ALICE", "alice@other.example", "\talice"}) {
    Attempt a = begin(form);
    EXPECT_EQ(a.verdict(), Verdict::locked) << form;
    EXPECT_EQ(a.account(), "alice");
  }
}

TEST_F(LockoutTest, AttemptsInFlightArePreCharged) {
  use(lockout_config(2));
  Attempt first = begin("alice");
  Attempt second = begin("alice");
  ASSERT_TRUE(first.allowed());
  ASSERT_TRUE(second.allowed());
  // Two failures would lock: a third attempt waits while both are open (it is not
  // refused: both may still succeed).
  EXPECT_EQ(begin("alice").verdict(), Verdict::busy);
  ASSERT_TRUE(lockout_->succeeded(first, "alice").ok());
  Attempt third = begin("alice");
  EXPECT_TRUE(third.allowed());
  // Both open ones fail: the account is locked, and the next attempt is refused.
  ASSERT_TRUE(lockout_->failed(second).ok());
  EXPECT_TRUE(lockout_->failed(third)->locked_now);
  EXPECT_EQ(begin("alice").verdict(), Verdict::locked);
}

TEST_F(LockoutTest, AnAbandonedAttemptGivesItsChargeBack) {
  use(lockout_config(1, 15min, 0s, 1));
  {
    Attempt a = begin("alice");
    ASSERT_TRUE(a.allowed());
    EXPECT_EQ(begin("alice").verdict(), Verdict::busy);  // address pre-charged too
  }
  Attempt b = begin("alice");
  EXPECT_TRUE(b.allowed());
}

TEST_F(LockoutTest, AnAttemptIsReportedOnlyOnce) {
  Attempt a = begin("alice");
  ASSERT_TRUE(lockout_->failed(a).ok());
  auto again = lockout_->failed(a);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, "lockout.invalid");
  EXPECT_FALSE(lockout_->succeeded(a, "alice").ok());
  EXPECT_EQ(fail("alice").account_failures, 2);

  use(lockout_config(1));
  fail("bob");
  Attempt locked = begin("bob");
  ASSERT_EQ(locked.verdict(), Verdict::locked);
  EXPECT_EQ(lockout_->failed(locked).error().code, "lockout.invalid");
}

// 50 wrong guesses in parallel at one account reach the directory exactly
// max_failures times.
TEST_F(LockoutTest, ParallelGuessesAreAllowedExactlyMaxFailuresTimes) {
  constexpr int kGuesses = 50;
  std::latch start(kGuesses);
  std::atomic<int> allowed{0}, locked{0}, locked_now{0}, errors{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kGuesses; ++i) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      auto a = lockout_->begin("alice", ip("192.0.2.1"));
      while (a && a->verdict() == Verdict::busy) {  // as the login flow does
        std::this_thread::sleep_for(1ms);
        a = lockout_->begin("alice", ip("192.0.2.1"));
      }
      if (!a) {
        ++errors;
        return;
      }
      if (a->verdict() == Verdict::locked) {
        ++locked;
        return;
      }
      ++allowed;
      std::this_thread::sleep_for(2ms);  // the directory bind
      auto outcome = lockout_->failed(*a);
      if (!outcome)
        ++errors;
      else if (outcome->locked_now)
        ++locked_now;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(allowed.load(), 5);
  EXPECT_EQ(locked.load(), kGuesses - 5);
  EXPECT_EQ(locked_now.load(), 1);
  EXPECT_EQ(begin("alice", "192.0.2.2").verdict(), Verdict::locked);
  // 5 failures and 45 guesses at the locked account: the address is at ip_max_failures.
  EXPECT_EQ(begin("bob", "192.0.2.1").verdict(), Verdict::throttled);
}

// --- throttling addresses ------------------------------------------------------------

TEST_F(LockoutTest, AddressIsThrottledAtIpMaxFailuresWithExactRetryAfter) {
  use(lockout_config(100, 15min, 0s, 3));
  fail("alice");
  clock_.advance(10);
  fail("bob");
  clock_.advance(10);
  fail("carol");
  clock_.advance(10);  // kT0 + 30

  Attempt a = begin("dave");
  ASSERT_EQ(a.verdict(), Verdict::throttled);
  // The oldest of the three failures (kT0) leaves the window at kT0 + 900.
  EXPECT_EQ(a.retry_after(), 870);
  // Other addresses are not affected.
  EXPECT_TRUE(begin("dave", "192.0.2.2").allowed());

  clock_.set(kT0 + 899);
  EXPECT_EQ(begin("dave").retry_after(), 1);
  clock_.set(kT0 + 900);
  EXPECT_TRUE(begin("dave").allowed());
}

TEST_F(LockoutTest, RetryAfterWaitsForTheFailureThatKeepsTheAddressAtTheLimit) {
  use(lockout_config(100, 15min, 0s, 2));
  fail("a");
  clock_.advance(100);
  fail("b");
  clock_.advance(100);
  // Two failures at kT0 and kT0 + 100: below two again once kT0 leaves.
  EXPECT_EQ(begin("c").retry_after(), 700);
}

TEST_F(LockoutTest, ThrottlingIsCheckedBeforeTheAccountAndDoesNotCount) {
  use(lockout_config(5, 15min, 0s, 2));
  fail("alice");
  fail("alice");
  for (int i = 0; i < 10; ++i) EXPECT_EQ(begin("alice").verdict(), Verdict::throttled);
  EXPECT_EQ(fail("alice", "192.0.2.2").account_failures, 3);
}

TEST_F(LockoutTest, GuessesAtALockedAccountCountAgainstTheAddress) {
  use(lockout_config(1, 15min, 0s, 3));
  fail("alice", "192.0.2.1");
  EXPECT_EQ(begin("alice", "192.0.2.7").verdict(), Verdict::locked);
  EXPECT_EQ(begin("alice", "192.0.2.7").verdict(), Verdict::locked);
  EXPECT_EQ(begin("alice", "192.0.2.7").verdict(), Verdict::locked);
  EXPECT_EQ(begin("bob", "192.0.2.7").verdict(), Verdict::throttled);
}

TEST_F(LockoutTest, ThrottledAddressesAreListedWithTheirEnd) {
  use(lockout_config(100, 15min, 0s, 2));
  fail("a", "192.0.2.1");
  clock_.advance(60);
  fail("b", "192.0.2.1");
  fail("c", "192.0.2.2");
  fail("d", "10.1.2.3");
  fail("e", "10.1.2.3");
  ASSERT_TRUE(lockout_->whitelist_network(cidr("10.0.0.0/8"), "root").ok());

  auto list = lockout_->throttled_addresses();
  ASSERT_TRUE(list.ok()) << list.error().message;
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].address, "192.0.2.1");
  EXPECT_EQ((*list)[0].failures, 2);
  EXPECT_EQ((*list)[0].first_failure, kT0);
  EXPECT_EQ((*list)[0].until, kT0 + 900);
  ASSERT_TRUE(lockout_->unblock_address(ip("192.0.2.1")).ok());
  EXPECT_TRUE(lockout_->throttled_addresses()->empty());
  EXPECT_TRUE(begin("x", "192.0.2.1").allowed());
}

// --- whitelist -----------------------------------------------------------------------

TEST_F(LockoutTest, WhitelistedUserIsNeverLocked) {
  auto added = lockout_->whitelist_user("CORP\\svc-backup", "root", "nightly backup");
  ASSERT_TRUE(added.ok());
  EXPECT_TRUE(added->changed);
  for (int i = 0; i < 20; ++i) {
    Attempt a = begin("svc-backup");
    ASSERT_TRUE(a.allowed()) << i;
    EXPECT_TRUE(a.account_whitelisted());
    EXPECT_FALSE(lockout_->failed(a)->locked_now);
  }
  EXPECT_TRUE(lockout_->locks()->empty());
}

TEST_F(LockoutTest, WhitelistedUserIsStillThrottledFromAnAddress) {
  use(lockout_config(5, 15min, 0s, 3));
  ASSERT_TRUE(lockout_->whitelist_user("svc", "root").ok());
  for (int i = 0; i < 3; ++i) fail("svc");
  EXPECT_EQ(begin("svc").verdict(), Verdict::throttled);
}

TEST_F(LockoutTest, WhitelistingALockedUserUnblocksIt) {
  for (int i = 0; i < 5; ++i) fail("alice");
  ASSERT_EQ(begin("alice").verdict(), Verdict::locked);
  auto added = lockout_->whitelist_user("Alice", "root");
  ASSERT_TRUE(added.ok());
  EXPECT_TRUE(added->unlocked);
  EXPECT_TRUE(begin("alice").allowed());
  EXPECT_TRUE(lockout_->locks()->empty());

  // Off the whitelist again: counting starts from zero.
  auto removed = lockout_->unwhitelist_user("ALICE");
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(removed->changed);
  EXPECT_EQ(fail("alice").account_failures, 1);
  EXPECT_FALSE(lockout_->unwhitelist_user("alice")->changed);
}

TEST_F(LockoutTest, WhitelistedNetworkIsNeverThrottled) {
  use(lockout_config(100, 15min, 0s, 3));
  ASSERT_TRUE(lockout_->whitelist_network(cidr("10.0.0.0/8"), "root").ok());
  ASSERT_TRUE(lockout_->whitelist_network(cidr("2001:db8::/32"), "root").ok());
  for (int i = 0; i < 10; ++i) {
    Attempt a = begin("user" + std::to_string(i), "10.20.30.40");
    ASSERT_TRUE(a.allowed()) << i;
    EXPECT_TRUE(a.client_whitelisted());
    ASSERT_TRUE(lockout_->failed(a).ok());
  }
  for (int i = 0; i < 10; ++i) fail("v6-" + std::to_string(i), "2001:db8::7");
  for (int i = 0; i < 3; ++i) fail("x", "192.0.2.1");
  EXPECT_EQ(begin("y", "192.0.2.1").verdict(), Verdict::throttled);

  ASSERT_TRUE(lockout_->unwhitelist_network(cidr("10.0.0.0/8")).ok());
  EXPECT_TRUE(begin("z", "10.20.30.40").allowed());  // its failures were not counted
}

TEST_F(LockoutTest, AccountsAreStillLockedFromAWhitelistedNetwork) {
  ASSERT_TRUE(lockout_->whitelist_network(cidr("10.0.0.0/8"), "root").ok());
  for (int i = 0; i < 5; ++i) fail("alice", "10.0.0.1");
  EXPECT_EQ(begin("alice", "10.0.0.1").verdict(), Verdict::locked);
}

TEST_F(LockoutTest, WhitelistIsListedUsersFirst) {
  ASSERT_TRUE(lockout_->whitelist_network(cidr("10.1.2.3/8"), "root", "office").ok());
  ASSERT_TRUE(lockout_->whitelist_user("Bob@corp.example", "admin").ok());
  EXPECT_FALSE(lockout_->whitelist_user("bob", "admin")->changed);
  auto list = lockout_->whitelist();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].value, "bob");
  EXPECT_EQ((*list)[0].added_by, "admin");
  EXPECT_EQ((*list)[0].added_at, kT0);
  EXPECT_EQ((*list)[1].value, "10.0.0.0/8");
  EXPECT_EQ((*list)[1].comment, "office");
}

// --- another process (the admin CLI) -------------------------------------------------

TEST_F(LockoutTest, ChangesThroughAnotherStoreHandleApplyAtTheNextAttempt) {
  auto cli_store = store::SqliteStore::open(dir_.file("gatehouse.db"));
  ASSERT_TRUE(cli_store.ok());
  Lockout cli(lockout_config(), **cli_store, clock_);

  for (int i = 0; i < 5; ++i) fail("alice");
  ASSERT_EQ(cli.locks()->size(), 1u);
  EXPECT_TRUE(*cli.unlock("alice"));
  EXPECT_TRUE(begin("alice").allowed());

  for (int i = 0; i < 5; ++i) fail("bob");
  ASSERT_TRUE(cli.whitelist_user("bob", "root")->unlocked);
  EXPECT_TRUE(begin("bob").allowed());
}

TEST_F(LockoutTest, PruneForgetsWhatLeftTheWindowAndEndedLocks) {
  use(lockout_config(1, 15min, 10min));
  fail("alice");
  fail("bob", "192.0.2.2");
  clock_.advance(15 * 60);
  auto pruned = lockout_->prune();
  ASSERT_TRUE(pruned.ok()) << pruned.error().message;
  EXPECT_EQ(*pruned, 4);  // two address failures, two ended locks
  EXPECT_TRUE(lockout_->locks()->empty());
}

}  // namespace
}  // namespace gatehouse::auth
