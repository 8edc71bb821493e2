#pragma once
// A throwaway Samba Active Directory domain controller (tests/fixtures/samba) for the
// `active_directory` directory tests: domain GATEHOUSE / gatehouse.test, LDAP on
// 127.0.0.1 only. AD's ports are fixed (389, 636), so one runs at a time per machine;
// start() waits for a machine-wide lock to serialise tests that ctest runs in parallel.
// Needs root. Accounts and passwords: tests/fixtures/samba/README.md.
#include <filesystem>
#include <string>

#include "integration/harness.h"

namespace gatehouse::testing {

class SambaDc {
 public:
  SambaDc() = default;
  ~SambaDc();
  SambaDc(const SambaDc&) = delete;
  SambaDc& operator=(const SambaDc&) = delete;

  // Provisions a fresh domain and starts samba (about 10-15 s). On failure returns
  // false with the reason and the script's output in *error.
  bool start(std::string* error);
  // Stops samba and all its processes and waits until the ports are free. Idempotent.
  void stop();
  bool running() const { return lifeline_ >= 0; }

  std::string ldaps_uri() const { return "ldaps://127.0.0.1:636"; }
  std::string ldap_uri() const { return "ldap://127.0.0.1:389"; }  // for StartTLS
  std::string ca_file() const { return (dir() / "tls/ca.pem").string(); }
  // A CA that did not sign the DC's certificate.
  std::string wrong_ca_file() const { return (dir() / "tls/wrong-ca.pem").string(); }
  std::string base_dn() const { return "DC=gatehouse,DC=test"; }
  std::string bind_dn() const;  // the service account
  std::string bind_password_file() const { return (dir() / "bind.pw").string(); }
  std::string domain() const { return "GATEHOUSE"; }       // NetBIOS name (DOMAIN\user)
  std::string upn_suffix() const { return "gatehouse.test"; }
  std::filesystem::path dir() const { return root_.path() / "dc"; }
  std::string log() const;  // samba's own output

 private:
  TempDir root_;       // dc/ (start-dc.sh's DIR) plus the scripts' output
  int lifeline_ = -1;  // write end of samba's stdin: samba exits when it closes
  int lock_fd_ = -1;   // the machine-wide lock, held while samba runs
};

}  // namespace gatehouse::testing
