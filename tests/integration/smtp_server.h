#pragma once
// A real SMTP server for the notification tests: tests/smtp/server.py (Debian's
// python3-aiosmtpd, run by /usr/bin/python3 or $GATEHOUSE_PYTHON) on 127.0.0.1, a free
// port or a given one. Plain SMTP, STARTTLS (offered and required) or implicit TLS
// (smtps), optionally AUTH PLAIN/LOGIN required, optionally a 451 for the first N DATA
// commands. Every accepted message is one parsed JSON object (see the script's top for
// the members: mail_from, rcpt_tos, tls, auth_login, raw, headers, subject, body...).
// A missing python3-aiosmtpd or openssl is a failure of start(), never a skip.
//
//   SmtpTestCa ca;                       // only for TLS
//   ASSERT_TRUE(ca.create(&error)) << error;
//   SmtpServer smtp;
//   SmtpServerOptions o;
//   o.tls = SmtpServerOptions::Tls::starttls;
//   o.cert_file = ca.cert_file();
//   o.key_file = ca.key_file();
//   ASSERT_TRUE(smtp.start(o, &error)) << error;
//   ... send to smtp.url() (with ca_file = ca.ca_file()) ...
//   ASSERT_TRUE(smtp.wait_for(1, 5000));
//   auto messages = smtp.messages();
#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "integration/harness.h"

namespace gatehouse::testing {

// A private CA and a server certificate it signs (SAN IP:127.0.0.1, DNS:localhost),
// plus an unrelated CA, made with the openssl CLI in a temporary directory at test
// time (P-256 keys: fast). Nothing is committed.
class SmtpTestCa {
 public:
  bool create(std::string* error);
  std::string ca_file() const;        // the CA that signed cert_file()
  std::string wrong_ca_file() const;  // a CA that signed nothing here
  std::string cert_file() const;
  std::string key_file() const;
  std::string dir() const;

 private:
  std::unique_ptr<TempDir> dir_;
};

struct SmtpServerOptions {
  enum class Tls { none, starttls, implicit };
  int port = 0;           // 0: a free port
  Tls tls = Tls::none;
  std::string cert_file;  // with tls != none (SmtpTestCa's)
  std::string key_file;
  std::string auth;       // "user:password": AUTH required; "" none offered
  int fail_first = 0;     // the first N DATA commands get 451
};

class SmtpServer {
 public:
  SmtpServer() = default;
  ~SmtpServer();
  SmtpServer(const SmtpServer&) = delete;
  SmtpServer& operator=(const SmtpServer&) = delete;

  // Starts the script and waits (at most timeout_ms) for its `READY <port>` line. The
  // script gets SIGKILL when the thread that started it ends (call from the test's
  // thread). Starting again after stop() keeps the messages received so far (one
  // output file per SmtpServer object).
  bool start(const SmtpServerOptions& options, std::string* error, int timeout_ms = 15000);
  // SIGTERM, SIGKILL after 5 s, and wait; the port is closed afterwards. Also run by
  // the destructor.
  void stop();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  int port() const { return port_; }
  // smtp://127.0.0.1:PORT, or smtps://… for implicit TLS.
  std::string url() const;
  // Every message accepted so far, in order (one per JSON line of the output file).
  std::vector<nlohmann::json> messages() const;
  // True once at least `count` messages were accepted, waiting up to timeout_ms.
  bool wait_for(std::size_t count, int timeout_ms) const;
  std::string log() const;  // the script's stderr (aiosmtpd's warnings, tracebacks)

 private:
  std::unique_ptr<TempDir> dir_;
  SmtpServerOptions options_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int port_ = 0;
};

}  // namespace gatehouse::testing
