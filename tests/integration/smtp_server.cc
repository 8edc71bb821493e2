#include "integration/smtp_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "integration/slapd_server.h"  // run_program

extern char** environ;

namespace gatehouse::testing {
namespace {

using SmtpSteady = std::chrono::steady_clock;

int smtp_remaining_ms(SmtpSteady::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SmtpSteady::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// Waits up to timeout_ms for `pid` to exit and reaps it; false on timeout.
bool smtp_wait_exit(pid_t pid, int timeout_ms) {
  const auto deadline = SmtpSteady::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) return true;
    if (smtp_remaining_ms(deadline) == 0) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::string smtp_python() {
  if (const char* p = std::getenv("GATEHOUSE_PYTHON"); p && *p) return p;
  return "/usr/bin/python3";  // Debian's, with python3-aiosmtpd (not a pyenv shim)
}

}  // namespace

// --- SmtpTestCa ---

bool SmtpTestCa::create(std::string* error) {
  dir_ = std::make_unique<TempDir>();
  const TempDir& d = *dir_;
  const std::string cnf = d.file("openssl.cnf");
  {
    std::ofstream out(cnf);
    out << "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"
           "[ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
           "subjectKeyIdentifier = hash\n"
           "[server]\nbasicConstraints = critical,CA:FALSE\n"
           "keyUsage = critical,digitalSignature,keyEncipherment\nextendedKeyUsage = serverAuth\n"
           "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n"
           "subjectAltName = IP:127.0.0.1,DNS:localhost\n";
    if (!out) {
      *error = "cannot write " + cnf;
      return false;
    }
  }
  const std::vector<std::string> ec = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"};
  auto with_key = [&](std::vector<std::string> head, const std::vector<std::string>& rest) {
    head.insert(head.end(), ec.begin(), ec.end());
    head.insert(head.end(), rest.begin(), rest.end());
    return head;
  };
  const std::vector<std::vector<std::string>> commands = {
      with_key({"openssl", "req", "-x509", "-config", cnf, "-extensions", "ca", "-days", "30"},
               {"-subj", "/O=gatehouse tests/CN=gatehouse test SMTP CA", "-keyout", d.file("ca.key"), "-out",
                ca_file()}),
      with_key({"openssl", "req", "-new", "-config", cnf},
               {"-subj", "/O=gatehouse tests/CN=localhost", "-keyout", key_file(), "-out", d.file("server.csr")}),
      {"openssl", "x509", "-req", "-in", d.file("server.csr"), "-CA", ca_file(), "-CAkey", d.file("ca.key"),
       "-set_serial", "2", "-days", "30", "-extfile", cnf, "-extensions", "server", "-out", cert_file()},
      with_key({"openssl", "req", "-x509", "-config", cnf, "-extensions", "ca", "-days", "30"},
               {"-subj", "/O=somebody else/CN=unrelated test CA", "-keyout", d.file("wrong-ca.key"), "-out",
                wrong_ca_file()}),
  };
  for (const auto& cmd : commands) {
    CommandResult r = run_program(cmd, {{"OPENSSL_CONF", cnf}});
    if (r.exit_code != 0) {
      std::string line;
      for (const auto& a : cmd) line += a + " ";
      *error = "making the SMTP test CA: " + line + "-> exit " + std::to_string(r.exit_code) + "\n" + r.err;
      return false;
    }
  }
  return true;
}

std::string SmtpTestCa::ca_file() const { return dir_ ? dir_->file("ca.crt") : ""; }
std::string SmtpTestCa::wrong_ca_file() const { return dir_ ? dir_->file("wrong-ca.crt") : ""; }
std::string SmtpTestCa::cert_file() const { return dir_ ? dir_->file("server.crt") : ""; }
std::string SmtpTestCa::key_file() const { return dir_ ? dir_->file("server.key") : ""; }
std::string SmtpTestCa::dir() const { return dir_ ? dir_->path().string() : ""; }

// --- SmtpServer ---

SmtpServer::~SmtpServer() { stop(); }

std::string SmtpServer::url() const {
  return std::string(options_.tls == SmtpServerOptions::Tls::implicit ? "smtps" : "smtp") + "://127.0.0.1:" +
         std::to_string(port_);
}

std::string SmtpServer::log() const { return dir_ ? read_file(dir_->file("server.log")) : std::string(); }

std::vector<nlohmann::json> SmtpServer::messages() const {
  std::vector<nlohmann::json> out;
  if (!dir_) return out;
  std::istringstream in(read_file(dir_->file("messages.jsonl")));
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded()) out.push_back(std::move(j));  // a line being written is complete next time
  }
  return out;
}

bool SmtpServer::wait_for(std::size_t count, int timeout_ms) const {
  const auto deadline = SmtpSteady::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (messages().size() >= count) return true;
    if (smtp_remaining_ms(deadline) == 0) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

bool SmtpServer::start(const SmtpServerOptions& options, std::string* error, int timeout_ms) {
  stop();
  options_ = options;
  const auto began = SmtpSteady::now();
  const std::string python = smtp_python();
  const std::string script = std::string(GATEHOUSE_TESTS_DIR) + "/smtp/server.py";
  if (access(python.c_str(), X_OK) != 0) {
    *error = python + " not found: the SMTP tests need Debian's python3 with python3-aiosmtpd "
             "(.ci/install-deps --tests)";
    return false;
  }
  if (!dir_) dir_ = std::make_unique<TempDir>();

  std::vector<std::string> args = {python, script, "--output", dir_->file("messages.jsonl"), "--port",
                                   std::to_string(options.port)};
  if (options.tls != SmtpServerOptions::Tls::none) {
    if (options.cert_file.empty() || options.key_file.empty()) {
      *error = "SmtpServerOptions: TLS needs cert_file and key_file (SmtpTestCa)";
      return false;
    }
    args.push_back(options.tls == SmtpServerOptions::Tls::starttls ? "--starttls" : "--implicit-tls");
    args.push_back(options.cert_file);
    args.push_back(options.key_file);
  }
  if (!options.auth.empty()) args.insert(args.end(), {"--auth", options.auth});
  if (options.fail_first > 0) args.insert(args.end(), {"--fail-first", std::to_string(options.fail_first)});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + strerror(errno);
    return false;
  }
  const std::string log_path = dir_->file("server.log");
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
    int in = open("/dev/null", O_RDONLY);
    int err = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (in < 0 || err < 0) _exit(126);
    if (dup2(in, 0) < 0 || dup2(out_pipe[1], 1) < 0 || dup2(err, 2) < 0) _exit(126);
    syscall(SYS_close_range, 3U, ~0U, 0U);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(argv[0], argv.data(), environ);
    _exit(127);
  }
  close(out_pipe[1]);
  if (pid < 0) {
    close(out_pipe[0]);
    *error = std::string("fork: ") + strerror(errno);
    return false;
  }
  pid_ = pid;
  stdout_fd_ = out_pipe[0];

  auto fail = [&](const std::string& why) {
    stop();
    *error = "SMTP server (" + python + " " + script + "): " + why + "\nits stderr:\n" + tail(log());
    return false;
  };
  const auto deadline = began + std::chrono::milliseconds(timeout_ms);
  std::string out;
  while (out.find('\n') == std::string::npos) {
    int left = smtp_remaining_ms(deadline);
    if (left == 0) return fail("not ready after " + std::to_string(timeout_ms) + " ms");
    pollfd p{stdout_fd_, POLLIN, 0};
    int n = poll(&p, 1, left);
    if (n < 0 && errno != EINTR) return fail(std::string("poll: ") + strerror(errno));
    if (n <= 0) continue;
    char buf[256];
    ssize_t got = read(stdout_fd_, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      smtp_wait_exit(pid_, 5000);
      pid_ = -1;
      return fail("exited before it was ready (is python3-aiosmtpd installed?)");
    }
    out.append(buf, static_cast<std::size_t>(got));
  }
  const std::string line = out.substr(0, out.find('\n'));
  try {
    if (line.rfind("READY ", 0) != 0) throw std::invalid_argument(line);
    port_ = std::stoi(line.substr(6));
  } catch (const std::exception&) {
    return fail("unexpected ready line: " + line);
  }
  if (options.port != 0 && port_ != options.port) return fail("listens on " + line + ", not the port asked for");
  return true;
}

void SmtpServer::stop() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    if (!smtp_wait_exit(pid_, 5000)) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    pid_ = -1;
  }
  if (stdout_fd_ >= 0) {
    close(stdout_fd_);
    stdout_fd_ = -1;
  }
}

}  // namespace gatehouse::testing
