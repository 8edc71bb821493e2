// The tenancy rules against the real SQLite store: delegations, the switch and its
// e-mails, the principal of a request, automatic switch-outs, superusers, usage.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "auth/audit.h"
#include "common/clock.h"
#include "config/config.h"
#include "store/sqlite_store.h"
#include "tenancy/principal_resolver.h"
#include "tenancy/tenancy.h"
#include "tenancy/usage_counter.h"
#include "unit/store/temp_dir.h"

namespace gatehouse::tenancy {
namespace {

using test_support::TempDir;

constexpr std::int64_t kDay = 86400;

std::shared_ptr<const config::Config> tenancy_config() {
  auto c = std::make_shared<config::Config>();
  c->server.public_url = *config::Url::parse("https://gate.example.org");
  config::DirectoryConfig local;
  local.name = "corp";
  local.kind = config::DirectoryKind::local;
  c->directories.push_back(local);
  config::DirectoryConfig ldap;
  ldap.name = "partners";
  ldap.kind = config::DirectoryKind::ldap;
  c->directories.push_back(ldap);
  config::TenantConfig acme;
  acme.name = "acme";
  acme.display_name = "Acme Ltd";
  acme.superuser_groups = {"acme-admins"};
  acme.language = "nl";
  c->tenants.push_back(acme);
  config::TenantConfig globex;
  globex.name = "globex";
  globex.display_name = "Globex";
  c->tenants.push_back(globex);
  return c;
}

class TenancyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::SqliteStore::open(dir.file("t.db"));
    ASSERT_TRUE(opened) << opened.error().message;
    db = std::move(opened.value());
    config = tenancy_config();
    audit = std::make_unique<auth::Audit>(config::AuditConfig{}, *db, clock);
    tenancy = std::make_unique<Tenancy>(config, *db, *db, *db, clock, *audit);
    ASSERT_TRUE(tenancy->sync_configured_tenants());
    resolver = std::make_unique<PrincipalResolver>(*tenancy, *db, clock, std::chrono::milliseconds(0));
    // An acme superuser by group (known from its sign-in), and one named by the admin.
    sign_in({"corp", "ann"}, "ann@acme.example", "acme", {"acme-admins"});
    ASSERT_TRUE(db->add_superuser("acme", {"corp", "boss"}, clock.now()));
    sign_in({"corp", "boss"}, "Boss@Acme.Example", "acme", {});
  }

  void sign_in(const store::UserRef& u, const std::string& email, const std::string& tenant,
               std::vector<std::string> groups, bool verified = true) {
    directory::Identity id{u.name, email, u.name + " Name", std::move(groups), tenant, verified};
    ASSERT_TRUE(tenancy->record_sign_in(u, id));
  }

  store::SessionRecord session(const store::UserRef& u, const std::string& email, const std::string& tenant,
                               bool verified = true) {
    store::SessionRecord s;
    s.id = "session-" + u.source + "-" + u.name;
    s.user = u.name;
    s.source = u.source;
    s.email = email;
    s.email_verified = verified;
    s.display_name = u.name + " Name";
    s.real_party = tenant;
    return s;
  }

  auth::Principal principal(const store::SessionRecord& s) {
    auto p = resolver->resolve(s, clock.now() + 3600, false);
    EXPECT_TRUE(p) << (p ? "" : p.error().message);
    if (!p) return auth::Principal{};
    resolver->name_parties(*p);
    return *p;
  }

  std::vector<store::OutboxMessage> outbox(std::string_view kind = {}) {
    auto all = db->list_outbox_pending();
    EXPECT_TRUE(all);
    std::vector<store::OutboxMessage> out;
    for (auto& m : *all)
      if (kind.empty() || m.kind == kind) out.push_back(m);
    return out;
  }

  std::vector<store::AuditRecord> audits(std::string_view event) {
    store::AuditQuery q;
    q.event = std::string(event);
    q.limit = 0;
    auto r = db->list_audit(q);
    EXPECT_TRUE(r);
    return r ? *r : std::vector<store::AuditRecord>{};
  }

  store::Delegation grant(const std::string& tenant, const std::string& email, std::optional<std::int64_t> until = {},
                          bool no_end = false) {
    GrantRequest r{tenant, email, until, no_end, "cli", std::nullopt};
    auto d = tenancy->grant(r);
    EXPECT_TRUE(d) << (d ? "" : d.error().message);
    return d ? *d : store::Delegation{};
  }

  TempDir dir;
  FakeClock clock{1'800'000'000};
  std::unique_ptr<store::SqliteStore> db;
  std::shared_ptr<const config::Config> config;
  std::unique_ptr<auth::Audit> audit;
  std::unique_ptr<Tenancy> tenancy;
  std::unique_ptr<PrincipalResolver> resolver;
  const store::UserRef carol{"partners", "carol"};
};

TEST_F(TenancyTest, GrantDefaultsToOneWeekAndQueuesTheInvitation) {
  auto d = grant("acme", "Carol@Globex.Example");
  EXPECT_GT(d.id, 0);
  EXPECT_EQ(d.email, "carol@globex.example");
  EXPECT_EQ(d.until, clock.now() + 7 * kDay);
  auto invites = outbox("delegation.granted");
  ASSERT_EQ(invites.size(), 1u);
  EXPECT_EQ(invites[0].recipient, "carol@globex.example");
  EXPECT_EQ(invites[0].language, "nl");
  auto payload = nlohmann::json::parse(invites[0].payload);
  EXPECT_EQ(payload["tenant_name"], "Acme Ltd");
  EXPECT_EQ(payload["public_url"], "https://gate.example.org/");
  EXPECT_EQ(audits("delegation.granted").size(), 1u);
}

TEST_F(TenancyTest, GrantWithAnEndOrNone) {
  EXPECT_EQ(grant("acme", "a@b.example", clock.now() + 3600).until, clock.now() + 3600);
  EXPECT_EQ(grant("acme", "a@b.example", std::nullopt, true).until, 0);
}

TEST_F(TenancyTest, GrantRefusesBadInputAndStoresNothing) {
  for (const char* email : {"", "carol", "carol@", "@globex.example", "carol@globex", "car ol@globex.example",
                            "carol@globex..example", "carol@-globex.example", "carol@globex.example\r\nBcc: x@y.z",
                            ".carol@globex.example", "carol.@globex.example", "ca\"rol@globex.example",
                            "carol@glo_bex.example"}) {
    GrantRequest r{"acme", email, std::nullopt, false, "cli", std::nullopt};
    auto d = tenancy->grant(r);
    ASSERT_FALSE(d) << email;
    EXPECT_EQ(d.error().code, "tenancy.bad_email") << email;
  }
  std::string long_local(65, 'a');
  EXPECT_FALSE(tenancy->grant({"acme", long_local + "@x.example", std::nullopt, false, "cli", std::nullopt}));
  auto past = tenancy->grant({"acme", "c@x.example", clock.now(), false, "cli", std::nullopt});
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().code, "tenancy.bad_until");
  auto unknown = tenancy->grant({"nosuch", "c@x.example", std::nullopt, false, "cli", std::nullopt});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, "store.no_tenant");
  EXPECT_TRUE(db->list_delegations({})->empty());
  EXPECT_TRUE(outbox().empty());
}

TEST_F(TenancyTest, PartiesOfferTheOwnTenantFirstThenActiveDelegationsForAVerifiedAddress) {
  grant("acme", "carol@globex.example");
  auto expired = grant("globex", "carol@globex.example", clock.now() + 10);
  (void)expired;
  auto p = principal(session(carol, "CAROL@globex.example", "globex"));
  clock.advance(20);
  auto parties = tenancy->parties(p);
  ASSERT_TRUE(parties);
  ASSERT_EQ(parties->size(), 2u);
  EXPECT_EQ((*parties)[0].party, "globex");
  EXPECT_EQ((*parties)[0].delegation_id, 0);
  EXPECT_EQ((*parties)[1].party, "acme");
  EXPECT_EQ((*parties)[1].display_name, "Acme Ltd");
  // An address the source does not vouch for reaches no delegation.
  auto unverified = principal(session(carol, "carol@globex.example", "globex", false));
  EXPECT_EQ(tenancy->parties(unverified)->size(), 1u);
}

TEST_F(TenancyTest, SwitchWithoutDelegationIsForbiddenAndChangesNothing) {
  auto p = principal(session(carol, "carol@globex.example", "globex"));
  for (const char* party : {"acme", "nosuch", "", "ACME", "acme "}) {
    auto r = tenancy->switch_party(p, party, std::nullopt);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, SwitchResult::forbidden) << party;
  }
  EXPECT_FALSE(db->find_party_choice(carol)->has_value());
  EXPECT_TRUE(outbox("party.switched").empty());
  EXPECT_TRUE(audits("party.switched").empty());
}

TEST_F(TenancyTest, SwitchInAndOutEmailsEverySuperuserOfTheDelegatingTenant) {
  auto d = grant("acme", "carol@globex.example");
  auto p = principal(session(carol, "carol@globex.example", "globex"));
  ASSERT_EQ(*tenancy->switch_party(p, "acme", std::nullopt), SwitchResult::switched);
  auto in = outbox("party.switched");
  ASSERT_EQ(in.size(), 2u);  // ann (by group) and boss (named)
  std::set<std::string> to;
  for (const auto& m : in) {
    to.insert(m.recipient);
    auto j = nlohmann::json::parse(m.payload);
    EXPECT_EQ(j["direction"], "in");
    EXPECT_EQ(j["automatic"], false);
    EXPECT_EQ(j["user"], "partners:carol");
    EXPECT_EQ(j["delegation_id"], d.id);
    EXPECT_EQ(m.language, "nl");
  }
  EXPECT_EQ(to, (std::set<std::string>{"ann@acme.example", "boss@acme.example"}));

  auto acting = principal(session(carol, "carol@globex.example", "globex"));
  EXPECT_EQ(acting.effective_party, "acme");
  EXPECT_EQ(acting.real_party, "globex");
  EXPECT_EQ(acting.delegation_id, d.id);
  EXPECT_EQ(acting.delegation_until, d.until);
  EXPECT_EQ(acting.effective_party_name, "Acme Ltd");
  EXPECT_EQ(acting.notice, "switched");

  ASSERT_EQ(*tenancy->switch_party(acting, "globex", std::nullopt), SwitchResult::switched);
  EXPECT_EQ(outbox("party.switched").size(), 4u);
  EXPECT_EQ(principal(session(carol, "carol@globex.example", "globex")).effective_party, "globex");
  EXPECT_EQ(audits("party.switched").size(), 2u);
  auto activity = db->delegation_activity("acme");
  ASSERT_TRUE(activity);
  ASSERT_EQ(activity->size(), 1u);
  EXPECT_EQ((*activity)[0].real_party, "globex");
  EXPECT_NE((*activity)[0].last_switch_in, 0);
  EXPECT_NE((*activity)[0].last_switch_out, 0);
}

TEST_F(TenancyTest, TheChoiceBelongsToTheUserNotTheSessionNorANamesake) {
  grant("acme", "carol@globex.example");
  auto p = principal(session(carol, "carol@globex.example", "globex"));
  ASSERT_EQ(*tenancy->switch_party(p, "acme", std::nullopt), SwitchResult::switched);
  // Another session (device) of the same user acts for acme too.
  auto other = session(carol, "carol@globex.example", "globex");
  other.id = "another-device";
  EXPECT_EQ(principal(other).effective_party, "acme");
  // carol of another directory, even with the same address, is another user.
  auto namesake = principal(session({"corp", "carol"}, "carol@globex.example", "globex"));
  EXPECT_EQ(namesake.effective_party, "globex");
  EXPECT_EQ(namesake.delegation_id, 0);
}

TEST_F(TenancyTest, TheEndOfADelegationIsEnforcedOnTheNextRequestAndToldOnce) {
  auto d = grant("acme", "carol@globex.example", clock.now() + 100);
  auto p = principal(session(carol, "carol@globex.example", "globex"));
  ASSERT_EQ(*tenancy->switch_party(p, "acme", std::nullopt), SwitchResult::switched);
  clock.advance(99);
  auto before = principal(session(carol, "carol@globex.example", "globex"));
  EXPECT_EQ(before.effective_party, "acme");
  EXPECT_EQ(before.expires_at, d.until);  // never past the delegation's end
  clock.advance(1);
  auto after = principal(session(carol, "carol@globex.example", "globex"));
  EXPECT_EQ(after.effective_party, "globex");
  EXPECT_EQ(after.delegation_id, 0);
  EXPECT_EQ(after.notice, "ended");
  std::size_t outs = 0;
  for (const auto& m : outbox("party.switched")) {
    auto j = nlohmann::json::parse(m.payload);
    if (j["direction"] == "out") {
      ++outs;
      EXPECT_EQ(j["automatic"], true);
      EXPECT_EQ(j["reason"], "expired");
    }
  }
  EXPECT_EQ(outs, 2u);
  // Read again: no second switch out, no second e-mail.
  principal(session(carol, "carol@globex.example", "globex"));
  EXPECT_EQ(outbox("party.switched").size(), 4u);
  ASSERT_TRUE(db->clear_party_notice(carol, "ended"));
  EXPECT_EQ(principal(session(carol, "carol@globex.example", "globex")).notice, "");
}

TEST_F(TenancyTest, RevokeSwitchesTheDelegateOutAtOnce) {
  auto d = grant("acme", "carol@globex.example", std::nullopt, true);
  auto p = principal(session(carol, "carol@globex.example", "globex"));
  ASSERT_EQ(*tenancy->switch_party(p, "acme", std::nullopt), SwitchResult::switched);
  auto revoked = tenancy->revoke(d.id, "corp:ann", std::nullopt);
  ASSERT_TRUE(revoked);
  EXPECT_TRUE(*revoked);
  EXPECT_FALSE(*tenancy->revoke(d.id, "corp:ann", std::nullopt));  // twice: no error, no change
  auto choice = db->find_party_choice(carol);
  ASSERT_TRUE(choice && choice->has_value());
  EXPECT_EQ((*choice)->choice.delegation_id, 0);
  EXPECT_EQ(principal(session(carol, "carol@globex.example", "globex")).effective_party, "globex");
  EXPECT_EQ(audits("delegation.revoked").size(), 1u);
  EXPECT_FALSE(tenancy->revoke(999999, "x", std::nullopt));
}

TEST_F(TenancyTest, ADelegationNoLongerReachesAUserWhoseAddressChanged) {
  grant("acme", "carol@globex.example");
  auto p = principal(session(carol, "carol@globex.example", "globex"));
  ASSERT_EQ(*tenancy->switch_party(p, "acme", std::nullopt), SwitchResult::switched);
  auto moved = principal(session(carol, "carol@elsewhere.example", "globex"));
  EXPECT_EQ(moved.effective_party, "globex");
  EXPECT_EQ(moved.notice, "ended");
}

TEST_F(TenancyTest, SweepAuditsEachExpiryOnceAndSwitchesOutSilentUsers) {
  grant("acme", "carol@globex.example", clock.now() + 50);
  grant("globex", "ann@acme.example", clock.now() + 50);
  auto p = principal(session(carol, "carol@globex.example", "globex"));
  ASSERT_EQ(*tenancy->switch_party(p, "acme", std::nullopt), SwitchResult::switched);
  EXPECT_EQ(*tenancy->sweep(), 0);
  clock.advance(60);
  EXPECT_EQ(*tenancy->sweep(), 1);
  EXPECT_EQ(*tenancy->sweep(), 0);
  EXPECT_EQ(audits("delegation.expired").size(), 2u);
  EXPECT_EQ((*db->find_party_choice(carol))->choice.delegation_id, 0);
}

TEST_F(TenancyTest, SuperusersAreNamedOnesAndGroupMembersOfTheTenantItself) {
  auto ann = principal(session({"corp", "ann"}, "ann@acme.example", "acme"));
  ann.groups = {"acme-admins"};
  EXPECT_TRUE(*tenancy->is_superuser(ann, "acme"));
  EXPECT_FALSE(*tenancy->is_superuser(ann, "globex"));
  // The same group in another tenant's user gives nothing.
  auto outsider = principal(session(carol, "carol@globex.example", "globex"));
  outsider.groups = {"acme-admins"};
  EXPECT_FALSE(*tenancy->is_superuser(outsider, "acme"));
  auto boss = principal(session({"corp", "boss"}, "boss@acme.example", "acme"));
  EXPECT_TRUE(*tenancy->is_superuser(boss, "acme"));
  EXPECT_EQ(*tenancy->superuser_tenants(boss), std::vector<std::string>{"acme"});
  // A delegate acting for acme is no superuser of it.
  grant("acme", "carol@globex.example");
  ASSERT_EQ(*tenancy->switch_party(outsider, "acme", std::nullopt), SwitchResult::switched);
  auto acting = principal(session(carol, "carol@globex.example", "globex"));
  EXPECT_FALSE(*tenancy->is_superuser(acting, "acme"));
  EXPECT_TRUE(tenancy->superuser_tenants(acting)->empty());
}

TEST_F(TenancyTest, UsageIsCountedPerEffectivePartyWithDelegatedRequestsApart) {
  UsageCounter usage(*db, clock);
  auto own = principal(session(carol, "carol@globex.example", "globex"));
  grant("acme", "carol@globex.example");
  ASSERT_EQ(*tenancy->switch_party(own, "acme", std::nullopt), SwitchResult::switched);
  auto acting = principal(session(carol, "carol@globex.example", "globex"));
  for (int i = 0; i < 3; ++i) usage.count(own, "/app");
  for (int i = 0; i < 5; ++i) usage.count(acting, "/app");
  ASSERT_TRUE(usage.flush());
  usage.count(acting, "/app");
  ASSERT_TRUE(usage.flush());
  EXPECT_EQ(usage.pending_rows(), 0u);
  auto rows = db->usage_report({});
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 2u);
  for (const auto& r : *rows) {
    EXPECT_EQ(r.day, utc_day(clock.now()));
    if (r.effective_party == "acme") {
      EXPECT_EQ(r.requests, 6);
      EXPECT_EQ(r.delegated_requests, 6);
    } else {
      EXPECT_EQ(r.effective_party, "globex");
      EXPECT_EQ(r.requests, 3);
      EXPECT_EQ(r.delegated_requests, 0);
    }
  }
  auto per = db->delegation_usage("acme");
  ASSERT_TRUE(per);
  ASSERT_EQ(per->size(), 1u);
  EXPECT_EQ((*per)[0].requests, 6);
}

TEST(UtcDay, FormatsTheUtcDate) {
  EXPECT_EQ(utc_day(0), "1970-01-01");
  EXPECT_EQ(utc_day(1'800'000'000), "2027-01-15");
  EXPECT_EQ(utc_day(951'782'400), "2000-02-29");
}

}  // namespace
}  // namespace gatehouse::tenancy
