// Self-tests of the slapd fixture, driven with the ldap-utils CLI (independent of the
// directory code under test). Each test starts its own server.
#include "integration/harness.h"
#include "integration/slapd_server.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <iostream>

namespace gatehouse::testing {
namespace {

namespace ldap_fx = ldap_fixture;

// ldap-utils with a given CA (or none) and certificate checking on, independent of
// /etc/ldap/ldap.conf's TLS_CACERT.
CommandResult ldap_tool(std::vector<std::string> argv, const std::string& ca = "", int timeout_ms = 20000) {
  std::map<std::string, std::string> env = {{"LDAPTLS_REQCERT", "demand"}};
  if (!ca.empty()) env["LDAPTLS_CACERT"] = ca;
  return run_program(argv, env, "", timeout_ms);
}

CommandResult whoami(const std::string& uri, const std::string& dn, std::string_view password,
                     const std::string& ca = "", bool starttls = false) {
  std::vector<std::string> argv = {"ldapwhoami", "-x", "-H", uri, "-D", dn, "-w", std::string(password),
                                   "-o", "nettimeout=5"};
  if (starttls) argv.push_back("-ZZ");
  return ldap_tool(argv, ca);
}

// ldapsearch as the service account, LDIF unwrapped.
CommandResult service_search(const SlapdServer& s, const std::string& filter, std::vector<std::string> attrs,
                             const std::string& base = "") {
  std::vector<std::string> argv = {"ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-x", "-H", s.ldap_uri(), "-D",
                                   s.bind_dn(), "-y", s.bind_password_file(), "-b",
                                   base.empty() ? s.base_dn() : base, filter};
  argv.insert(argv.end(), attrs.begin(), attrs.end());
  return ldap_tool(argv);
}

int count_of(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}

bool refused(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool r = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno == ECONNREFUSED;
  close(fd);
  return r;
}

TEST(SlapdServer, StartsAndTheServiceAccountFindsAlice) {
  const auto t0 = std::chrono::steady_clock::now();
  SlapdServer s;
  std::string error;
  ASSERT_TRUE(s.start(&error)) << error;
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "[          ] slapd fixture started in " << ms << " ms (" << s.startup_timings() << ")\n";
  RecordProperty("startup_ms", static_cast<int>(ms));
  EXPECT_LT(ms, 30000);  // ~250 ms on an idle 2-core machine; generous for loaded CI

  EXPECT_EQ(s.ldap_uri(), "ldap://127.0.0.1:" + std::to_string(s.ldap_port()));
  EXPECT_EQ(s.ldaps_uri(), "ldaps://127.0.0.1:" + std::to_string(s.ldaps_port()));
  EXPECT_NE(s.ldap_port(), s.ldaps_port());
  EXPECT_EQ(s.base_dn(), "dc=example,dc=org");
  EXPECT_EQ(s.bind_dn(), "cn=gatehouse,ou=services,dc=example,dc=org");

  EXPECT_EQ(read_file(s.bind_password_file()), ldap_fx::kServicePassword);
  struct stat st {};
  ASSERT_EQ(stat(s.bind_password_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  CommandResult r = service_search(s, "(uid=alice)", {"o", "mail", "displayName", "memberOf"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("dn: uid=alice,ou=people,dc=example,dc=org\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("o: acme\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mail: alice@example.org\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("displayName: Alice Example\n"), std::string::npos) << r.out;
  // memberof overlay: direct groups only (engineering is reached through developers).
  EXPECT_NE(r.out.find("memberOf: cn=developers,ou=groups,dc=example,dc=org\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("engineering"), std::string::npos) << r.out;
}

TEST(SlapdServer, DirectoryHasTheDocumentedAccounts) {
  SlapdServer s;
  std::string error;
  ASSERT_TRUE(s.start(&error)) << error;

  // Every documented password binds.
  const std::vector<std::pair<std::string, std::string>> accounts = {
      {s.bind_dn(), std::string(ldap_fx::kServicePassword)},
      {ldap_fx::person_dn("alice"), std::string(ldap_fx::kAlicePassword)},
      {ldap_fx::person_dn("bob"), std::string(ldap_fx::kBobPassword)},
      {ldap_fx::person_dn("carol"), std::string(ldap_fx::kCarolPassword)},
      {ldap_fx::person_dn(ldap_fx::kJuergenUid), std::string(ldap_fx::kJuergenPassword)},
      {ldap_fx::person_dn("admin"), std::string(ldap_fx::kAdminPassword)},
      {ldap_fx::person_dn("longpass"), ldap_fx::long_password()},
      {ldap_fx::person_dn("twin"), std::string(ldap_fx::kTwinPeoplePassword)},
      {"uid=twin,ou=contractors,ou=people,dc=example,dc=org", std::string(ldap_fx::kTwinContractorPassword)},
      {"uid=dave,ou=contractors,ou=people,dc=example,dc=org", std::string(ldap_fx::kDavePassword)},
  };
  for (const auto& [dn, password] : accounts) {
    CommandResult r = whoami(s.ldap_uri(), dn, password);
    EXPECT_EQ(r.exit_code, 0) << dn << ": " << r.err;
    EXPECT_EQ(r.out, "dn:" + dn + "\n");
  }
  EXPECT_EQ(ldap_fx::long_password().size(), 1024u);
  CommandResult wrong = whoami(s.ldap_uri(), ldap_fx::person_dn("alice"), "alice-password-1");
  EXPECT_EQ(wrong.exit_code, 49) << wrong.err;  // invalidCredentials

  // Tenants, the non-ASCII entry, and an entry without o/mail/displayName.
  CommandResult r = service_search(s, "(objectClass=inetOrgPerson)", {"uid", "o"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("dn: uid=bob,ou=people,dc=example,dc=org\nuid: bob\no: globex\n"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("dn: uid=carol,ou=people,dc=example,dc=org\nuid: carol\no: acme\n"), std::string::npos);
  EXPECT_NE(r.out.find("dn:: dWlkPWrDvHJnZW4sb3U9cGVvcGxlLGRjPWV4YW1wbGUsZGM9b3Jn\nuid:: asO8cmdlbg==\no: globex\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("dn: uid=dave,ou=contractors,ou=people,dc=example,dc=org\nuid: dave\n\n"), std::string::npos)
      << r.out;

  // Two entries with uid=twin below ou=people; one with scope one.
  r = service_search(s, "(uid=twin)", {"1.1"}, "ou=people,dc=example,dc=org");
  EXPECT_EQ(count_of(r.out, "dn: "), 2) << r.out;
  r = ldap_tool({"ldapsearch", "-LLL", "-x", "-H", s.ldap_uri(), "-D", s.bind_dn(), "-y", s.bind_password_file(),
                 "-b", "ou=people,dc=example,dc=org", "-s", "one", "(uid=twin)", "1.1"});
  EXPECT_EQ(count_of(r.out, "dn: "), 1) << r.out;

  // Groups: (member={dn}) finds direct groups; engineering contains developers.
  r = service_search(s, "(member=uid=alice,ou=people,dc=example,dc=org)", {"cn"}, "ou=groups,dc=example,dc=org");
  EXPECT_EQ(r.out, "dn: cn=developers,ou=groups,dc=example,dc=org\ncn: developers\n\n");
  r = service_search(s, "(member=cn=developers,ou=groups,dc=example,dc=org)", {"cn"});
  EXPECT_EQ(r.out, "dn: cn=engineering,ou=groups,dc=example,dc=org\ncn: engineering\n\n");
  r = service_search(s, "(cn=staff)", {"member"});
  EXPECT_NE(r.out.find("member: uid=bob,ou=people,dc=example,dc=org\n"), std::string::npos) << r.out;
  r = service_search(s, "(uid=carol)", {"memberOf"});
  EXPECT_NE(r.out.find("memberOf: cn=R&D\\2C Europe,ou=groups,dc=example,dc=org\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("memberOf: cn=cycle-a,ou=groups,dc=example,dc=org\n"), std::string::npos) << r.out;

  // Access control: no anonymous search, no password reads, users read the groups.
  r = ldap_tool({"ldapsearch", "-LLL", "-x", "-H", s.ldap_uri(), "-b", s.base_dn(), "(uid=alice)"});
  EXPECT_EQ(r.exit_code, 50) << r.out << r.err;  // insufficientAccess
  r = service_search(s, "(uid=alice)", {"userPassword"});
  EXPECT_EQ(r.out.find("userPassword"), std::string::npos) << r.out;
  r = ldap_tool({"ldapsearch", "-LLL", "-x", "-H", s.ldap_uri(), "-D", ldap_fx::person_dn("bob"), "-w",
                 std::string(ldap_fx::kBobPassword), "-b", "ou=groups,dc=example,dc=org",
                 "(member=uid=bob,ou=people,dc=example,dc=org)", "cn"});
  EXPECT_EQ(r.out, "dn: cn=staff,ou=groups,dc=example,dc=org\ncn: staff\n\n") << r.err;
}

TEST(SlapdServer, TlsWorksWithTheRightCaOnly) {
  SlapdServer s;
  std::string error;
  ASSERT_TRUE(s.start(&error)) << error;
  const std::string alice = ldap_fx::person_dn("alice");
  const std::string expected = "dn:" + alice + "\n";

  CommandResult r = whoami(s.ldap_uri(), alice, ldap_fx::kAlicePassword, s.ca_file(), /*starttls=*/true);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, expected);
  r = whoami(s.ldaps_uri(), alice, ldap_fx::kAlicePassword, s.ca_file());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, expected);
  // libldap checks ldaps://localhost against this machine's host name, also in the SAN.
  r = whoami("ldaps://localhost:" + std::to_string(s.ldaps_port()), alice, ldap_fx::kAlicePassword, s.ca_file());
  EXPECT_EQ(r.exit_code, 0) << r.err;

  r = whoami(s.ldap_uri(), alice, ldap_fx::kAlicePassword, s.wrong_ca_file(), /*starttls=*/true);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("ldap_start_tls"), std::string::npos) << r.err;
  r = whoami(s.ldaps_uri(), alice, ldap_fx::kAlicePassword, s.wrong_ca_file());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out, "");

  // A refused handshake leaves the server fine, and no BIND reached it over TLS.
  EXPECT_EQ(s.bind_count("uid=alice"), 3);
  r = whoami(s.ldap_uri(), alice, ldap_fx::kAlicePassword);
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(SlapdServer, RestartKeepsPortsAndData) {
  SlapdServer s;
  std::string error;
  ASSERT_TRUE(s.start(&error)) << error;
  const std::string ldap = s.ldap_uri();
  const std::string ldaps = s.ldaps_uri();
  const pid_t first = s.pid();
  ASSERT_TRUE(s.modify("dn: uid=carol,ou=people,dc=example,dc=org\nchangetype: modify\nreplace: mail\n"
                       "mail: carol.changed@example.org\n",
                       &error))
      << error;

  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(s.restart(&error)) << error;
  std::cout << "[          ] slapd fixture restarted in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()
            << " ms\n";
  EXPECT_NE(s.pid(), first);
  EXPECT_EQ(kill(first, 0), -1);
  EXPECT_EQ(s.ldap_uri(), ldap);
  EXPECT_EQ(s.ldaps_uri(), ldaps);

  CommandResult r = service_search(s, "(uid=carol)", {"mail"});
  EXPECT_EQ(r.out, "dn: uid=carol,ou=people,dc=example,dc=org\nmail: carol.changed@example.org\n\n") << r.err;
  r = whoami(s.ldaps_uri(), ldap_fx::person_dn("alice"), ldap_fx::kAlicePassword, s.ca_file());
  EXPECT_EQ(r.exit_code, 0) << r.err;

  // While stopped, both ports refuse connections.
  s.stop();
  EXPECT_FALSE(s.running());
  EXPECT_TRUE(refused(s.ldap_port()));
  EXPECT_TRUE(refused(s.ldaps_port()));
  ASSERT_TRUE(s.restart(&error)) << error;
  r = whoami(s.ldap_uri(), ldap_fx::person_dn("bob"), ldap_fx::kBobPassword);
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(SlapdServer, BindCountCountsBindRequests) {
  SlapdServer s;
  std::string error;
  ASSERT_TRUE(s.start(&error)) << error;
  // The fixture's own connections (ldapadd, readiness checks) are not counted.
  EXPECT_EQ(s.bind_count(""), 0) << s.log();
  EXPECT_EQ(s.accept_count(), 0);

  EXPECT_EQ(whoami(s.ldap_uri(), ldap_fx::person_dn("alice"), ldap_fx::kAlicePassword).exit_code, 0);
  EXPECT_EQ(whoami(s.ldap_uri(), ldap_fx::person_dn("alice"), "wrong").exit_code, 49);
  EXPECT_EQ(whoami(s.ldaps_uri(), ldap_fx::person_dn("alice"), ldap_fx::kAlicePassword, s.ca_file()).exit_code, 0);
  EXPECT_EQ(whoami(s.ldap_uri(), ldap_fx::person_dn(ldap_fx::kJuergenUid), ldap_fx::kJuergenPassword).exit_code, 0);
  EXPECT_EQ(service_search(s, "(uid=bob)", {"1.1"}).exit_code, 0);

  EXPECT_EQ(s.bind_count("uid=alice,"), 3);  // successful or not
  EXPECT_EQ(s.bind_count("uid=bob"), 0);
  EXPECT_EQ(s.bind_count(std::string("uid=") + std::string(ldap_fx::kJuergenUid)), 1);  // logged as sent, UTF-8
  EXPECT_EQ(s.bind_count(s.bind_dn()), 1);
  EXPECT_EQ(s.bind_count(""), 5);
  EXPECT_EQ(s.accept_count(), 5);
  ASSERT_TRUE(s.modify("dn: cn=staff,ou=groups,dc=example,dc=org\nchangetype: modify\nadd: member\n"
                       "member: uid=carol,ou=people,dc=example,dc=org\n",
                       nullptr));
  EXPECT_EQ(s.accept_count(), 5);  // modify() goes over the fixture's socket too

  std::string ignored;
  ASSERT_TRUE(s.restart(&ignored)) << ignored;
  EXPECT_EQ(whoami(s.ldap_uri(), ldap_fx::person_dn("alice"), ldap_fx::kAlicePassword).exit_code, 0);
  EXPECT_EQ(s.bind_count("uid=alice,"), 4);  // the log spans restarts
  EXPECT_EQ(s.accept_count(), 6);
  EXPECT_NE(s.log().find("slapd starting"), std::string::npos);
}

TEST(SlapdServer, StopAndTheDestructorLeaveNoSlapdRunning) {
  pid_t pid = -1;
  int port = 0;
  {
    SlapdServer s;
    std::string error;
    ASSERT_TRUE(s.start(&error)) << error;
    pid = s.pid();
    port = s.ldap_port();
    ASSERT_GT(pid, 0);
    EXPECT_EQ(kill(pid, 0), 0);
    s.suspend();  // hung: connections are accepted by the kernel but never answered
    CommandResult r = ldap_tool({"ldapwhoami", "-x", "-H", s.ldap_uri()}, "", 300);
    EXPECT_EQ(r.exit_code, -1) << "answered while suspended: " << r.out;
    s.resume();
    r = ldap_tool({"ldapwhoami", "-x", "-H", s.ldap_uri()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    s.suspend();  // the destructor also stops a suspended server
  }
  EXPECT_EQ(kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
  EXPECT_TRUE(refused(port));
}

TEST(SlapdServer, MissingSlapdIsAClearFailure) {
  const char* old = getenv("GATEHOUSE_SLAPD");
  const std::string saved = old ? old : "";
  setenv("GATEHOUSE_SLAPD", "/nonexistent/slapd", 1);
  SlapdServer s;
  std::string error;
  EXPECT_FALSE(s.start(&error));
  EXPECT_NE(error.find("GATEHOUSE_SLAPD=/nonexistent/slapd is not an executable file"), std::string::npos) << error;
  EXPECT_FALSE(s.running());
  if (old) setenv("GATEHOUSE_SLAPD", saved.c_str(), 1);
  else unsetenv("GATEHOUSE_SLAPD");
}

TEST(SlapdServer, SilentServerAcceptsButNeverAnswers) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  auto server = std::make_unique<SilentServer>();
  EXPECT_EQ(server->uri(), "ldap://127.0.0.1:" + std::to_string(server->port()));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(server->port()));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  // An anonymous simple BindRequest.
  const unsigned char bind_request[] = {0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07,
                                        0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00};
  ASSERT_EQ(write(fd, bind_request, sizeof bind_request), static_cast<ssize_t>(sizeof bind_request));
  pollfd p{fd, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 300), 0) << "bytes arrived";
  EXPECT_EQ(server->connections(), 1);

  server.reset();  // closes the connection
  ASSERT_EQ(poll(&p, 1, 2000), 1);
  char buf[16];
  EXPECT_EQ(read(fd, buf, sizeof buf), 0);  // end of stream, no data
  close(fd);
}

}  // namespace
}  // namespace gatehouse::testing
