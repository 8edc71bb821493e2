// kind = "active_directory" end to end: the real gatehouse binary against a real Samba
// AD domain controller, started once for the whole suite (tests/fixtures/samba).
#include <gtest/gtest.h>

#include <fstream>
#include <memory>

#include "ad/samba_dc.h"
#include "integration/directory_fixture.h"
#include "integration/harness.h"

namespace gatehouse::testing {
namespace {

SambaDc* dc = nullptr;

class SambaEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    dc_ = std::make_unique<SambaDc>();
    std::string error;
    // A missing or broken Samba is a failure, never a skip.
    ASSERT_TRUE(dc_->start(&error)) << error;
    dc = dc_.get();
  }
  void TearDown() override {
    dc = nullptr;
    if (dc_) dc_->stop();
  }

 private:
  std::unique_ptr<SambaDc> dc_;
};

const auto* const environment = ::testing::AddGlobalTestEnvironment(new SambaEnvironment);

struct AdOptions {
  std::string uri;       // default: LDAPS
  bool start_tls = false;
  std::string ca_file;   // default: the DC's CA
  std::string extra;
};

class ActiveDirectoryTest : public DirectoryGatewayTest {
 protected:
  void SetUp() override { ASSERT_NE(dc, nullptr) << "the domain controller did not start"; }

  // Only what the README promises is enough: uri, bind_dn, bind_password_file, user_base
  // (plus the tenant, which every directory needs).
  void start(const AdOptions& o = {}) {
    std::string t = "[[directory]]\nname = \"ad\"\nkind = \"active_directory\"\n";
    t += "uri = \"" + (o.uri.empty() ? dc->ldaps_uri() : o.uri) + "\"\n";
    if (o.start_tls) t += "start_tls = true\n";
    t += "ca_file = \"" + (o.ca_file.empty() ? dc->ca_file() : o.ca_file) + "\"\n";
    t += "bind_dn = \"" + dc->bind_dn() + "\"\nbind_password_file = \"" + dc->bind_password_file() + "\"\n";
    t += "user_base = \"" + dc->base_dn() + "\"\n";
    t += "tenant = \"gatehouse\"\ntenant_attribute = \"company\"\n" + o.extra;
    start_with(t);
  }
};

TEST_F(ActiveDirectoryTest, EveryLoginFormReachesTheSameAccountWithNestedGroups) {
  start();
  for (const std::string name : {"ada", "GATEHOUSE\\ada", "gatehouse\\ada", "ada@gatehouse.test", "ADA",
                                 "Ada@GATEHOUSE.TEST"}) {
    auto echoed = upstream_view(name, "Ada-Lovelace-1815");
    EXPECT_EQ(echoed_header(echoed, "X-Gatehouse-User"), "ada") << name;
    EXPECT_EQ(echoed_header(echoed, "X-Gatehouse-Email"), "ada@gatehouse.test") << name;
    EXPECT_EQ(echoed_header(echoed, "X-Gatehouse-Name"), "Ada Lovelace") << name;
    // Engineers directly; Staff because Engineers is a member of Staff.
    EXPECT_EQ(echoed_header(echoed, "X-Gatehouse-Groups"), "Engineers,Staff") << name;
    EXPECT_EQ(echoed_header(echoed, "X-Gatehouse-Real-Party"), "acme") << name;
  }
  auto bob = upstream_view("bob", "Bob-Builder-2024");
  EXPECT_EQ(echoed_header(bob, "X-Gatehouse-Groups"), "Staff");
  EXPECT_EQ(echoed_header(bob, "X-Gatehouse-Real-Party"), "globex");
}

TEST_F(ActiveDirectoryTest, NonAsciiAccountName) {
  start();
  EXPECT_EQ(echoed_header(upstream_view("j\xc3\xbcrgen", "Juergen-Umlaut-0"), "X-Gatehouse-User"),
            "j\xc3\xbcrgen");
}

TEST_F(ActiveDirectoryTest, WrongPasswordUnknownUserAndForeignDomainLookTheSame) {
  AdOptions o;
  o.extra = "domain = \"GATEHOUSE\"\n";
  start(o);
  expect_generic_failure("ada", "Ada-Lovelace-1816");
  expect_generic_failure("nobody", "Ada-Lovelace-1815");
  expect_generic_failure("OTHER\\ada", "Ada-Lovelace-1815");
  expect_generic_failure("ada@other.example", "Ada-Lovelace-1815");
  expect_generic_failure("ada", "");
  EXPECT_NE(upstream_view("GATEHOUSE\\ada", "Ada-Lovelace-1815"), "");
  EXPECT_EQ(daemon_->log().find("Ada-Lovelace"), std::string::npos) << "a password reached the log";
}

TEST_F(ActiveDirectoryTest, FilterInjectionNeverLogsAnyoneIn) {
  start();
  for (const std::string name : {"*", "a*", "*)(sAMAccountName=*", "ada)(|(sAMAccountName=*", "\\",
                                 "GATEHOUSE\\*", "*@gatehouse.test"})
    expect_generic_failure(name, "Ada-Lovelace-1815");
  expect_generic_failure(std::string("ada\0x", 5), "Ada-Lovelace-1815");
  expect_generic_failure(std::string(10 * 1024, 'a'), "Ada-Lovelace-1815");
}

TEST_F(ActiveDirectoryTest, AccountStatesGiveTheRightAnswerAndTheAuditReason) {
  start();
  // Disabled, account expired and locked: the generic message, the exact reason logged.
  expect_generic_failure("dora", "Dora-Disabled-0");
  expect_generic_failure("axel", "Axel-Expired-Acct-0");
  expect_generic_failure("lena", "Lena-Locked-Out-0");
  // The password itself was right and has to change: the user is told so.
  expect_refused("eve", "Eve-Expired-Pw-0", "Your password has expired.");
  expect_refused("max", "Max-Must-Change-0", "You must change your password");
  // …but never with a wrong password.
  expect_generic_failure("eve", "Eve-Expired-Pw-1");
  expect_generic_failure("max", "Max-Must-Change-1");
  const std::string log = daemon_->log();
  for (const char* reason : {"account disabled (AD 533)", "account expired (AD 701)",
                             "account locked by Active Directory (AD 775)", "password expired (AD 532)",
                             "password must be changed (AD 773)", "wrong password (AD 52e)"})
    EXPECT_NE(log.find(reason), std::string::npos) << reason << "\n" << log;
}

TEST_F(ActiveDirectoryTest, StartTlsWithTheDomainControllersCa) {
  AdOptions o;
  o.uri = dc->ldap_uri();
  o.start_tls = true;
  start(o);
  EXPECT_EQ(echoed_header(upstream_view("ada", "Ada-Lovelace-1815"), "X-Gatehouse-User"), "ada");
}

TEST_F(ActiveDirectoryTest, PlainLdapIsASetupErrorNeverWrongPassword) {
  // AD refuses simple binds without TLS ("Strong(er) authentication required").
  AdOptions o;
  o.uri = dc->ldap_uri();
  start(o);
  auto res = login("ada", "Ada-Lovelace-1815");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503) << res->body;
  EXPECT_EQ(res->body.find("incorrect"), std::string::npos);
  httplib::Client c("127.0.0.1", daemon_->port());
  auto ready = c.Get("/.gatehouse/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  EXPECT_NE(ready->body.find("authentication required"), std::string::npos) << ready->body;
}

TEST_F(ActiveDirectoryTest, WrongCaMeansUnavailableNeverWrongPassword) {
  for (bool start_tls : {false, true}) {
    AdOptions o;
    o.ca_file = dc->wrong_ca_file();
    if (start_tls) {
      o.uri = dc->ldap_uri();
      o.start_tls = true;
    }
    start(o);
    auto res = login("ada", "Ada-Lovelace-1815");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 503) << res->body;
    EXPECT_NE(res->body.find("Sign-in is temporarily unavailable"), std::string::npos);
    httplib::Client c("127.0.0.1", daemon_->port());
    auto ready = c.Get("/.gatehouse/readyz");
    ASSERT_TRUE(ready);
    EXPECT_EQ(ready->status, 503);
    EXPECT_NE(ready->body.find("directory:ad"), std::string::npos);
    EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
    daemon_.reset();
  }
}

}  // namespace
}  // namespace gatehouse::testing
