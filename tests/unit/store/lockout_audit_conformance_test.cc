// Conformance: the lockout state and the audit log, which every backend must share.
#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "unit/store/conformance.h"

namespace gatehouse::store::conformance {
namespace {

FailureRecord failure(std::string account, std::string address, std::int64_t at,
                      std::int64_t window_start = kT0 - 900, std::int64_t lock_threshold = 0) {
  FailureRecord f;
  f.account = std::move(account);
  f.address = std::move(address);
  f.at = at;
  f.window_start = window_start;
  f.lock_threshold = lock_threshold;
  f.lock.until = 0;
  f.lock.reason = "3 failed logins within 15m";
  f.lock.last_client = f.address;
  return f;
}

LockoutQuery query(std::string account, std::string address, std::int64_t now,
                   std::int64_t window_start, std::int64_t threshold = 50) {
  return LockoutQuery{std::move(account), std::move(address), window_start, now, threshold};
}

// --- lockout ---------------------------------------------------------------------

TEST_P(LockoutStoreTest, NothingIsKnownAboutANewAccountOrAddress) {
  auto state = store_.lockout->lockout_state(query("alice", "192.0.2.1", kT0, kT0 - 899));
  ASSERT_TRUE(state.ok()) << state.error().message;
  EXPECT_EQ(state->account_failures, 0);
  EXPECT_EQ(state->address_failures, 0);
  EXPECT_EQ(state->address_threshold_at, 0);
  EXPECT_FALSE(state->lock);
  EXPECT_FALSE(state->account_whitelisted);
  EXPECT_TRUE(state->whitelisted_networks.empty());
}

TEST_P(LockoutStoreTest, FailuresAreCountedPerAccountAndPerAddressSinceWindowStart) {
  ASSERT_TRUE(store_.lockout->record_failure(failure("alice", "192.0.2.1", kT0)).ok());
  ASSERT_TRUE(store_.lockout->record_failure(failure("alice", "192.0.2.2", kT0 + 10)).ok());
  auto third = store_.lockout->record_failure(failure("bob", "192.0.2.1", kT0 + 20));
  ASSERT_TRUE(third.ok()) << third.error().message;
  EXPECT_EQ(third->account_failures, 1);
  EXPECT_EQ(third->address_failures, 2);
  EXPECT_FALSE(third->locked_now);

  auto all = store_.lockout->lockout_state(query("alice", "192.0.2.1", kT0 + 20, kT0));
  EXPECT_EQ(all->account_failures, 2);
  EXPECT_EQ(all->address_failures, 2);
  // A later window start leaves the older failures out.
  auto later = store_.lockout->lockout_state(query("alice", "192.0.2.1", kT0 + 20, kT0 + 1));
  EXPECT_EQ(later->account_failures, 1);
  EXPECT_EQ(later->address_failures, 1);
}

TEST_P(LockoutStoreTest, EmptyAccountOrAddressIsNotCounted) {
  ASSERT_TRUE(store_.lockout->record_failure(failure("", "192.0.2.1", kT0)).ok());
  ASSERT_TRUE(store_.lockout->record_failure(failure("alice", "", kT0)).ok());
  auto state = store_.lockout->lockout_state(query("alice", "192.0.2.1", kT0, kT0 - 10));
  EXPECT_EQ(state->account_failures, 1);
  EXPECT_EQ(state->address_failures, 1);
  EXPECT_EQ(store_.lockout->lockout_state(query("", "", kT0, kT0 - 10))->account_failures, 0);
}

TEST_P(LockoutStoreTest, AddressThresholdTimeIsTheNthNewestFailureInTheWindow) {
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(store_.lockout->record_failure(failure("", "192.0.2.1", kT0 + i)).ok());
  auto state = store_.lockout->lockout_state(query("x", "192.0.2.1", kT0 + 10, kT0, 3));
  EXPECT_EQ(state->address_failures, 5);
  EXPECT_EQ(state->address_threshold_at, kT0 + 2);
  auto fewer = store_.lockout->lockout_state(query("x", "192.0.2.1", kT0 + 10, kT0, 6));
  EXPECT_EQ(fewer->address_threshold_at, 0);
}

TEST_P(LockoutStoreTest, ReachingTheThresholdStoresOneLockAndClearsTheCount) {
  for (int i = 0; i < 2; ++i) {
    auto t = store_.lockout->record_failure(failure("alice", "192.0.2.1", kT0 + i, kT0 - 900, 3));
    ASSERT_TRUE(t.ok());
    EXPECT_FALSE(t->locked_now);
    EXPECT_EQ(t->account_failures, i + 1);
  }
  auto f = failure("alice", "192.0.2.9", kT0 + 2, kT0 - 900, 3);
  f.lock.until = kT0 + 600;
  auto third = store_.lockout->record_failure(f);
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE(third->locked_now);
  EXPECT_EQ(third->account_failures, 3);

  auto state = store_.lockout->lockout_state(query("alice", "192.0.2.9", kT0 + 3, kT0 - 900));
  ASSERT_TRUE(state->lock);
  EXPECT_EQ(state->lock->account, "alice");
  EXPECT_EQ(state->lock->since, kT0 + 2);
  EXPECT_EQ(state->lock->until, kT0 + 600);
  EXPECT_EQ(state->lock->reason, "3 failed logins within 15m");
  EXPECT_EQ(state->lock->last_client, "192.0.2.9");
  EXPECT_EQ(state->account_failures, 0);  // the lock carries the state now

  // More failures while it is in force do not lock again.
  for (int i = 0; i < 3; ++i) {
    auto more =
        store_.lockout->record_failure(failure("alice", "192.0.2.1", kT0 + 5, kT0 - 900, 3));
    EXPECT_FALSE(more->locked_now);
  }
  EXPECT_EQ(store_.lockout->list_locks(kT0 + 5)->size(), 1u);
}

TEST_P(LockoutStoreTest, AnEndedLockIsNotInForceAndANewOneReplacesIt) {
  auto f = failure("alice", "192.0.2.1", kT0, kT0 - 900, 1);
  f.lock.until = kT0 + 60;
  ASSERT_TRUE(store_.lockout->record_failure(f)->locked_now);
  EXPECT_TRUE(store_.lockout->lockout_state(query("alice", "a", kT0 + 59, kT0))->lock);
  EXPECT_FALSE(store_.lockout->lockout_state(query("alice", "a", kT0 + 60, kT0))->lock);
  EXPECT_TRUE(store_.lockout->list_locks(kT0 + 60)->empty());

  f.at = kT0 + 100;
  f.lock.until = kT0 + 200;
  ASSERT_TRUE(store_.lockout->record_failure(f)->locked_now);
  auto state = store_.lockout->lockout_state(query("alice", "a", kT0 + 150, kT0));
  ASSERT_TRUE(state->lock);
  EXPECT_EQ(state->lock->since, kT0 + 100);
  EXPECT_EQ(state->lock->until, kT0 + 200);
}

TEST_P(LockoutStoreTest, LockUntilZeroStaysInForce) {
  ASSERT_TRUE(store_.lockout->record_failure(failure("alice", "a", kT0, kT0 - 900, 1))->locked_now);
  EXPECT_TRUE(store_.lockout->lockout_state(query("alice", "a", kT0 + 100 * 86400, kT0))->lock);
}

TEST_P(LockoutStoreTest, ClearingAccountFailuresKeepsLocksAndAddressCounts) {
  ASSERT_TRUE(store_.lockout->record_failure(failure("bob", "192.0.2.1", kT0, kT0 - 900, 1)).ok());
  ASSERT_TRUE(store_.lockout->record_failure(failure("alice", "192.0.2.1", kT0)).ok());
  ASSERT_TRUE(store_.lockout->clear_account_failures("alice").ok());
  ASSERT_TRUE(store_.lockout->clear_account_failures("bob").ok());
  auto alice = store_.lockout->lockout_state(query("alice", "192.0.2.1", kT0, kT0 - 900));
  EXPECT_EQ(alice->account_failures, 0);
  EXPECT_EQ(alice->address_failures, 2);
  EXPECT_TRUE(store_.lockout->lockout_state(query("bob", "x", kT0, kT0 - 900))->lock);
}

TEST_P(LockoutStoreTest, UnlockRemovesLockAndFailuresAndSaysWhetherALockWasInForce) {
  ASSERT_TRUE(store_.lockout->record_failure(failure("alice", "a", kT0, kT0 - 900, 1))->locked_now);
  ASSERT_TRUE(store_.lockout->record_failure(failure("alice", "a", kT0 + 1)).ok());
  auto unlocked = store_.lockout->unlock_account("alice", kT0 + 2);
  ASSERT_TRUE(unlocked.ok());
  EXPECT_TRUE(*unlocked);
  auto state = store_.lockout->lockout_state(query("alice", "a", kT0 + 2, kT0 - 900));
  EXPECT_FALSE(state->lock);
  EXPECT_EQ(state->account_failures, 0);
  EXPECT_FALSE(*store_.lockout->unlock_account("alice", kT0 + 3));
  EXPECT_FALSE(*store_.lockout->unlock_account("nobody", kT0 + 3));
}

TEST_P(LockoutStoreTest, UnlockingAnEndedLockSaysItWasNotInForce) {
  auto f = failure("alice", "a", kT0, kT0 - 900, 1);
  f.lock.until = kT0 + 10;
  ASSERT_TRUE(store_.lockout->record_failure(f)->locked_now);
  EXPECT_FALSE(*store_.lockout->unlock_account("alice", kT0 + 10));
}

TEST_P(LockoutStoreTest, LocksInForceAreListedOldestFirst) {
  auto f = failure("carol", "192.0.2.3", kT0 + 2, kT0 - 900, 1);
  ASSERT_TRUE(store_.lockout->record_failure(f)->locked_now);
  f = failure("bob", "192.0.2.2", kT0 + 1, kT0 - 900, 1);
  f.lock.until = kT0 + 100;
  ASSERT_TRUE(store_.lockout->record_failure(f)->locked_now);
  f = failure("alice", "192.0.2.1", kT0, kT0 - 900, 1);
  f.lock.until = kT0 + 5;
  ASSERT_TRUE(store_.lockout->record_failure(f)->locked_now);

  auto locks = store_.lockout->list_locks(kT0 + 10);
  ASSERT_TRUE(locks.ok());
  ASSERT_EQ(locks->size(), 2u);
  EXPECT_EQ((*locks)[0].account, "bob");
  EXPECT_EQ((*locks)[0].until, kT0 + 100);
  EXPECT_EQ((*locks)[0].last_client, "192.0.2.2");
  EXPECT_EQ((*locks)[1].account, "carol");
  EXPECT_EQ((*locks)[1].until, 0);
}

TEST_P(LockoutStoreTest, FailingAddressesAtOrAboveTheMinimumAreListed) {
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(store_.lockout->record_failure(failure("", "192.0.2.1", kT0 + i)).ok());
  for (int i = 0; i < 2; ++i)
    ASSERT_TRUE(store_.lockout->record_failure(failure("", "2001:db8::1", kT0 + i)).ok());
  ASSERT_TRUE(store_.lockout->record_failure(failure("", "192.0.2.7", kT0 - 100)).ok());

  auto list = store_.lockout->list_failing_addresses(kT0, 2);
  ASSERT_TRUE(list.ok()) << list.error().message;
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].address, "192.0.2.1");
  EXPECT_EQ((*list)[0].failures, 4);
  EXPECT_EQ((*list)[0].first_at, kT0);
  EXPECT_EQ((*list)[0].threshold_at, kT0 + 2);
  EXPECT_EQ((*list)[1].address, "2001:db8::1");
  EXPECT_EQ((*list)[1].threshold_at, kT0);
  EXPECT_EQ(store_.lockout->list_failing_addresses(kT0, 3)->size(), 1u);
}

TEST_P(LockoutStoreTest, ClearingAnAddressForgetsOnlyItsFailures) {
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(store_.lockout->record_failure(failure("alice", "192.0.2.1", kT0 + i)).ok());
  ASSERT_TRUE(store_.lockout->record_failure(failure("alice", "192.0.2.2", kT0)).ok());
  auto cleared = store_.lockout->clear_address_failures("192.0.2.1");
  ASSERT_TRUE(cleared.ok());
  EXPECT_EQ(*cleared, 3);
  auto state = store_.lockout->lockout_state(query("alice", "192.0.2.1", kT0 + 5, kT0 - 900));
  EXPECT_EQ(state->address_failures, 0);
  EXPECT_EQ(state->account_failures, 4);
  EXPECT_EQ(*store_.lockout->clear_address_failures("192.0.2.1"), 0);
}

TEST_P(LockoutStoreTest, WhitelistHoldsUsersAndNetworks) {
  WhitelistEntry user{WhitelistKind::user, "svc-backup", kT0, "root", "nightly backup"};
  WhitelistEntry network{WhitelistKind::network, "10.0.0.0/8", kT0 + 1, "root", ""};
  auto added = store_.lockout->add_to_whitelist(user, kT0);
  ASSERT_TRUE(added.ok()) << added.error().message;
  EXPECT_TRUE(added->changed);
  EXPECT_FALSE(added->unlocked);
  ASSERT_TRUE(store_.lockout->add_to_whitelist(network, kT0 + 1)->changed);
  ASSERT_TRUE(
      store_.lockout->add_to_whitelist({WhitelistKind::user, "alice", kT0, "", ""}, kT0)->changed);

  // Present already: kept as it was.
  WhitelistEntry again = user;
  again.comment = "other";
  EXPECT_FALSE(store_.lockout->add_to_whitelist(again, kT0 + 5)->changed);

  auto list = store_.lockout->list_whitelist();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].kind, WhitelistKind::user);
  EXPECT_EQ((*list)[0].value, "alice");
  EXPECT_EQ((*list)[1].value, "svc-backup");
  EXPECT_EQ((*list)[1].added_at, kT0);
  EXPECT_EQ((*list)[1].added_by, "root");
  EXPECT_EQ((*list)[1].comment, "nightly backup");
  EXPECT_EQ((*list)[2].kind, WhitelistKind::network);
  EXPECT_EQ((*list)[2].value, "10.0.0.0/8");

  auto state = store_.lockout->lockout_state(query("svc-backup", "x", kT0, kT0 - 900));
  EXPECT_TRUE(state->account_whitelisted);
  EXPECT_EQ(state->whitelisted_networks, std::vector<std::string>{"10.0.0.0/8"});
  EXPECT_FALSE(
      store_.lockout->lockout_state(query("10.0.0.0/8", "x", kT0, kT0))->account_whitelisted);

  EXPECT_TRUE(store_.lockout->remove_from_whitelist(WhitelistKind::user, "svc-backup")->changed);
  EXPECT_FALSE(store_.lockout->remove_from_whitelist(WhitelistKind::user, "svc-backup")->changed);
  EXPECT_FALSE(store_.lockout->remove_from_whitelist(WhitelistKind::user, "10.0.0.0/8")->changed);
  EXPECT_TRUE(store_.lockout->remove_from_whitelist(WhitelistKind::network, "10.0.0.0/8")->changed);
  EXPECT_EQ(store_.lockout->list_whitelist()->size(), 1u);
}

TEST_P(LockoutStoreTest, WhitelistingAUserLiftsItsLockAndCount) {
  ASSERT_TRUE(store_.lockout->record_failure(failure("alice", "a", kT0, kT0 - 900, 1))->locked_now);
  ASSERT_TRUE(store_.lockout->record_failure(failure("alice", "a", kT0 + 1)).ok());
  auto added =
      store_.lockout->add_to_whitelist({WhitelistKind::user, "alice", kT0 + 2, "", ""}, kT0 + 2);
  ASSERT_TRUE(added.ok());
  EXPECT_TRUE(added->changed);
  EXPECT_TRUE(added->unlocked);
  auto state = store_.lockout->lockout_state(query("alice", "a", kT0 + 2, kT0 - 900));
  EXPECT_FALSE(state->lock);
  EXPECT_EQ(state->account_failures, 0);
  EXPECT_EQ(state->address_failures, 2);
}

TEST_P(LockoutStoreTest, PruneDropsOldFailuresAndEndedLocks) {
  ASSERT_TRUE(
      store_.lockout->record_failure(failure("alice", "192.0.2.1", kT0 - 1000, kT0 - 2000)).ok());
  ASSERT_TRUE(store_.lockout->record_failure(failure("alice", "192.0.2.1", kT0, kT0 - 2000)).ok());
  auto ended = failure("bob", "", kT0 - 50, kT0 - 900, 1);
  ended.lock.until = kT0 - 10;
  ASSERT_TRUE(store_.lockout->record_failure(ended)->locked_now);
  ASSERT_TRUE(
      store_.lockout->record_failure(failure("carol", "", kT0 - 50, kT0 - 900, 1))->locked_now);

  auto pruned = store_.lockout->prune_lockout(kT0 - 500, kT0);
  ASSERT_TRUE(pruned.ok()) << pruned.error().message;
  EXPECT_EQ(*pruned, 3);  // one account failure, one address failure, bob's lock
  auto state = store_.lockout->lockout_state(query("alice", "192.0.2.1", kT0, kT0 - 2000));
  EXPECT_EQ(state->account_failures, 1);
  EXPECT_EQ(state->address_failures, 1);
  EXPECT_EQ(store_.lockout->list_locks(kT0)->size(), 1u);
}

TEST_P(LockoutStoreTest, ConcurrentFailuresFromTwoHandlesLockExactlyOnce) {
  StoreHandle other = open_handle();
  ASSERT_TRUE(other.owner);
  constexpr int kThreads = 16;
  std::atomic<int> locked{0}, errors{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    LockoutStore* s = i % 2 == 0 ? store_.lockout : other.lockout;
    threads.emplace_back([&, s] {
      auto t = s->record_failure(failure("alice", "192.0.2.1", kT0, kT0 - 900, 5));
      if (!t)
        ++errors;
      else if (t->locked_now)
        ++locked;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(locked.load(), 1);
  EXPECT_EQ(store_.lockout->list_locks(kT0)->size(), 1u);
  auto state = store_.lockout->lockout_state(query("alice", "192.0.2.1", kT0, kT0 - 900, 50));
  EXPECT_EQ(state->address_failures, kThreads);
}

TEST_P(SharedStorageTest, AnUnlockByOneHandleIsSeenByTheOther) {
  StoreHandle cli = open_handle();
  ASSERT_TRUE(cli.owner);
  ASSERT_TRUE(store_.lockout->record_failure(failure("alice", "a", kT0, kT0 - 900, 1))->locked_now);
  EXPECT_EQ(cli.lockout->list_locks(kT0)->size(), 1u);
  EXPECT_TRUE(*cli.lockout->unlock_account("alice", kT0));
  EXPECT_FALSE(store_.lockout->lockout_state(query("alice", "a", kT0, kT0 - 900))->lock);
  ASSERT_TRUE(
      cli.lockout->add_to_whitelist({WhitelistKind::network, "10.0.0.0/8", kT0, "", ""}, kT0).ok());
  EXPECT_EQ(
      store_.lockout->lockout_state(query("alice", "a", kT0, kT0))->whitelisted_networks.size(),
      1u);
}

// --- audit -----------------------------------------------------------------------

AuditRecord audit_record(std::int64_t at, std::string event, std::string user) {
  AuditRecord r;
  r.at = at;
  r.event = std::move(event);
  r.user = user;
  r.account = user;
  r.client = "192.0.2.1";
  r.source = "local";
  r.route = "/";
  r.detail = "detail of " + r.event;
  return r;
}

std::vector<std::int64_t> ids(const std::vector<AuditRecord>& records) {
  std::vector<std::int64_t> out;
  for (const auto& r : records) out.push_back(r.id);
  return out;
}

TEST_P(AuditStoreTest, RecordsGetIncreasingIdsAndAreListedNewestFirstWithEveryField) {
  auto first = store_.audit->append_audit(audit_record(kT0, "login.failure", "alice"));
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto second = store_.audit->append_audit(audit_record(kT0, "login.success", "alice"));
  ASSERT_TRUE(second.ok());
  EXPECT_GT(*second, *first);

  auto list = store_.audit->list_audit({});
  ASSERT_TRUE(list.ok()) << list.error().message;
  ASSERT_EQ(list->size(), 2u);
  const AuditRecord& r = (*list)[0];
  EXPECT_EQ(r.id, *second);
  EXPECT_EQ(r.at, kT0);
  EXPECT_EQ(r.event, "login.success");
  EXPECT_EQ(r.user, "alice");
  EXPECT_EQ(r.account, "alice");
  EXPECT_EQ(r.client, "192.0.2.1");
  EXPECT_EQ(r.source, "local");
  EXPECT_EQ(r.route, "/");
  EXPECT_EQ(r.detail, "detail of login.success");
  EXPECT_EQ((*list)[1].id, *first);
}

TEST_P(AuditStoreTest, FiltersByAccountTimeAndEventCombine) {
  std::vector<std::int64_t> id;
  id.push_back(*store_.audit->append_audit(audit_record(kT0, "login.failure", "alice")));
  id.push_back(*store_.audit->append_audit(audit_record(kT0 + 10, "login.failure", "bob")));
  id.push_back(*store_.audit->append_audit(audit_record(kT0 + 20, "login.success", "alice")));
  id.push_back(*store_.audit->append_audit(audit_record(kT0 + 30, "login.failure", "alice")));

  AuditQuery q;
  q.account = "alice";
  EXPECT_EQ(ids(*store_.audit->list_audit(q)), (std::vector<std::int64_t>{id[3], id[2], id[0]}));
  q.since = kT0 + 10;
  EXPECT_EQ(ids(*store_.audit->list_audit(q)), (std::vector<std::int64_t>{id[3], id[2]}));
  q.event = "login.failure";
  EXPECT_EQ(ids(*store_.audit->list_audit(q)), (std::vector<std::int64_t>{id[3]}));
  q.account.clear();
  EXPECT_EQ(ids(*store_.audit->list_audit(q)), (std::vector<std::int64_t>{id[3], id[1]}));
  q.event = "logout";
  EXPECT_TRUE(store_.audit->list_audit(q)->empty());
}

TEST_P(AuditStoreTest, PagesFollowTheBeforeIdCursor) {
  std::vector<std::int64_t> all;
  for (int i = 0; i < 7; ++i)
    all.push_back(*store_.audit->append_audit(audit_record(kT0 + i, "login.success", "alice")));
  std::reverse(all.begin(), all.end());

  std::vector<std::int64_t> seen;
  AuditQuery q;
  q.limit = 3;
  for (int page = 0; page < 5; ++page) {
    auto list = store_.audit->list_audit(q);
    ASSERT_TRUE(list.ok());
    if (list->empty()) break;
    EXPECT_LE(list->size(), 3u);
    for (auto i : ids(*list)) seen.push_back(i);
    q.before_id = list->back().id;
  }
  EXPECT_EQ(seen, all);
  q.account = "alice";
  q.before_id = all[1];
  q.limit = 2;
  EXPECT_EQ(ids(*store_.audit->list_audit(q)), (std::vector<std::int64_t>{all[2], all[3]}));
}

TEST_P(AuditStoreTest, DeleteBeforeRemovesTheOldestInBatchesAndIdsAreNeverReused) {
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(store_.audit->append_audit(audit_record(kT0 + i, "logout", "alice")).ok());
  auto newest = *store_.audit->append_audit(audit_record(kT0 + 100, "logout", "alice"));

  auto batch = store_.audit->delete_audit_before(kT0 + 100, 3);
  ASSERT_TRUE(batch.ok()) << batch.error().message;
  EXPECT_EQ(*batch, 3);
  auto left = store_.audit->list_audit({});
  ASSERT_EQ(left->size(), 3u);
  EXPECT_EQ(left->back().at, kT0 + 3);  // the oldest went first
  EXPECT_EQ(*store_.audit->delete_audit_before(kT0 + 100, 3), 2);
  EXPECT_EQ(*store_.audit->delete_audit_before(kT0 + 100, 3), 0);
  EXPECT_EQ(ids(*store_.audit->list_audit({})), std::vector<std::int64_t>{newest});

  ASSERT_EQ(*store_.audit->delete_audit_before(kT0 + 1000, 10), 1);
  auto next = store_.audit->append_audit(audit_record(kT0 + 200, "logout", "alice"));
  EXPECT_GT(*next, newest);
}

TEST_P(AuditStoreTest, LoginSummaryHasTheLastSuccessAndTheLastFailureOfTheAccount) {
  auto none = store_.audit->login_summary("alice");
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_EQ(none->last_success, 0);
  EXPECT_EQ(none->last_failure, 0);

  ASSERT_TRUE(store_.audit->append_audit(audit_record(kT0, "login.success", "alice")).ok());
  ASSERT_TRUE(store_.audit->append_audit(audit_record(kT0 + 10, "login.failure", "alice")).ok());
  ASSERT_TRUE(store_.audit->append_audit(audit_record(kT0 + 20, "login.success", "alice")).ok());
  ASSERT_TRUE(store_.audit->append_audit(audit_record(kT0 + 30, "login.locked", "alice")).ok());
  ASSERT_TRUE(store_.audit->append_audit(audit_record(kT0 + 40, "login.success", "bob")).ok());
  ASSERT_TRUE(store_.audit->append_audit(audit_record(kT0 + 50, "logout", "alice")).ok());

  auto alice = store_.audit->login_summary("alice");
  EXPECT_EQ(alice->last_success, kT0 + 20);
  EXPECT_EQ(alice->last_failure, kT0 + 30);
  auto bob = store_.audit->login_summary("bob");
  EXPECT_EQ(bob->last_success, kT0 + 40);
  EXPECT_EQ(bob->last_failure, 0);
}

TEST_P(AuditStoreTest, TextIsStoredAsGiven) {
  AuditRecord r = audit_record(kT0, "login.failure", "Ünïcødé\\user");
  r.detail = std::string("a\0b\nc", 5);
  ASSERT_TRUE(store_.audit->append_audit(r).ok());
  auto list = store_.audit->list_audit({});
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].user, "Ünïcødé\\user");
  EXPECT_EQ((*list)[0].detail, r.detail);
}

}  // namespace
}  // namespace gatehouse::store::conformance
