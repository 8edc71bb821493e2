// Behaviour every store backend must share. Backend-specific checks (files,
// migrations, modes) live beside each backend's instantiation.
#include "unit/store/conformance.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gatehouse::store::conformance {
namespace {

using Strings = std::vector<std::string>;

// Raw session ids are 32 arbitrary bytes; make them binary on purpose.
std::string session_id(char tag) {
  std::string id(32, '\0');
  for (std::size_t i = 0; i < id.size(); ++i) id[i] = static_cast<char>((i * 37 + tag) & 0xff);
  id[0] = '\0';
  return id;
}

User make_user(std::string name, std::string tenant = kTenant) {
  User u;
  u.name = std::move(name);
  u.tenant = std::move(tenant);
  u.email = u.name + "@example.org";
  u.display_name = "User " + u.name;
  u.password_hash = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA";
  u.created_at = kT0;
  return u;
}

SessionRecord make_session(std::string id, std::string user, std::int64_t created_at,
                           std::int64_t last_seen) {
  SessionRecord r;
  r.id = std::move(id);
  r.user = std::move(user);
  r.email = r.user + "@example.org";
  r.display_name = "User " + r.user;
  r.groups = {"staff", "admins"};
  r.real_party = "acme";
  r.effective_party = "globex";
  r.source = "local";
  r.created_at = created_at;
  r.last_seen = last_seen;
  return r;
}

// --- tenants ---------------------------------------------------------------------

TEST_P(TenantsTest, AddedTenantsAreListedByName) {
  ASSERT_TRUE(store_.tenants->add_tenant({"globex", kT0 + 1, "", ""}).ok());
  ASSERT_TRUE(store_.tenants->add_tenant({"acme", kT0, "", ""}).ok());

  auto tenants = store_.tenants->list_tenants();
  ASSERT_TRUE(tenants.ok()) << tenants.error().message;
  ASSERT_EQ(tenants->size(), 2u);
  EXPECT_EQ((*tenants)[0].name, "acme");
  EXPECT_EQ((*tenants)[0].created_at, kT0);
  EXPECT_EQ((*tenants)[1].name, "globex");
  EXPECT_EQ((*tenants)[1].created_at, kT0 + 1);
}

TEST_P(TenantsTest, NoTenantsListedInitially) {
  auto tenants = store_.tenants->list_tenants();
  ASSERT_TRUE(tenants.ok());
  EXPECT_TRUE(tenants->empty());
}

TEST_P(TenantsTest, AddingExistingTenantFailsWithExists) {
  ASSERT_TRUE(store_.tenants->add_tenant({"acme", kT0, "", ""}).ok());
  auto again = store_.tenants->add_tenant({"acme", kT0 + 5, "", ""});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, "store.exists");
  EXPECT_EQ(store_.tenants->list_tenants()->size(), 1u);
}

TEST_P(TenantsTest, TenantExistsReportsPresence) {
  ASSERT_TRUE(store_.tenants->add_tenant({"acme", kT0, "", ""}).ok());
  EXPECT_TRUE(*store_.tenants->tenant_exists("acme"));
  EXPECT_FALSE(*store_.tenants->tenant_exists("globex"));
  EXPECT_FALSE(*store_.tenants->tenant_exists("ACME"));
}

// --- users -----------------------------------------------------------------------

TEST_P(UsersTest, AddedUserIsFoundWithEveryField) {
  User alice = make_user("alice");
  alice.groups = {"admins", "staff"};
  alice.disabled = true;
  alice.created_at = kT0 + 42;
  ASSERT_TRUE(store_.users->add_user(alice).ok());

  auto found = store_.users->find_user("alice");
  ASSERT_TRUE(found.ok()) << found.error().message;
  ASSERT_TRUE(found->has_value());
  const User& u = **found;
  EXPECT_EQ(u.name, "alice");
  EXPECT_EQ(u.tenant, "acme");
  EXPECT_EQ(u.email, "alice@example.org");
  EXPECT_EQ(u.display_name, "User alice");
  EXPECT_EQ(u.password_hash, alice.password_hash);
  EXPECT_TRUE(u.disabled);
  EXPECT_EQ(u.created_at, kT0 + 42);
  EXPECT_EQ(u.groups, (Strings{"admins", "staff"}));
}

TEST_P(UsersTest, UnknownUserIsNotFound) {
  auto found = store_.users->find_user("nobody");
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());
}

TEST_P(UsersTest, NamesAreCaseInsensitiveAndKeepTheirSpelling) {
  // The lockout counts "Alice" towards "alice": signing in must agree.
  ASSERT_TRUE(store_.users->add_user(make_user("Alice")).ok());
  for (const char* typed : {"Alice", "alice", "ALICE", "aLiCe"}) {
    auto found = store_.users->find_user(typed);
    ASSERT_TRUE(found.ok() && found->has_value()) << typed;
    EXPECT_EQ((**found).name, "Alice") << typed;
  }
  EXPECT_FALSE(store_.users->find_user("alic")->has_value());
  EXPECT_FALSE(store_.users->find_user("alice ")->has_value());
  EXPECT_FALSE(store_.users->find_user("al%ce")->has_value());
  EXPECT_FALSE(store_.users->find_user("al_ce")->has_value());
  for (const char* variant : {"alice", "ALICE", "aLICE"}) {
    auto s = store_.users->add_user(make_user(variant));
    ASSERT_FALSE(s.ok()) << variant;
    EXPECT_EQ(s.error().code, "store.exists") << variant;
  }
  ASSERT_TRUE(store_.users->set_disabled("ALICE", true).ok());
  EXPECT_TRUE((**store_.users->find_user("Alice")).disabled);
}

TEST_P(UsersTest, AddingExistingUserFailsWithExists) {
  ASSERT_TRUE(store_.users->add_user(make_user("alice")).ok());
  User again = make_user("alice");
  again.email = "other@example.org";
  auto s = store_.users->add_user(again);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "store.exists");
  EXPECT_EQ((**store_.users->find_user("alice")).email, "alice@example.org");
}

TEST_P(UsersTest, AddingUserToUnknownTenantFailsWithNoTenant) {
  User u = make_user("bob", "initech");
  u.groups = {"staff"};
  auto s = store_.users->add_user(u);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "store.no_tenant");
  EXPECT_FALSE(store_.users->find_user("bob")->has_value());
}

TEST_P(UsersTest, GroupsRoundTripAsSortedSet) {
  User u = make_user("alice");
  u.groups = {"staff", "Admins", "staff", "with space", "ünïcode"};
  ASSERT_TRUE(store_.users->add_user(u).ok());
  // Byte order, as the store compares names.
  EXPECT_EQ((**store_.users->find_user("alice")).groups,
            (Strings{"Admins", "staff", "with space", "ünïcode"}));
}

TEST_P(UsersTest, UserWithoutGroupsHasNone) {
  ASSERT_TRUE(store_.users->add_user(make_user("alice")).ok());
  EXPECT_TRUE((**store_.users->find_user("alice")).groups.empty());
}

TEST_P(UsersTest, ListUsersReturnsEveryUserByNameWithOwnGroups) {
  ASSERT_TRUE(store_.tenants->add_tenant({"globex", kT0, "", ""}).ok());
  User carol = make_user("carol", "globex");
  carol.groups = {"ops"};
  User alice = make_user("alice");
  alice.groups = {"staff", "admins"};
  ASSERT_TRUE(store_.users->add_user(carol).ok());
  ASSERT_TRUE(store_.users->add_user(alice).ok());
  ASSERT_TRUE(store_.users->add_user(make_user("bob")).ok());

  auto users = store_.users->list_users();
  ASSERT_TRUE(users.ok()) << users.error().message;
  ASSERT_EQ(users->size(), 3u);
  EXPECT_EQ((*users)[0].name, "alice");
  EXPECT_EQ((*users)[0].groups, (Strings{"admins", "staff"}));
  EXPECT_EQ((*users)[1].name, "bob");
  EXPECT_TRUE((*users)[1].groups.empty());
  EXPECT_EQ((*users)[2].name, "carol");
  EXPECT_EQ((*users)[2].tenant, "globex");
  EXPECT_EQ((*users)[2].groups, (Strings{"ops"}));
}

TEST_P(UsersTest, SetPasswordHashReplacesHash) {
  ASSERT_TRUE(store_.users->add_user(make_user("alice")).ok());
  ASSERT_TRUE(store_.users->set_password_hash("alice", "$argon2id$new").ok());
  EXPECT_EQ((**store_.users->find_user("alice")).password_hash, "$argon2id$new");
  ASSERT_TRUE(store_.users->set_password_hash("alice", "").ok());
  EXPECT_EQ((**store_.users->find_user("alice")).password_hash, "");
}

TEST_P(UsersTest, SetPasswordHashOfUnknownUserFailsWithNotFound) {
  auto s = store_.users->set_password_hash("nobody", "$argon2id$x");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "store.not_found");
  EXPECT_EQ(s.error().message.find("argon2id"), std::string::npos) << "message leaks the hash";
}

TEST_P(UsersTest, SetDisabledTogglesFlag) {
  ASSERT_TRUE(store_.users->add_user(make_user("alice")).ok());
  ASSERT_TRUE(store_.users->set_disabled("alice", true).ok());
  EXPECT_TRUE((**store_.users->find_user("alice")).disabled);
  ASSERT_TRUE(store_.users->set_disabled("alice", false).ok());
  EXPECT_FALSE((**store_.users->find_user("alice")).disabled);
}

TEST_P(UsersTest, SetDisabledOfUnknownUserFailsWithNotFound) {
  auto s = store_.users->set_disabled("nobody", true);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "store.not_found");
}

// --- sessions --------------------------------------------------------------------

TEST_P(SessionsTest, CreatedSessionIsFoundWithEveryField) {
  const auto id = session_id('a');
  ASSERT_TRUE(store_.sessions->create_session(make_session(id, "alice", kT0, kT0 + 10)).ok());

  auto found = store_.sessions->find_session(id);
  ASSERT_TRUE(found.ok()) << found.error().message;
  ASSERT_TRUE(found->has_value());
  const SessionRecord& r = **found;
  EXPECT_EQ(r.id, id);
  EXPECT_EQ(r.user, "alice");
  EXPECT_EQ(r.email, "alice@example.org");
  EXPECT_EQ(r.display_name, "User alice");
  EXPECT_EQ(r.groups, (Strings{"staff", "admins"}));
  EXPECT_EQ(r.real_party, "acme");
  EXPECT_EQ(r.effective_party, "globex");
  EXPECT_EQ(r.source, "local");
  EXPECT_EQ(r.created_at, kT0);
  EXPECT_EQ(r.last_seen, kT0 + 10);
}

TEST_P(SessionsTest, ProviderStateIsKeptAsBytesWithRefreshTime) {
  const auto id = session_id('p');
  auto r = make_session(id, "alice", kT0, kT0);
  r.source = "sso";
  r.provider_state = std::string("\x00sealed\xff\x01", 9);
  r.refresh_at = kT0 + 300;
  ASSERT_TRUE(store_.sessions->create_session(r).ok());
  auto found = store_.sessions->find_session(id);
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->provider_state, r.provider_state);
  EXPECT_EQ((*found)->refresh_at, kT0 + 300);
  // A password session has neither.
  ASSERT_TRUE(store_.sessions->create_session(make_session(session_id('q'), "bob", kT0, kT0)).ok());
  auto plain = **store_.sessions->find_session(session_id('q'));
  EXPECT_TRUE(plain.provider_state.empty());
  EXPECT_EQ(plain.refresh_at, 0);
}

TEST_P(SessionsTest, UpdateReplacesIdentityAndProviderFieldsOnly) {
  const auto id = session_id('u');
  ASSERT_TRUE(store_.sessions->create_session(make_session(id, "alice", kT0, kT0 + 5)).ok());
  SessionUpdate u;
  u.user = "alice2";
  u.email = "alice2@example.org";
  u.display_name = "Alice Two";
  u.groups = {"sales"};
  u.real_party = "initech";
  u.effective_party = "initech";
  u.provider_state = "new-state";
  u.refresh_at = kT0 + 900;
  ASSERT_TRUE(store_.sessions->update_session(id, u).ok());
  auto r = **store_.sessions->find_session(id);
  EXPECT_EQ(r.user, "alice2");
  EXPECT_EQ(r.email, "alice2@example.org");
  EXPECT_EQ(r.display_name, "Alice Two");
  EXPECT_EQ(r.groups, (Strings{"sales"}));
  EXPECT_EQ(r.real_party, "initech");
  EXPECT_EQ(r.effective_party, "initech");
  EXPECT_EQ(r.provider_state, "new-state");
  EXPECT_EQ(r.refresh_at, kT0 + 900);
  EXPECT_EQ(r.source, "local");
  EXPECT_EQ(r.created_at, kT0);
  EXPECT_EQ(r.last_seen, kT0 + 5);
  auto missing = store_.sessions->update_session(session_id('x'), u);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "store.not_found");
}

TEST_P(SessionsTest, SessionGroupsKeepOrderAndEmptyEntries) {
  const std::vector<std::vector<std::string>> cases = {
      {}, {""}, {"", ""}, {"b", "a", "b"}, {"with space", "ünïcode", ""}};
  char tag = 'a';
  for (const auto& groups : cases) {
    auto r = make_session(session_id(tag++), "alice", kT0, kT0);
    r.groups = groups;
    ASSERT_TRUE(store_.sessions->create_session(r).ok());
    EXPECT_EQ((**store_.sessions->find_session(r.id)).groups, groups);
  }
}

TEST_P(SessionsTest, UnknownSessionIsNotFound) {
  auto found = store_.sessions->find_session(session_id('z'));
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());
}

TEST_P(SessionsTest, CreatingSessionWithExistingIdFailsWithExists) {
  const auto id = session_id('a');
  ASSERT_TRUE(store_.sessions->create_session(make_session(id, "alice", kT0, kT0)).ok());
  auto again = store_.sessions->create_session(make_session(id, "mallory", kT0, kT0));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, "store.exists");
  EXPECT_EQ((**store_.sessions->find_session(id)).user, "alice");
}

TEST_P(SessionsTest, TouchMovesLastSeenForwardButNeverBack) {
  const auto id = session_id('a');
  ASSERT_TRUE(store_.sessions->create_session(make_session(id, "alice", kT0, kT0)).ok());
  ASSERT_TRUE(store_.sessions->touch_session(id, kT0 + 100).ok());
  EXPECT_EQ((**store_.sessions->find_session(id)).last_seen, kT0 + 100);
  ASSERT_TRUE(store_.sessions->touch_session(id, kT0 + 50).ok());
  EXPECT_EQ((**store_.sessions->find_session(id)).last_seen, kT0 + 100);
  EXPECT_EQ((**store_.sessions->find_session(id)).created_at, kT0);
}

TEST_P(SessionsTest, TouchingUnknownSessionFailsWithNotFound) {
  auto s = store_.sessions->touch_session(session_id('z'), kT0);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "store.not_found");
}

TEST_P(SessionsTest, DeletedSessionIsGoneAndOthersStay) {
  const auto a = session_id('a');
  const auto b = session_id('b');
  ASSERT_TRUE(store_.sessions->create_session(make_session(a, "alice", kT0, kT0)).ok());
  ASSERT_TRUE(store_.sessions->create_session(make_session(b, "alice", kT0, kT0)).ok());
  ASSERT_TRUE(store_.sessions->delete_session(a).ok());
  EXPECT_FALSE(store_.sessions->find_session(a)->has_value());
  EXPECT_TRUE(store_.sessions->find_session(b)->has_value());
}

TEST_P(SessionsTest, DeletingUnknownSessionSucceeds) {
  // Logging out twice (or after expiry) is not an error.
  EXPECT_TRUE(store_.sessions->delete_session(session_id('z')).ok());
}

TEST_P(SessionsTest, DeleteExpiredRemovesSessionsCreatedBeforeAbsoluteLimit) {
  const auto old_but_active = session_id('o');
  const auto fresh = session_id('f');
  ASSERT_TRUE(
      store_.sessions->create_session(make_session(old_but_active, "alice", kT0, kT0 + 1000)).ok());
  ASSERT_TRUE(
      store_.sessions->create_session(make_session(fresh, "alice", kT0 + 500, kT0 + 1000)).ok());

  auto removed = store_.sessions->delete_expired_sessions(kT0 + 1, kT0);
  ASSERT_TRUE(removed.ok()) << removed.error().message;
  EXPECT_EQ(*removed, 1);
  EXPECT_FALSE(store_.sessions->find_session(old_but_active)->has_value());
  EXPECT_TRUE(store_.sessions->find_session(fresh)->has_value());
}

TEST_P(SessionsTest, DeleteExpiredRemovesIdleSessions) {
  const auto idle = session_id('i');
  const auto active = session_id('a');
  ASSERT_TRUE(store_.sessions->create_session(make_session(idle, "alice", kT0, kT0 + 10)).ok());
  ASSERT_TRUE(store_.sessions->create_session(make_session(active, "alice", kT0, kT0 + 900)).ok());

  auto removed = store_.sessions->delete_expired_sessions(kT0, kT0 + 600);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 1);
  EXPECT_FALSE(store_.sessions->find_session(idle)->has_value());
  EXPECT_TRUE(store_.sessions->find_session(active)->has_value());
}

TEST_P(SessionsTest, DeleteExpiredCountsBothCriteriaAndKeepsBoundaryValues) {
  // Strictly "before": a session exactly at either limit survives.
  ASSERT_TRUE(
      store_.sessions->create_session(make_session(session_id('1'), "a", kT0 - 1, kT0 + 900)).ok());
  ASSERT_TRUE(
      store_.sessions->create_session(make_session(session_id('2'), "b", kT0 + 5, kT0 + 599)).ok());
  ASSERT_TRUE(
      store_.sessions->create_session(make_session(session_id('3'), "c", kT0 - 1, kT0 + 1)).ok());
  ASSERT_TRUE(
      store_.sessions->create_session(make_session(session_id('4'), "d", kT0, kT0 + 600)).ok());

  auto removed = store_.sessions->delete_expired_sessions(kT0, kT0 + 600);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 3);
  EXPECT_TRUE(store_.sessions->find_session(session_id('4'))->has_value());
  EXPECT_EQ(*store_.sessions->delete_expired_sessions(kT0, kT0 + 600), 0);
}

TEST_P(SessionsTest, CountSessionsCountsWhatDeleteExpiredWouldKeep) {
  EXPECT_EQ(*store_.sessions->count_sessions(kT0, kT0 + 600), 0);
  // The same four as above: only the one at both limits counts.
  ASSERT_TRUE(
      store_.sessions->create_session(make_session(session_id('1'), "a", kT0 - 1, kT0 + 900)).ok());
  ASSERT_TRUE(
      store_.sessions->create_session(make_session(session_id('2'), "b", kT0 + 5, kT0 + 599)).ok());
  ASSERT_TRUE(
      store_.sessions->create_session(make_session(session_id('3'), "c", kT0 - 1, kT0 + 1)).ok());
  ASSERT_TRUE(
      store_.sessions->create_session(make_session(session_id('4'), "d", kT0, kT0 + 600)).ok());

  auto active = store_.sessions->count_sessions(kT0, kT0 + 600);
  ASSERT_TRUE(active.ok()) << active.error().message;
  EXPECT_EQ(*active, 1);
  EXPECT_EQ(*store_.sessions->count_sessions(kT0 - 1, kT0), 4);
  // Counting changes nothing.
  EXPECT_EQ(*store_.sessions->delete_expired_sessions(kT0, kT0 + 600), 3);
  EXPECT_EQ(*store_.sessions->count_sessions(kT0 - 1, kT0), 1);
}

TEST_P(SessionsTest, DeleteUserSessionsRemovesOnlyThatUsersSessions) {
  ASSERT_TRUE(
      store_.sessions->create_session(make_session(session_id('a'), "alice", kT0, kT0)).ok());
  ASSERT_TRUE(
      store_.sessions->create_session(make_session(session_id('b'), "alice", kT0, kT0)).ok());
  ASSERT_TRUE(store_.sessions->create_session(make_session(session_id('c'), "bob", kT0, kT0)).ok());

  auto removed = store_.sessions->delete_user_sessions("alice");
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 2);
  EXPECT_FALSE(store_.sessions->find_session(session_id('a'))->has_value());
  EXPECT_FALSE(store_.sessions->find_session(session_id('b'))->has_value());
  EXPECT_TRUE(store_.sessions->find_session(session_id('c'))->has_value());
  EXPECT_EQ(*store_.sessions->delete_user_sessions("nobody"), 0);
}

// --- key/value -------------------------------------------------------------------

TEST_P(KeyValueTest, MissingKeyHasNoValue) {
  auto v = store_.kv->get_value("signing-key");
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->has_value());
}

TEST_P(KeyValueTest, PutIfAbsentStoresAndReturnsValue) {
  auto stored = store_.kv->put_value_if_absent("signing-key", "first");
  ASSERT_TRUE(stored.ok()) << stored.error().message;
  EXPECT_EQ(*stored, "first");
  EXPECT_EQ(**store_.kv->get_value("signing-key"), "first");
}

TEST_P(KeyValueTest, PutIfAbsentKeepsFirstValueAndReturnsIt) {
  ASSERT_TRUE(store_.kv->put_value_if_absent("signing-key", "first").ok());
  auto second = store_.kv->put_value_if_absent("signing-key", "second");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, "first");
  EXPECT_EQ(**store_.kv->get_value("signing-key"), "first");
}

TEST_P(KeyValueTest, ValuesAreBinarySafe) {
  const std::string binary("\0\x01\xff\x1f\0end", 7);
  EXPECT_EQ(*store_.kv->put_value_if_absent("binary", binary), binary);
  EXPECT_EQ(**store_.kv->get_value("binary"), binary);
  EXPECT_EQ(*store_.kv->put_value_if_absent("empty", ""), "");
  auto empty = store_.kv->get_value("empty");
  ASSERT_TRUE(empty->has_value());
  EXPECT_EQ(**empty, "");
}

// --- two handles on the same storage (admin CLI beside the daemon) ----------------

TEST_P(SharedStorageTest, EachHandleSeesTheOthersWrites) {
  StoreHandle cli = open_handle();
  ASSERT_TRUE(cli.owner);

  ASSERT_TRUE(cli.users->add_user(make_user("alice")).ok());
  EXPECT_TRUE(store_.users->find_user("alice")->has_value());

  const auto id = session_id('a');
  ASSERT_TRUE(store_.sessions->create_session(make_session(id, "alice", kT0, kT0)).ok());
  EXPECT_EQ(*cli.sessions->delete_user_sessions("alice"), 1);
  EXPECT_FALSE(store_.sessions->find_session(id)->has_value());

  ASSERT_TRUE(cli.users->set_disabled("alice", true).ok());
  EXPECT_TRUE((**store_.users->find_user("alice")).disabled);
}

TEST_P(SharedStorageTest, HandlesRacingToCreateAKeyAgreeOnOneValue) {
  StoreHandle other = open_handle();
  ASSERT_TRUE(other.owner);
  std::vector<std::string> results(8);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < results.size(); ++i) {
    KeyValueStore* kv = (i % 2 == 0) ? store_.kv : other.kv;
    threads.emplace_back([kv, i, &results] {
      auto r = kv->put_value_if_absent("signing-key", "value-" + std::to_string(i));
      results[i] = r.ok() ? *r : "error: " + r.error().message;
    });
  }
  for (auto& t : threads) t.join();
  const std::string winner = **store_.kv->get_value("signing-key");
  for (const auto& r : results) EXPECT_EQ(r, winner);
}

TEST_P(SharedStorageTest, ConcurrentUserAddsFromThreadsAllSucceed) {
  constexpr int kThreads = 4;
  constexpr int kUsersPerThread = 50;
  StoreHandle other = open_handle();
  ASSERT_TRUE(other.owner);

  std::atomic<int> failures{0};
  std::string first_error;
  std::mutex error_mu;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    // Half the threads share one handle, half the other: contention inside one
    // handle and between handles.
    UserStore* users = (t % 2 == 0) ? store_.users : other.users;
    threads.emplace_back([&, users, t] {
      for (int i = 0; i < kUsersPerThread; ++i) {
        User u = make_user("user-" + std::to_string(t) + "-" + std::to_string(i));
        u.groups = {"staff", "team-" + std::to_string(t)};
        auto s = users->add_user(u);
        if (!s) {
          std::lock_guard lock(error_mu);
          if (failures++ == 0) first_error = s.error().code + ": " + s.error().message;
        }
      }
    });
  }
  for (auto& th : threads) th.join();

  EXPECT_EQ(failures.load(), 0) << first_error;
  auto users = store_.users->list_users();
  ASSERT_TRUE(users.ok());
  EXPECT_EQ(users->size(), static_cast<std::size_t>(kThreads * kUsersPerThread));
  for (const auto& u : *users) EXPECT_EQ(u.groups.size(), 2u) << u.name;
}

}  // namespace
}  // namespace gatehouse::store::conformance
