#pragma once
// A private OpenLDAP slapd for the LDAP directory tests: started by the tests themselves
// in a temporary directory on free loopback ports, with its own CA and server
// certificate, loaded with tests/fixtures/ldap/directory.ldif (accounts and passwords:
// tests/fixtures/ldap/README.md). Needs Debian's `slapd` and `ldap-utils` and the
// `openssl` CLI; a missing slapd is a failure of start(), never a skip.
#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "integration/harness.h"

namespace gatehouse::testing {

// The accounts of tests/fixtures/ldap/directory.ldif.
namespace ldap_fixture {
inline constexpr std::string_view kBaseDn = "dc=example,dc=org";
inline constexpr std::string_view kPeopleDn = "ou=people,dc=example,dc=org";
inline constexpr std::string_view kGroupsDn = "ou=groups,dc=example,dc=org";
inline constexpr std::string_view kServiceDn = "cn=gatehouse,ou=services,dc=example,dc=org";
inline constexpr std::string_view kServicePassword = "svc-Secret-7731";
inline constexpr std::string_view kAlicePassword = "alice-Password-1";  // acme; developers (-> engineering)
inline constexpr std::string_view kBobPassword = "bob-Password-2";      // globex; staff
inline constexpr std::string_view kCarolPassword = "carol-Password-3";  // acme; "R&D, Europe", cycle-a (-> cycle-b)
inline constexpr std::string_view kJuergenUid = "j\xC3\xBCrgen";       // "jürgen", UTF-8; globex; staff
inline constexpr std::string_view kJuergenPassword = "Gr\xC3\xBC\xC3\x9F" "e-J\xC3\xBCrgen-42";  // "Grüße-Jürgen-42"
inline constexpr std::string_view kAdminPassword = "admin-Password-0";  // acme; admins
inline constexpr std::string_view kTwinPeoplePassword = "twin-People-5";          // uid=twin,ou=people
inline constexpr std::string_view kTwinContractorPassword = "twin-Contractor-6";  // uid=twin,ou=contractors,ou=people
inline constexpr std::string_view kDavePassword = "dave-Password-7";  // ou=contractors only; no o/mail/displayName
// uid=longpass: "0123456789abcdef" repeated 64 times (1024 characters).
std::string long_password();
// "uid=NAME,ou=people,dc=example,dc=org"
std::string person_dn(std::string_view uid);
}  // namespace ldap_fixture

// Runs a program (looked up in PATH, then /usr/sbin and /sbin) to completion with
// `env` added to (or replacing entries of) the environment and `input` on stdin.
// Killed after timeout_ms (exit_code -1). exit_code is 127 if the program is missing.
CommandResult run_program(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
                          const std::string& input = "", int timeout_ms = 20000);

class SlapdServer {
 public:
  SlapdServer() = default;
  ~SlapdServer();
  SlapdServer(const SlapdServer&) = delete;
  SlapdServer& operator=(const SlapdServer&) = delete;

  // Temp dir, TLS material, slapd.conf, start slapd on free ports (new ports when one
  // was taken meanwhile), wait until it answers, load the LDIF with ldapadd (so the
  // memberof overlay fills memberOf). slapd is found through $GATEHOUSE_SLAPD, PATH,
  // /usr/sbin/slapd. Call from a thread that outlives the server: slapd gets SIGKILL
  // when the thread that started it ends (so a crashed test never leaves it running).
  // Start-up takes about 250 ms on an idle 2-core machine (startup_timings()). Calling
  // start() again after stop() begins afresh: new directory, certificates, ports, data.
  bool start(std::string* error);
  // SIGTERM (SIGKILL after 5 s) and wait. The ports are then closed: connections are
  // refused. Also run by the destructor.
  void stop();
  // Stop, then start again on the same ports with the same data (not reloaded), waiting
  // up to 5 s for a port that another process took meanwhile.
  bool restart(std::string* error);
  // SIGSTOP (returning once slapd has stopped) / SIGCONT: while suspended the kernel
  // still accepts connections but nothing is answered (a hung server). stop() also
  // works while suspended.
  void suspend();
  void resume();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // Applies LDIF change records (ldapmodify, as the rootdn), e.g. to change a password
  // or a group while the server runs.
  bool modify(const std::string& ldif, std::string* error);

  int ldap_port() const { return ldap_port_; }
  int ldaps_port() const { return ldaps_port_; }
  std::string ldap_uri() const;   // ldap://127.0.0.1:PORT (StartTLS works on it)
  std::string ldaps_uri() const;  // ldaps://127.0.0.1:PORT2
  // CA of the server certificate (SAN IP:127.0.0.1, DNS:localhost and this machine's
  // host name: libldap checks ldaps://localhost against the host name).
  std::string ca_file() const;
  std::string wrong_ca_file() const;  // an unrelated CA
  std::string base_dn() const { return std::string(ldap_fixture::kBaseDn); }
  std::string bind_dn() const { return std::string(ldap_fixture::kServiceDn); }
  std::string bind_password_file() const;  // the service password, no newline, mode 0600
  std::string root_dn() const { return "cn=manager,dc=example,dc=org"; }
  std::string root_password() const { return "manager-Secret-9"; }
  std::string dir() const;  // the temporary directory (slapd.conf, db/, certificates)

  // From slapd's stats log, over the whole log (restarts included), counting only
  // ldap:// and ldaps:// connections: the fixture's own (loading, readiness checks,
  // modify()) go over a private ldapi:// socket and are left out, so both start at 0.
  // bind_count: BIND requests, successful or not, each once, whose DN as sent by the
  // client (not normalised; UTF-8 as is) contains dn_substring ("" counts all, anonymous
  // included). accept_count: TCP connections accepted.
  int bind_count(const std::string& dn_substring) const;
  int accept_count() const;
  std::string log() const;  // slapd's stderr with -d stats, since the first start
  std::string ldapi_uri() const;  // the fixture's own socket (not counted above)
  // Time since start() began at each phase of the last start(), e.g. "tls+config 60 ms,
  // slapd starting 120 ms, answering 130 ms, loaded 170 ms".
  const std::string& startup_timings() const { return timings_; }

 private:
  bool prepare(std::string* error);
  bool launch(std::string* error, bool* port_taken);
  bool wait_ready(std::string* error);
  std::string log_file() const;

  std::unique_ptr<TempDir> dir_;
  pid_t pid_ = -1;
  int ldap_port_ = 0;
  int ldaps_port_ = 0;
  std::string timings_;
};

// Accepts TCP connections on 127.0.0.1, reads and discards what arrives, never answers
// (for timeout tests); closes them (FIN) on destruction.
class SilentServer {
 public:
  SilentServer();
  ~SilentServer();
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;
  int port() const { return port_; }
  std::string uri() const { return "ldap://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }

 private:
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  int port_ = 0;
  std::atomic<int> connections_{0};
  std::vector<int> accepted_;
  std::thread thread_;
};

}  // namespace gatehouse::testing
