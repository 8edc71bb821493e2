// Conformance: the tenancy model (store/tenancy_store.h), which every backend must share.
// Tenants "acme" and "globex" exist in each test (TenancyStoreTest).
#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "unit/store/conformance.h"

namespace gatehouse::store::conformance {
// Named so that the unity build keeps these helpers apart from the other test files'.
namespace tenancy_cases {
namespace {

const UserRef kAlice{"ldap", "alice"};
const UserRef kBob{"ldap", "bob"};
const UserRef kOtherAlice{"oidc", "alice"};  // another user: another source

Delegation delegation(std::string tenant, std::string email, std::int64_t until = 0) {
  Delegation d;
  d.tenant = std::move(tenant);
  d.email = std::move(email);
  d.granted_by = "cli";
  d.created_at = kT0;
  d.until = until;
  return d;
}

KnownUser known(UserRef user, std::vector<std::string> superuser_of, std::int64_t at = kT0) {
  KnownUser u;
  u.user = std::move(user);
  u.email = u.user.name + "@example.org";
  u.display_name = "User " + u.user.name;
  u.real_party = "acme";
  u.superuser_of = std::move(superuser_of);
  u.last_sign_in = at;
  return u;
}

OutboxMessage mail(std::string recipient, std::int64_t created_at,
                   std::string kind = "party.switched") {
  OutboxMessage m;
  m.created_at = created_at;
  m.recipient = std::move(recipient);
  m.kind = std::move(kind);
  m.language = "nl";
  m.payload = R"({"party":"globex"})";
  m.next_attempt_at = created_at;
  return m;
}

PartySwitch to_party(UserRef user, std::string party, std::int64_t delegation_id,
                     std::int64_t expected, std::int64_t at = kT0) {
  PartySwitch s;
  s.next.user = std::move(user);
  s.next.party = std::move(party);
  s.next.delegation_id = delegation_id;
  s.next.chosen_at = at;
  s.next.notice = "switched";
  s.expected_delegation_id = expected;
  return s;
}

std::vector<std::int64_t> ids_of(const std::vector<Delegation>& ds) {
  std::vector<std::int64_t> out;
  for (const auto& d : ds) out.push_back(d.id);
  return out;
}

std::vector<std::int64_t> ids_of(const std::vector<OutboxMessage>& ms) {
  std::vector<std::int64_t> out;
  for (const auto& m : ms) out.push_back(m.id);
  return out;
}

std::vector<std::string> names_of(const std::vector<KnownUser>& us) {
  std::vector<std::string> out;
  for (const auto& u : us) out.push_back(u.user.source + ":" + u.user.name);
  return out;
}

std::vector<std::string> names_of(const std::vector<PartyChoice>& cs) {
  std::vector<std::string> out;
  for (const auto& c : cs) out.push_back(c.user.source + ":" + c.user.name);
  return out;
}

UsageRow usage(std::string day, std::string party, std::string route, std::int64_t requests,
               std::int64_t delegation_id = 0, std::string delegate_party = "") {
  return UsageRow{std::move(day), std::move(party),         std::move(route),
                  delegation_id,  std::move(delegate_party), requests};
}


// --- tenants -----------------------------------------------------------------------

TEST_P(TenancyStoreTest, TenantsCarryDisplayNameAndLanguage) {
  ASSERT_TRUE(store_.tenants->add_tenant({"initech", kT0 + 3, "Initech B.V.", "nl"}).ok());
  auto found = db_->find_tenant("initech");
  ASSERT_TRUE(found.ok()) << found.error().message;
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((**found).created_at, kT0 + 3);
  EXPECT_EQ((**found).display_name, "Initech B.V.");
  EXPECT_EQ((**found).language, "nl");
  auto all = store_.tenants->list_tenants();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[1].name, "globex");
  EXPECT_EQ((*all)[1].display_name, "");
  EXPECT_EQ((*all)[2].display_name, "Initech B.V.");
  EXPECT_EQ((*all)[2].language, "nl");
  EXPECT_FALSE(db_->find_tenant("nobody")->has_value());
  EXPECT_FALSE(db_->find_tenant("ACME")->has_value());  // names are exact
}

TEST_P(TenancyStoreTest, UpsertTenantAddsOrReplacesNameAndLanguageKeepingCreatedAt) {
  ASSERT_TRUE(db_->upsert_tenant({"initech", kT0 + 7, "Initech", "de"}).ok());
  EXPECT_TRUE(*store_.tenants->tenant_exists("initech"));
  ASSERT_TRUE(db_->upsert_tenant({"initech", kT0 + 99, "Initech AG", "it"}).ok());
  auto t = **db_->find_tenant("initech");
  EXPECT_EQ(t.created_at, kT0 + 7);
  EXPECT_EQ(t.display_name, "Initech AG");
  EXPECT_EQ(t.language, "it");
  ASSERT_TRUE(db_->upsert_tenant({"acme", kT0 + 99, "ACME Corp", "en"}).ok());
  auto acme = **db_->find_tenant("acme");
  EXPECT_EQ(acme.created_at, kT0);
  EXPECT_EQ(acme.display_name, "ACME Corp");
}

// --- superusers --------------------------------------------------------------------

TEST_P(TenancyStoreTest, SuperusersAreAddedOnceAndListedBySourceThenName) {
  EXPECT_TRUE(*db_->add_superuser("acme", kBob, kT0));
  EXPECT_TRUE(*db_->add_superuser("acme", kOtherAlice, kT0));
  EXPECT_TRUE(*db_->add_superuser("acme", kAlice, kT0));
  auto again = db_->add_superuser("acme", kAlice, kT0 + 1);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_FALSE(*again);
  auto list = db_->list_superusers("acme");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(*list, (std::vector<UserRef>{kAlice, kBob, kOtherAlice}));
  EXPECT_TRUE(db_->list_superusers("globex")->empty());
}

TEST_P(TenancyStoreTest, SuperuserOfUnknownTenantFailsWithNoTenant) {
  auto added = db_->add_superuser("initech", kAlice, kT0);
  ASSERT_FALSE(added.ok());
  EXPECT_EQ(added.error().code, "store.no_tenant");
  EXPECT_TRUE(db_->named_superuser_tenants(kAlice)->empty());
}

TEST_P(TenancyStoreTest, NamedSuperuserIsPerTenantAndPerSource) {
  ASSERT_TRUE(db_->add_superuser("globex", kAlice, kT0).ok());
  ASSERT_TRUE(db_->add_superuser("acme", kAlice, kT0).ok());
  EXPECT_TRUE(*db_->is_named_superuser("acme", kAlice));
  EXPECT_FALSE(*db_->is_named_superuser("acme", kOtherAlice));
  EXPECT_FALSE(*db_->is_named_superuser("acme", {"ldap", "Alice"}));
  EXPECT_EQ(*db_->named_superuser_tenants(kAlice), (std::vector<std::string>{"acme", "globex"}));
  EXPECT_TRUE(db_->named_superuser_tenants(kOtherAlice)->empty());

  EXPECT_TRUE(*db_->remove_superuser("acme", kAlice));
  EXPECT_FALSE(*db_->remove_superuser("acme", kAlice));
  EXPECT_FALSE(*db_->is_named_superuser("acme", kAlice));
  EXPECT_EQ(*db_->named_superuser_tenants(kAlice), (std::vector<std::string>{"globex"}));
}

// --- known users -------------------------------------------------------------------

TEST_P(TenancyStoreTest, SignInIsRecordedAndReplacedWhole) {
  EXPECT_FALSE(db_->find_known_user(kAlice)->has_value());
  ASSERT_TRUE(db_->record_sign_in(known(kAlice, {"globex", "acme", "globex"})).ok());
  auto first = db_->find_known_user(kAlice);
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ((**first).user, kAlice);
  EXPECT_EQ((**first).email, "alice@example.org");
  EXPECT_EQ((**first).display_name, "User alice");
  EXPECT_EQ((**first).real_party, "acme");
  EXPECT_EQ((**first).superuser_of, (std::vector<std::string>{"acme", "globex"}));
  EXPECT_EQ((**first).last_sign_in, kT0);

  KnownUser later = known(kAlice, {}, kT0 + 60);
  later.email = "";
  later.display_name = "Alice A.";
  later.real_party = "globex";
  ASSERT_TRUE(db_->record_sign_in(later).ok());
  auto second = **db_->find_known_user(kAlice);
  EXPECT_EQ(second.email, "");
  EXPECT_EQ(second.display_name, "Alice A.");
  EXPECT_EQ(second.real_party, "globex");
  EXPECT_TRUE(second.superuser_of.empty());
  EXPECT_EQ(second.last_sign_in, kT0 + 60);
  EXPECT_FALSE(db_->find_known_user(kOtherAlice)->has_value());
}

TEST_P(TenancyStoreTest, GroupSuperusersAreKnownUsersWhoseListHoldsTheTenant) {
  ASSERT_TRUE(db_->record_sign_in(known(kOtherAlice, {"acme"})).ok());
  ASSERT_TRUE(db_->record_sign_in(known(kBob, {"acme", "globex"})).ok());
  ASSERT_TRUE(db_->record_sign_in(known(kAlice, {"acme"})).ok());
  // Names that contain, start or end like "acme" are other tenants.
  ASSERT_TRUE(db_->record_sign_in(known({"ldap", "carol"}, {"acme2", "xacme", "ac"})).ok());
  ASSERT_TRUE(db_->record_sign_in(known({"ldap", "dave"}, {})).ok());

  auto acme = db_->group_superusers("acme");
  ASSERT_TRUE(acme.ok()) << acme.error().message;
  EXPECT_EQ(names_of(*acme), (std::vector<std::string>{"ldap:alice", "ldap:bob", "oidc:alice"}));
  EXPECT_EQ(names_of(*db_->group_superusers("globex")), (std::vector<std::string>{"ldap:bob"}));
  EXPECT_EQ(names_of(*db_->group_superusers("acme2")), (std::vector<std::string>{"ldap:carol"}));
  EXPECT_TRUE(db_->group_superusers("initech")->empty());
  EXPECT_TRUE(db_->group_superusers("")->empty());

  // A later sign-in outside the group takes the user off the list.
  ASSERT_TRUE(db_->record_sign_in(known(kBob, {"globex"}, kT0 + 1)).ok());
  EXPECT_EQ(names_of(*db_->group_superusers("acme")),
            (std::vector<std::string>{"ldap:alice", "oidc:alice"}));
}

// --- delegations -------------------------------------------------------------------

TEST_P(TenancyStoreTest, DelegationsGetIncreasingIdsAndLowerCasedEmail) {
  auto first = db_->add_delegation(delegation("acme", "Carol@Example.ORG", kT0 + 3600));
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto second = db_->add_delegation(delegation("globex", "carol@example.org"));
  ASSERT_TRUE(second.ok());
  EXPECT_GT(*first, 0);
  EXPECT_GT(*second, *first);

  auto found = db_->find_delegation(*first);
  ASSERT_TRUE(found.ok() && found->has_value());
  const Delegation& d = **found;
  EXPECT_EQ(d.id, *first);
  EXPECT_EQ(d.tenant, "acme");
  EXPECT_EQ(d.email, "carol@example.org");
  EXPECT_EQ(d.granted_by, "cli");
  EXPECT_EQ(d.created_at, kT0);
  EXPECT_EQ(d.until, kT0 + 3600);
  EXPECT_EQ(d.revoked_at, 0);
  EXPECT_EQ(d.revoked_by, "");
  EXPECT_FALSE(d.expiry_recorded);
  EXPECT_FALSE(db_->find_delegation(*second + 1)->has_value());
}

TEST_P(TenancyStoreTest, DelegationOfUnknownTenantFailsWithNoTenant) {
  auto added = db_->add_delegation(delegation("initech", "carol@example.org"));
  ASSERT_FALSE(added.ok());
  EXPECT_EQ(added.error().code, "store.no_tenant");
  EXPECT_TRUE(db_->list_delegations({})->empty());
}

TEST_P(TenancyStoreTest, DelegationsAreListedNewestFirstByTenantAndAddress) {
  const auto a = *db_->add_delegation(delegation("acme", "carol@example.org"));
  const auto b = *db_->add_delegation(delegation("globex", "carol@example.org"));
  const auto c = *db_->add_delegation(delegation("acme", "dave@example.org"));
  EXPECT_EQ(ids_of(*db_->list_delegations({})), (std::vector<std::int64_t>{c, b, a}));
  EXPECT_EQ(ids_of(*db_->list_delegations({"acme", ""})), (std::vector<std::int64_t>{c, a}));
  EXPECT_EQ(ids_of(*db_->list_delegations({"", "CAROL@example.org"})),
            (std::vector<std::int64_t>{b, a}));
  EXPECT_EQ(ids_of(*db_->list_delegations({"globex", "Carol@Example.org"})),
            (std::vector<std::int64_t>{b}));
  EXPECT_TRUE(db_->list_delegations({"initech", ""})->empty());
  EXPECT_TRUE(db_->list_delegations({"", "carol@example"})->empty());
}

TEST_P(TenancyStoreTest, ActiveDelegationsMatchTheAddressInAnyCaseByTenantThenId) {
  const auto globex = *db_->add_delegation(delegation("globex", "carol@example.org"));
  const auto acme1 = *db_->add_delegation(delegation("acme", "CAROL@example.org", kT0 + 100));
  const auto acme2 = *db_->add_delegation(delegation("acme", "carol@EXAMPLE.org"));
  ASSERT_TRUE(db_->add_delegation(delegation("acme", "dave@example.org")).ok());

  for (const char* typed : {"carol@example.org", "Carol@Example.Org", "CAROL@EXAMPLE.ORG"}) {
    auto active = db_->active_delegations_for(typed, kT0);
    ASSERT_TRUE(active.ok()) << active.error().message;
    EXPECT_EQ(ids_of(*active), (std::vector<std::int64_t>{acme1, acme2, globex})) << typed;
  }
  EXPECT_TRUE(db_->active_delegations_for("carol@example.or", kT0)->empty());
  EXPECT_TRUE(db_->active_delegations_for("", kT0)->empty());
  // Ended at until (until <= now is expired).
  EXPECT_EQ(ids_of(*db_->active_delegations_for("carol@example.org", kT0 + 99)),
            (std::vector<std::int64_t>{acme1, acme2, globex}));
  EXPECT_EQ(ids_of(*db_->active_delegations_for("carol@example.org", kT0 + 100)),
            (std::vector<std::int64_t>{acme2, globex}));
  ASSERT_TRUE(*db_->revoke_delegation(globex, "ldap:alice", kT0 + 5));
  EXPECT_EQ(ids_of(*db_->active_delegations_for("carol@example.org", kT0 + 100)),
            (std::vector<std::int64_t>{acme2}));
}

TEST_P(TenancyStoreTest, DelegationStatesActiveExpiredRevoked) {
  const auto ends = *db_->add_delegation(delegation("acme", "carol@example.org", kT0 + 10));
  const auto open = *db_->add_delegation(delegation("acme", "carol@example.org"));
  auto e = **db_->find_delegation(ends);
  EXPECT_EQ(delegation_state(e, kT0 + 9), DelegationState::active);
  EXPECT_EQ(delegation_state(e, kT0 + 10), DelegationState::expired);
  EXPECT_EQ(delegation_state(**db_->find_delegation(open), kT0 + 1'000'000),
            DelegationState::active);

  auto revoked = db_->revoke_delegation(ends, "ldap:alice", kT0 + 20);
  ASSERT_TRUE(revoked.ok()) << revoked.error().message;
  EXPECT_TRUE(*revoked);
  auto r = **db_->find_delegation(ends);
  EXPECT_EQ(r.revoked_at, kT0 + 20);
  EXPECT_EQ(r.revoked_by, "ldap:alice");
  // Revoked beats expired.
  EXPECT_EQ(delegation_state(r, kT0 + 30), DelegationState::revoked);

  auto twice = db_->revoke_delegation(ends, "cli", kT0 + 40);
  ASSERT_TRUE(twice.ok());
  EXPECT_FALSE(*twice);
  EXPECT_EQ((**db_->find_delegation(ends)).revoked_by, "ldap:alice");  // the first revocation stays
  EXPECT_EQ((**db_->find_delegation(ends)).revoked_at, kT0 + 20);

  auto unknown = db_->revoke_delegation(open + 100, "cli", kT0);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, "store.not_found");
}

TEST_P(TenancyStoreTest, NewlyExpiredDelegationsAreTakenOnce) {
  const auto soon = *db_->add_delegation(delegation("acme", "a@example.org", kT0 + 10));
  const auto later = *db_->add_delegation(delegation("globex", "b@example.org", kT0 + 20));
  const auto revoked = *db_->add_delegation(delegation("acme", "c@example.org", kT0 + 10));
  ASSERT_TRUE(db_->add_delegation(delegation("acme", "d@example.org")).ok());  // no end
  ASSERT_TRUE(*db_->revoke_delegation(revoked, "cli", kT0 + 5));

  EXPECT_TRUE(db_->take_newly_expired(kT0 + 9)->empty());
  auto first = db_->take_newly_expired(kT0 + 10);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(ids_of(*first), (std::vector<std::int64_t>{soon}));
  EXPECT_TRUE((**db_->find_delegation(soon)).expiry_recorded);
  EXPECT_TRUE(db_->take_newly_expired(kT0 + 10)->empty());
  EXPECT_EQ(ids_of(*db_->take_newly_expired(kT0 + 1000)), (std::vector<std::int64_t>{later}));
  EXPECT_TRUE(db_->take_newly_expired(kT0 + 2000)->empty());
  EXPECT_FALSE((**db_->find_delegation(revoked)).expiry_recorded);
}

TEST_P(TenancyStoreTest, TwoHandlesTakeEachExpiryOnce) {
  StoreHandle other = open_handle();
  ASSERT_TRUE(other.owner);
  std::vector<std::int64_t> all;
  for (int i = 0; i < 20; ++i)
    all.push_back(*db_->add_delegation(delegation("acme", "x@example.org", kT0 + i)));
  std::vector<std::int64_t> taken[2];
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    TenancyStore* s = t == 0 ? db_ : other.tenancy;
    threads.emplace_back([&, s, t] {
      for (int now = 0; now < 25; ++now) {
        auto got = s->take_newly_expired(kT0 + now);
        if (!got) {
          ++errors;
          continue;
        }
        for (const auto& d : *got) taken[t].push_back(d.id);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  std::vector<std::int64_t> merged = taken[0];
  merged.insert(merged.end(), taken[1].begin(), taken[1].end());
  std::sort(merged.begin(), merged.end());
  EXPECT_EQ(merged, all);
}

// --- the effective party -----------------------------------------------------------

TEST_P(TenancyStoreTest, SwitchStoresTheChoiceWithItsDelegation) {
  EXPECT_FALSE(db_->find_party_choice(kAlice)->has_value());
  const auto id = *db_->add_delegation(delegation("globex", "alice@example.org"));
  PartySwitch s = to_party(kAlice, "globex", id, 0);
  auto switched = db_->switch_party(s);
  ASSERT_TRUE(switched.ok()) << switched.error().message;
  EXPECT_TRUE(*switched);

  auto view = db_->find_party_choice(kAlice);
  ASSERT_TRUE(view.ok() && view->has_value());
  EXPECT_EQ((**view).choice.user, kAlice);
  EXPECT_EQ((**view).choice.party, "globex");
  EXPECT_EQ((**view).choice.delegation_id, id);
  EXPECT_EQ((**view).choice.chosen_at, kT0);
  EXPECT_EQ((**view).choice.notice, "switched");
  ASSERT_TRUE((**view).delegation.has_value());
  EXPECT_EQ((**view).delegation->id, id);
  EXPECT_EQ((**view).delegation->tenant, "globex");
  EXPECT_FALSE(db_->find_party_choice(kOtherAlice)->has_value());

  // Back to the own tenant: no delegation in the view.
  ASSERT_TRUE(*db_->switch_party(to_party(kAlice, "acme", 0, id, kT0 + 5)));
  auto own = **db_->find_party_choice(kAlice);
  EXPECT_EQ(own.choice.party, "acme");
  EXPECT_EQ(own.choice.delegation_id, 0);
  EXPECT_FALSE(own.delegation.has_value());
}

TEST_P(TenancyStoreTest, SwitchComparesTheStoredDelegationBeforeWriting) {
  const auto d1 = *db_->add_delegation(delegation("globex", "alice@example.org"));
  const auto d2 = *db_->add_delegation(delegation("globex", "alice@example.org"));
  // Expected 0 matches "no row".
  EXPECT_FALSE(*db_->switch_party(to_party(kAlice, "globex", d1, d2)));
  EXPECT_FALSE(db_->find_party_choice(kAlice)->has_value());
  ASSERT_TRUE(*db_->switch_party(to_party(kAlice, "acme", 0, 0)));
  // ... and a row on delegation 0.
  ASSERT_TRUE(*db_->switch_party(to_party(kAlice, "globex", d1, 0)));
  EXPECT_FALSE(*db_->switch_party(to_party(kAlice, "acme", 0, 0)));
  EXPECT_FALSE(*db_->switch_party(to_party(kAlice, "acme", 0, d2)));
  EXPECT_EQ((**db_->find_party_choice(kAlice)).choice.delegation_id, d1);
  // -1: whatever is stored.
  ASSERT_TRUE(*db_->switch_party(to_party(kAlice, "globex", d2, -1)));
  EXPECT_EQ((**db_->find_party_choice(kAlice)).choice.delegation_id, d2);
}

TEST_P(TenancyStoreTest, OfTwoSwitchesOutOfOneDelegationOnlyTheFirstWrites) {
  const auto id = *db_->add_delegation(delegation("globex", "alice@example.org"));
  ASSERT_TRUE(*db_->switch_party(to_party(kAlice, "globex", id, 0)));
  ASSERT_TRUE(*db_->revoke_delegation(id, "cli", kT0 + 1));

  // Two processes both see the delegation end and switch alice out.
  StoreHandle other = open_handle();
  ASSERT_TRUE(other.owner);
  auto out = [&](std::int64_t at) {
    PartySwitch s = to_party(kAlice, "acme", 0, id, at);
    s.next.notice = "ended";
    s.notifications = {mail("alice@example.org", at, "delegation.ended"),
                       mail("boss@globex.example", at, "delegation.ended")};
    DelegationActivity a;
    a.delegation_id = id;
    a.user = kAlice;
    a.email = "alice@example.org";
    a.real_party = "acme";
    a.last_switch_out = at;
    s.activity = {a};
    return s;
  };
  auto first = db_->switch_party(out(kT0 + 2));
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_TRUE(*first);
  auto second = other.tenancy->switch_party(out(kT0 + 3));
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_FALSE(*second);

  auto choice = **db_->find_party_choice(kAlice);
  EXPECT_EQ(choice.choice.chosen_at, kT0 + 2);
  EXPECT_EQ(choice.choice.notice, "ended");
  auto pending = db_->list_outbox_pending();
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 2u);
  for (const auto& m : *pending) EXPECT_EQ(m.created_at, kT0 + 2);
  auto activity = *db_->delegation_activity("globex");
  ASSERT_EQ(activity.size(), 1u);
  EXPECT_EQ(activity[0].last_switch_out, kT0 + 2);
}

TEST_P(TenancyStoreTest, ConcurrentSwitchesExpectingOneDelegationLetOneThrough) {
  const auto id = *db_->add_delegation(delegation("globex", "alice@example.org"));
  ASSERT_TRUE(*db_->switch_party(to_party(kAlice, "globex", id, 0)));
  StoreHandle other = open_handle();
  ASSERT_TRUE(other.owner);
  std::atomic<int> won{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    TenancyStore* s = t % 2 == 0 ? db_ : other.tenancy;
    threads.emplace_back([&, s, t] {
      PartySwitch change = to_party(kAlice, "acme", 0, id, kT0 + t);
      change.notifications = {mail("alice@example.org", kT0 + t)};
      auto r = s->switch_party(change);
      if (!r) ++errors;
      else if (*r) ++won;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(db_->outbox_stats()->pending, 1);
}

TEST_P(TenancyStoreTest, ActivityUpsertKeepsStoredTimesWhereTheNewOnesAreZero) {
  const auto id = *db_->add_delegation(delegation("globex", "alice@example.org"));
  const auto acme_id = *db_->add_delegation(delegation("acme", "bob@example.org"));
  auto with_activity = [&](std::int64_t delegation_id, std::int64_t expected, std::int64_t in,
                           std::int64_t out, std::string party) {
    PartySwitch s = to_party(kAlice, std::move(party), out == 0 ? delegation_id : 0, expected,
                             std::max(in, out));
    DelegationActivity a;
    a.delegation_id = delegation_id;
    a.user = kAlice;
    a.email = "alice@example.org";
    a.real_party = "acme";
    a.last_switch_in = in;
    a.last_switch_out = out;
    s.activity = {a};
    return s;
  };
  ASSERT_TRUE(*db_->switch_party(with_activity(id, 0, kT0 + 10, 0, "globex")));
  auto acting = *db_->delegation_activity("globex");
  ASSERT_EQ(acting.size(), 1u);
  EXPECT_EQ(acting[0].delegation_id, id);
  EXPECT_EQ(acting[0].user, kAlice);
  EXPECT_EQ(acting[0].email, "alice@example.org");
  EXPECT_EQ(acting[0].real_party, "acme");
  EXPECT_EQ(acting[0].last_switch_in, kT0 + 10);
  EXPECT_EQ(acting[0].last_switch_out, 0);

  ASSERT_TRUE(*db_->switch_party(with_activity(id, id, 0, kT0 + 20, "acme")));
  auto left = *db_->delegation_activity("globex");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].last_switch_in, kT0 + 10);
  EXPECT_EQ(left[0].last_switch_out, kT0 + 20);

  ASSERT_TRUE(*db_->switch_party(with_activity(id, 0, kT0 + 30, 0, "globex")));
  auto again = *db_->delegation_activity("globex");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].last_switch_in, kT0 + 30);
  EXPECT_EQ(again[0].last_switch_out, kT0 + 20);  // kept: the new one was 0

  // Another tenant's delegations are not this tenant's activity.
  EXPECT_TRUE(db_->delegation_activity("acme")->empty());
  ASSERT_TRUE(*db_->switch_party(with_activity(acme_id, -1, kT0 + 40, 0, "acme")));
  EXPECT_EQ(db_->delegation_activity("acme")->size(), 1u);
  EXPECT_EQ(db_->delegation_activity("globex")->size(), 1u);
}

TEST_P(TenancyStoreTest, ChoicesOnADelegationAndOnEndedOnes) {
  const auto ends = *db_->add_delegation(delegation("globex", "x@example.org", kT0 + 100));
  const auto revoked = *db_->add_delegation(delegation("globex", "x@example.org"));
  const auto open = *db_->add_delegation(delegation("acme", "x@example.org"));
  ASSERT_TRUE(*db_->switch_party(to_party(kBob, "globex", ends, -1)));
  ASSERT_TRUE(*db_->switch_party(to_party(kAlice, "globex", ends, -1)));
  ASSERT_TRUE(*db_->switch_party(to_party(kOtherAlice, "globex", revoked, -1)));
  ASSERT_TRUE(*db_->switch_party(to_party({"ldap", "carol"}, "acme", open, -1)));
  ASSERT_TRUE(*db_->switch_party(to_party({"ldap", "dave"}, "acme", 0, -1)));

  auto on = db_->choices_on_delegation(ends);
  ASSERT_TRUE(on.ok()) << on.error().message;
  EXPECT_EQ(names_of(*on), (std::vector<std::string>{"ldap:alice", "ldap:bob"}));
  EXPECT_EQ((*on)[0].party, "globex");
  EXPECT_EQ((*on)[0].delegation_id, ends);
  EXPECT_TRUE(db_->choices_on_delegation(open + 100)->empty());

  EXPECT_TRUE(db_->choices_on_ended_delegations(kT0 + 99)->empty());
  ASSERT_TRUE(*db_->revoke_delegation(revoked, "cli", kT0 + 50));
  EXPECT_EQ(names_of(*db_->choices_on_ended_delegations(kT0 + 99)),
            (std::vector<std::string>{"oidc:alice"}));
  EXPECT_EQ(names_of(*db_->choices_on_ended_delegations(kT0 + 100)),
            (std::vector<std::string>{"ldap:alice", "ldap:bob", "oidc:alice"}));
}

TEST_P(TenancyStoreTest, NoticeIsClearedOnlyWhileItIsStillTheSame) {
  ASSERT_TRUE(*db_->switch_party(to_party(kAlice, "acme", 0, -1)));  // notice "switched"
  ASSERT_TRUE(db_->clear_party_notice(kAlice, "ended").ok());
  EXPECT_EQ((**db_->find_party_choice(kAlice)).choice.notice, "switched");
  ASSERT_TRUE(db_->clear_party_notice(kAlice, "switched").ok());
  EXPECT_EQ((**db_->find_party_choice(kAlice)).choice.notice, "");
  // Unknown users and repeated clears are no errors.
  EXPECT_TRUE(db_->clear_party_notice(kAlice, "switched").ok());
  EXPECT_TRUE(db_->clear_party_notice(kBob, "switched").ok());
}

// --- the outbox --------------------------------------------------------------------

TEST_P(TenancyStoreTest, OutboxMessagesRoundTripAndArePendingOldestFirst) {
  PartySwitch s = to_party(kAlice, "acme", 0, -1);
  s.notifications = {mail("b@example.org", kT0 + 2), mail("a@example.org", kT0 + 1)};
  ASSERT_TRUE(*db_->switch_party(s));
  auto pending = db_->list_outbox_pending();
  ASSERT_TRUE(pending.ok()) << pending.error().message;
  ASSERT_EQ(pending->size(), 2u);
  const OutboxMessage& m = (*pending)[0];
  EXPECT_GT(m.id, 0);
  EXPECT_EQ(m.created_at, kT0 + 1);
  EXPECT_EQ(m.recipient, "a@example.org");
  EXPECT_EQ(m.kind, "party.switched");
  EXPECT_EQ(m.language, "nl");
  EXPECT_EQ(m.payload, R"({"party":"globex"})");
  EXPECT_EQ(m.attempts, 0);
  EXPECT_EQ(m.next_attempt_at, kT0 + 1);
  EXPECT_EQ(m.last_error, "");
  EXPECT_EQ(m.sent_at, 0);
  EXPECT_EQ((*pending)[1].recipient, "b@example.org");
  EXPECT_NE((*pending)[0].id, (*pending)[1].id);

  auto stats = db_->outbox_stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->pending, 2);
  EXPECT_EQ(stats->oldest_created_at, kT0 + 1);
}

TEST_P(TenancyStoreTest, EmptyOutboxHasNoStats) {
  auto stats = db_->outbox_stats();
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats->pending, 0);
  EXPECT_EQ(stats->oldest_created_at, 0);
  EXPECT_TRUE(db_->claim_outbox(kT0, kT0 + 60, 10)->empty());
  EXPECT_EQ(*db_->prune_outbox(kT0), 0);
}

TEST_P(TenancyStoreTest, ClaimedMessageIsLeasedUntilItsLeaseEnds) {
  PartySwitch s = to_party(kAlice, "acme", 0, -1);
  s.notifications = {mail("a@example.org", kT0), mail("b@example.org", kT0 + 1),
                     mail("later@example.org", kT0 + 100)};
  ASSERT_TRUE(*db_->switch_party(s));

  auto first = db_->claim_outbox(kT0 + 10, kT0 + 70, 1);
  ASSERT_TRUE(first.ok()) << first.error().message;
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].recipient, "a@example.org");
  EXPECT_EQ((*first)[0].attempts, 1);
  auto rest = *db_->claim_outbox(kT0 + 10, kT0 + 70, 10);
  ASSERT_EQ(rest.size(), 1u);  // "later" is not due yet, "a" is leased
  EXPECT_EQ(rest[0].recipient, "b@example.org");
  EXPECT_TRUE(db_->claim_outbox(kT0 + 69, kT0 + 130, 10)->empty());

  // The lease ran out without a report (the sender died): claimed again.
  auto again = *db_->claim_outbox(kT0 + 70, kT0 + 130, 10);
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].recipient, "a@example.org");
  EXPECT_EQ(again[0].attempts, 2);
  EXPECT_EQ(again[1].recipient, "b@example.org");
  // Leased messages stay pending.
  EXPECT_EQ(db_->outbox_stats()->pending, 3);
  // Now due too.
  auto last = *db_->claim_outbox(kT0 + 130, kT0 + 190, 10);
  ASSERT_EQ(last.size(), 3u);
  EXPECT_EQ(last[2].recipient, "later@example.org");
}

TEST_P(TenancyStoreTest, FailedMessageComesBackAtItsNextAttemptAndSentOnesNever) {
  PartySwitch s = to_party(kAlice, "acme", 0, -1);
  s.notifications = {mail("fails@example.org", kT0), mail("sent@example.org", kT0)};
  ASSERT_TRUE(*db_->switch_party(s));
  auto claimed = *db_->claim_outbox(kT0, kT0 + 60, 10);
  ASSERT_EQ(claimed.size(), 2u);
  const auto fails = claimed[0].recipient == "fails@example.org" ? claimed[0].id : claimed[1].id;
  const auto sent = claimed[0].recipient == "sent@example.org" ? claimed[0].id : claimed[1].id;

  ASSERT_TRUE(db_->outbox_failed(fails, "451 try later", kT0 + 300).ok());
  ASSERT_TRUE(db_->outbox_sent(sent, kT0 + 5).ok());
  // The lease is gone, but the next attempt is not due yet.
  EXPECT_TRUE(db_->claim_outbox(kT0 + 100, kT0 + 160, 10)->empty());
  auto pending = *db_->list_outbox_pending();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].id, fails);
  EXPECT_EQ(pending[0].last_error, "451 try later");
  EXPECT_EQ(pending[0].next_attempt_at, kT0 + 300);
  EXPECT_EQ(pending[0].attempts, 1);

  auto retry = *db_->claim_outbox(kT0 + 300, kT0 + 360, 10);
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_EQ(retry[0].id, fails);
  EXPECT_EQ(retry[0].attempts, 2);
  // A failure may name a retry that is due at once: claimable right away.
  ASSERT_TRUE(db_->outbox_failed(fails, "timeout", kT0 + 300).ok());
  EXPECT_EQ(ids_of(*db_->claim_outbox(kT0 + 301, kT0 + 360, 10)),
            (std::vector<std::int64_t>{fails}));
  // The sent one never comes back, whatever the time (the failing one does).
  EXPECT_EQ(ids_of(*db_->claim_outbox(kT0 + 1'000'000, kT0 + 1'000'060, 10)),
            (std::vector<std::int64_t>{fails}));
  EXPECT_EQ(db_->outbox_stats()->pending, 1);

  auto unknown = db_->outbox_sent(sent + fails + 100, kT0);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, "store.not_found");
  auto unknown_failure = db_->outbox_failed(sent + fails + 100, "x", kT0);
  ASSERT_FALSE(unknown_failure.ok());
  EXPECT_EQ(unknown_failure.error().code, "store.not_found");
}

TEST_P(TenancyStoreTest, PruningDeletesOnlyOldSentMessagesAndIdsAreNeverReused) {
  PartySwitch s = to_party(kAlice, "acme", 0, -1);
  s.notifications = {mail("old@example.org", kT0), mail("new@example.org", kT0),
                     mail("pending@example.org", kT0)};
  ASSERT_TRUE(*db_->switch_party(s));
  std::map<std::string, std::int64_t> id;
  auto queued = db_->list_outbox_pending();
  ASSERT_TRUE(queued.ok());
  for (const auto& m : *queued) id[m.recipient] = m.id;
  ASSERT_TRUE(db_->outbox_sent(id["old@example.org"], kT0 + 10).ok());
  ASSERT_TRUE(db_->outbox_sent(id["new@example.org"], kT0 + 100).ok());
  EXPECT_EQ(*db_->prune_outbox(kT0 + 10), 0);
  EXPECT_EQ(*db_->prune_outbox(kT0 + 11), 1);
  EXPECT_EQ(*db_->prune_outbox(kT0 + 1000), 1);
  auto pending = *db_->list_outbox_pending();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].recipient, "pending@example.org");

  // The newest message is sent and pruned: its id is not given again.
  const auto newest =
      std::max({id["old@example.org"], id["new@example.org"], id["pending@example.org"]});
  ASSERT_TRUE(db_->outbox_sent(newest, kT0 + 200).ok());
  EXPECT_EQ(*db_->prune_outbox(kT0 + 1000), 1);
  PartySwitch next = to_party(kAlice, "acme", 0, -1);
  next.notifications = {mail("next@example.org", kT0 + 300)};
  ASSERT_TRUE(*db_->switch_party(next));
  auto after = *db_->list_outbox_pending();
  ASSERT_FALSE(after.empty());
  EXPECT_GT(after.back().id, newest);
}

TEST_P(TenancyStoreTest, TwoHandlesClaimingAtOnceNeverGetTheSameMessage) {
  constexpr int kMessages = 120;
  for (int batch = 0; batch < kMessages / 20; ++batch) {
    PartySwitch s = to_party(kAlice, "acme", 0, -1);
    for (int i = 0; i < 20; ++i)
      s.notifications.push_back(mail("m" + std::to_string(batch * 20 + i) + "@example.org", kT0));
    ASSERT_TRUE(*db_->switch_party(s));
  }
  StoreHandle other = open_handle();
  ASSERT_TRUE(other.owner);
  std::mutex mu;
  std::vector<std::int64_t> claimed;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    TenancyStore* s = t % 2 == 0 ? db_ : other.tenancy;
    threads.emplace_back([&, s] {
      for (;;) {
        auto got = s->claim_outbox(kT0 + 1, kT0 + 3600, 3);
        if (!got) {
          ++errors;
          return;
        }
        if (got->empty()) return;
        std::lock_guard lock(mu);
        for (const auto& m : *got) claimed.push_back(m.id);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  std::set<std::int64_t> distinct(claimed.begin(), claimed.end());
  EXPECT_EQ(claimed.size(), distinct.size()) << "a message was claimed twice";
  EXPECT_EQ(distinct.size(), static_cast<std::size_t>(kMessages));
}

// --- usage -------------------------------------------------------------------------

TEST_P(TenancyStoreTest, UsageIsAddedUpNeverOverwritten) {
  std::vector<UsageRow> rows = {usage("2024-05-01", "acme", "app", 3),
                                usage("2024-05-01", "acme", "app", 4),
                                usage("2024-05-01", "acme", "wiki", 1)};
  ASSERT_TRUE(db_->add_usage(rows).ok());
  std::vector<UsageRow> more = {usage("2024-05-01", "acme", "app", 10)};
  ASSERT_TRUE(db_->add_usage(more).ok());
  ASSERT_TRUE(db_->add_usage({}).ok());
  auto report = db_->usage_report({});
  ASSERT_TRUE(report.ok()) << report.error().message;
  ASSERT_EQ(report->size(), 2u);
  EXPECT_EQ((*report)[0].route, "app");
  EXPECT_EQ((*report)[0].requests, 17);
  EXPECT_EQ((*report)[0].delegated_requests, 0);
  EXPECT_EQ((*report)[1].route, "wiki");
  EXPECT_EQ((*report)[1].requests, 1);
}

TEST_P(TenancyStoreTest, UsageReportCountsDelegatedRequestsApartAndFilters) {
  const auto d1 = *db_->add_delegation(delegation("globex", "a@example.org"));
  const auto d2 = *db_->add_delegation(delegation("globex", "b@example.org"));
  std::vector<UsageRow> rows = {
      usage("2024-05-01", "globex", "app", 5),
      usage("2024-05-01", "globex", "app", 2, d1, "acme"),
      usage("2024-05-01", "globex", "app", 1, d2, "initech"),
      usage("2024-05-02", "globex", "app", 7, d1, "acme"),
      usage("2024-05-02", "acme", "app", 11),
      usage("2024-05-03", "globex", "wiki", 13),
  };
  ASSERT_TRUE(db_->add_usage(rows).ok());

  auto all = *db_->usage_report({});
  ASSERT_EQ(all.size(), 4u);
  // By day, effective party, route.
  EXPECT_EQ(all[0].day, "2024-05-01");
  EXPECT_EQ(all[0].effective_party, "globex");
  EXPECT_EQ(all[0].requests, 8);
  EXPECT_EQ(all[0].delegated_requests, 3);
  EXPECT_EQ(all[1].day, "2024-05-02");
  EXPECT_EQ(all[1].effective_party, "acme");
  EXPECT_EQ(all[1].requests, 11);
  EXPECT_EQ(all[1].delegated_requests, 0);
  EXPECT_EQ(all[2].effective_party, "globex");
  EXPECT_EQ(all[2].requests, 7);
  EXPECT_EQ(all[2].delegated_requests, 7);
  EXPECT_EQ(all[3].route, "wiki");

  auto globex = *db_->usage_report({"globex", "", ""});
  ASSERT_EQ(globex.size(), 3u);
  for (const auto& r : globex) EXPECT_EQ(r.effective_party, "globex");
  auto days = *db_->usage_report({"", "2024-05-02", "2024-05-02"});
  ASSERT_EQ(days.size(), 2u);
  EXPECT_EQ(days[0].day, "2024-05-02");
  EXPECT_EQ(days[1].day, "2024-05-02");
  auto since = *db_->usage_report({"globex", "2024-05-02", ""});
  ASSERT_EQ(since.size(), 2u);
  EXPECT_EQ(since[0].day, "2024-05-02");
  EXPECT_EQ(since[1].day, "2024-05-03");
  auto until = *db_->usage_report({"", "", "2024-05-01"});
  ASSERT_EQ(until.size(), 1u);
  EXPECT_EQ(until[0].day, "2024-05-01");
  EXPECT_TRUE(db_->usage_report({"initech", "", ""})->empty());
  EXPECT_TRUE(db_->usage_report({"", "2024-06-01", ""})->empty());

  auto per_delegation = db_->delegation_usage("globex");
  ASSERT_TRUE(per_delegation.ok()) << per_delegation.error().message;
  ASSERT_EQ(per_delegation->size(), 2u);
  EXPECT_EQ((*per_delegation)[0].delegation_id, d1);
  EXPECT_EQ((*per_delegation)[0].route, "app");
  EXPECT_EQ((*per_delegation)[0].requests, 9);
  EXPECT_EQ((*per_delegation)[1].delegation_id, d2);
  EXPECT_EQ((*per_delegation)[1].requests, 1);
  EXPECT_TRUE(db_->delegation_usage("acme")->empty());
}

TEST_P(TenancyStoreTest, ConcurrentUsageFromTwoHandlesAddsUp) {
  StoreHandle other = open_handle();
  ASSERT_TRUE(other.owner);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    TenancyStore* s = t % 2 == 0 ? db_ : other.tenancy;
    threads.emplace_back([&, s] {
      for (int i = 0; i < 25; ++i) {
        std::vector<UsageRow> rows = {usage("2024-05-01", "acme", "app", 1),
                                      usage("2024-05-01", "acme", "wiki", 2)};
        if (!s->add_usage(rows)) ++errors;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  auto report = *db_->usage_report({"acme", "", ""});
  ASSERT_EQ(report.size(), 2u);
  EXPECT_EQ(report[0].requests, 100);
  EXPECT_EQ(report[1].requests, 200);
}

// --- inside a batch (BatchStore) -----------------------------------------------------

TEST_P(TenancyStoreTest, MethodsWithTheirOwnTransactionWorkInsideABatch) {
  if (!store_.batch) GTEST_SKIP() << "backend has no BatchStore";
  const auto id = *db_->add_delegation(delegation("globex", "alice@example.org", kT0 + 5));
  bool switched = false, refused = true;
  Status failed_job = Ok{};
  std::vector<std::function<void()>> jobs = {
      [&] {
        PartySwitch s = to_party(kAlice, "globex", id, 0);
        s.notifications = {mail("alice@example.org", kT0)};
        auto r = db_->switch_party(s);
        switched = r.ok() && *r;
      },
      [&] {
        // A compare-and-set that fails writes nothing and breaks nothing.
        PartySwitch s = to_party(kBob, "globex", id, id);
        s.notifications = {mail("bob@example.org", kT0)};
        auto r = db_->switch_party(s);
        refused = r.ok() && !*r;
      },
      [&] {
        // A failing call is undone alone.
        auto r = db_->add_superuser("initech", kAlice, kT0);
        failed_job = r.ok() ? Status(Ok{}) : Status(r.error());
      },
      [&] {
        std::vector<UsageRow> rows = {usage("2024-05-01", "globex", "app", 2, id, "acme"),
                                      usage("2024-05-01", "globex", "app", 3, id, "acme")};
        ASSERT_TRUE(db_->add_usage(rows).ok());
        ASSERT_EQ(db_->take_newly_expired(kT0 + 5)->size(), 1u);
        ASSERT_EQ(db_->claim_outbox(kT0, kT0 + 60, 10)->size(), 1u);
      },
  };
  auto outcome = store_.batch->run_batch(jobs);
  ASSERT_EQ(outcome.size(), jobs.size());
  for (const auto& o : outcome) EXPECT_TRUE(o.ok()) << o.error().message;
  EXPECT_TRUE(switched);
  EXPECT_TRUE(refused);
  ASSERT_FALSE(failed_job.ok());
  EXPECT_EQ(failed_job.error().code, "store.no_tenant");

  EXPECT_EQ((**db_->find_party_choice(kAlice)).choice.delegation_id, id);
  EXPECT_FALSE(db_->find_party_choice(kBob)->has_value());
  EXPECT_EQ(db_->outbox_stats()->pending, 1);
  EXPECT_TRUE(db_->claim_outbox(kT0, kT0 + 60, 10)->empty());  // leased in the batch
  EXPECT_EQ((*db_->usage_report({}))[0].delegated_requests, 5);
  EXPECT_TRUE(db_->take_newly_expired(kT0 + 5)->empty());
}

}  // namespace
}  // namespace tenancy_cases
}  // namespace gatehouse::store::conformance
