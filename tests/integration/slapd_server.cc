#include "integration/slapd_server.h"
#include "integration/harness.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace gatehouse::testing {

namespace ldap_fixture {

std::string long_password() {
  std::string pw;
  for (int i = 0; i < 64; ++i) pw += "0123456789abcdef";
  return pw;
}

std::string person_dn(std::string_view uid) { return "uid=" + std::string(uid) + "," + std::string(kPeopleDn); }

}  // namespace ldap_fixture

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kSuffix = "dc=example,dc=org";


// PATH, then the sbin directories (slapd lives in /usr/sbin, often not in a user's PATH).
std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return is_executable(name) ? name : std::string();
  std::string dirs = getenv("PATH") ? getenv("PATH") : "";
  dirs += ":/usr/sbin:/sbin:/usr/local/sbin";
  std::stringstream ss(dirs);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    if (is_executable(candidate)) return candidate;
  }
  return {};
}

std::vector<std::string> make_env(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos && extra.count(kv.substr(0, eq)) != 0) continue;
    env.push_back(std::move(kv));
  }
  for (const auto& [k, v] : extra) env.push_back(k + "=" + v);
  return env;
}

struct SpawnSpec {
  std::string path;
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::string stdin_path = "/dev/null";
  std::string stdout_path;  // both stdout and stderr go here when stderr_path is empty
  std::string stderr_path;
  bool append = false;
  bool die_with_parent = false;
};

// fork + execve, closing every inherited descriptor (so slapd never holds on to another
// test server's sockets). Only async-signal-safe calls between fork and exec.
pid_t spawn(const SpawnSpec& spec) {
  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const int out_flags = O_WRONLY | O_CREAT | (spec.append ? O_APPEND : O_TRUNC);
  const pid_t parent = getpid();
  long max_fd = sysconf(_SC_OPEN_MAX);
  if (max_fd <= 0 || max_fd > 65536) max_fd = 65536;

  pid_t pid = fork();
  if (pid != 0) return pid;  // parent (or -1)

  if (spec.die_with_parent) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
  }
  int in = open(spec.stdin_path.c_str(), O_RDONLY);
  int out = open(spec.stdout_path.c_str(), out_flags, 0600);
  int err = spec.stderr_path.empty() ? out : open(spec.stderr_path.c_str(), out_flags, 0600);
  if (in < 0 || out < 0 || err < 0) _exit(126);
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(126);
  if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
    for (long fd = 3; fd < max_fd; ++fd) close(static_cast<int>(fd));
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execve(spec.path.c_str(), argv.data(), envp.data());
  _exit(127);
}

// Waits up to timeout_ms for pid; returns the exit code, 128+signal, or -1 on timeout.
int wait_for(pid_t pid, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0 && errno != EINTR) return -1;
    if (Clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

std::string describe(const std::vector<std::string>& argv, const CommandResult& r) {
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  return "`" + cmd + "` exited with " + std::to_string(r.exit_code) + ": " + tail(r.err + r.out, 2000);
}

std::string missing_tool(const std::string& tool, const std::string& package) {
  return tool + " not found (looked in PATH, /usr/sbin, /sbin); the LDAP tests need it: apt-get install " +
         package;
}

std::string slapd_binary(std::string* error) {
  if (const char* configured = getenv("GATEHOUSE_SLAPD"); configured != nullptr && *configured != '\0') {
    if (is_executable(configured)) return configured;
    *error = std::string("GATEHOUSE_SLAPD=") + configured + " is not an executable file";
    return {};
  }
  std::string path = find_program("slapd");
  if (path.empty()) *error = missing_tool("slapd", "slapd ldap-utils") + " (or set GATEHOUSE_SLAPD)";
  return path;
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return {};
  std::string h(buf);
  for (char c : h)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) return {};
  return h;
}

// "ldapi://%2Fpath%2Fto%2Fsocket"
std::string ldapi_uri_for(const std::string& path) {
  std::string uri = "ldapi://";
  for (char c : path) {
    if (isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_') {
      uri += c;
    } else {
      char hex[4];
      snprintf(hex, sizeof hex, "%%%02X", static_cast<unsigned char>(c));
      uri += hex;
    }
  }
  return uri;
}

// Walks slapd's stats log. The fixture's own connections (ldapadd, readiness checks,
// modify()) use the ldapi:// socket, logged `conn=N fd=F ACCEPT from PATH=...`; they are
// left out. Connection numbers start again at 1000 after a restart, so the log is read
// one slapd run ("slapd starting") at a time. slapd enables reading on a connection
// before its listener thread logs ACCEPT, so under load a connection's first operations
// can be logged before (or, briefly, without) its ACCEPT line: `unaccepted` counts the
// connections seen without one, and the callers read again until there are none.
struct LogCounts {
  int tcp_accepts = 0;
  int binds = 0;
  int unaccepted = 0;
};

LogCounts count_log(const std::string& text, const std::string* bind_dn_substring) {
  std::vector<std::string_view> lines;
  for (size_t start = 0, end; (end = text.find('\n', start)) != std::string::npos; start = end + 1)
    lines.emplace_back(text.data() + start, end - start);  // an incomplete last line is left out
  auto conn_of = [](std::string_view line) -> std::string_view {
    size_t a = line.find(" conn=");
    if (a == std::string_view::npos) return {};
    size_t b = line.find(' ', a + 1);
    return line.substr(a + 1, b == std::string_view::npos ? std::string_view::npos : b - a - 1);
  };
  const std::string_view open = " BIND dn=\"";
  const std::string_view close = "\" method=";
  LogCounts counts;
  for (size_t first = 0; first < lines.size();) {
    size_t last = first + 1;
    while (last < lines.size() && !lines[last].ends_with(" slapd starting")) ++last;
    std::set<std::string_view> fixture, accepted, seen;
    for (size_t i = first; i < last; ++i) {
      std::string_view conn = conn_of(lines[i]);
      if (conn.empty()) continue;
      seen.insert(conn);
      if (lines[i].find(" ACCEPT from PATH=") != std::string_view::npos) {
        fixture.insert(conn);
        accepted.insert(conn);
      } else if (lines[i].find(" ACCEPT from IP=") != std::string_view::npos) {
        accepted.insert(conn);
        ++counts.tcp_accepts;
      }
    }
    counts.unaccepted += static_cast<int>(seen.size() - accepted.size());
    for (size_t i = first; bind_dn_substring != nullptr && i < last; ++i) {
      // `conn=N op=M BIND dn="DN" method=128` per request; a successful bind gets a
      // second line `BIND dn="DN" mech=SIMPLE ...`, not counted.
      std::string_view line = lines[i];
      size_t a = line.find(open);
      if (a == std::string_view::npos) continue;
      size_t b = line.rfind(close);
      if (b == std::string_view::npos || b < a + open.size()) continue;
      if (fixture.count(conn_of(line)) != 0) continue;
      std::string_view dn = line.substr(a + open.size(), b - a - open.size());
      if (dn.find(*bind_dn_substring) != std::string_view::npos) ++counts.binds;
    }
    first = last;
  }
  return counts;
}

}  // namespace

CommandResult run_program(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                          const std::string& input, int timeout_ms) {
  CommandResult r;
  if (argv.empty()) return r;
  SpawnSpec spec;
  spec.path = find_program(argv[0]);
  if (spec.path.empty()) {
    r.exit_code = 127;
    r.err = argv[0] + ": not found";
    return r;
  }
  TempDir dir;
  spec.argv = argv;
  spec.env = make_env(env);
  spec.stdin_path = dir.file("stdin");
  spec.stdout_path = dir.file("stdout");
  spec.stderr_path = dir.file("stderr");
  write_text(spec.stdin_path, input, 0600);
  pid_t pid = spawn(spec);
  if (pid < 0) {
    r.err = std::string("fork: ") + strerror(errno);
    return r;
  }
  r.exit_code = wait_for(pid, timeout_ms);
  if (r.exit_code == -1) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  r.out = read_file(spec.stdout_path);
  r.err = read_file(spec.stderr_path);
  if (r.exit_code == -1) r.err += "\n(killed after " + std::to_string(timeout_ms) + " ms)";
  return r;
}

// ---------------------------------------------------------------------------------------
// SlapdServer

SlapdServer::~SlapdServer() { stop(); }

std::string SlapdServer::ldap_uri() const { return "ldap://127.0.0.1:" + std::to_string(ldap_port_); }
std::string SlapdServer::ldaps_uri() const { return "ldaps://127.0.0.1:" + std::to_string(ldaps_port_); }
std::string SlapdServer::dir() const { return dir_ ? dir_->path().string() : std::string(); }
std::string SlapdServer::ca_file() const { return dir_ ? dir_->file("ca.crt") : std::string(); }
std::string SlapdServer::wrong_ca_file() const { return dir_ ? dir_->file("wrong-ca.crt") : std::string(); }
std::string SlapdServer::bind_password_file() const { return dir_ ? dir_->file("gatehouse.pw") : std::string(); }
std::string SlapdServer::log_file() const { return dir_ ? dir_->file("slapd.log") : std::string(); }
std::string SlapdServer::log() const { return dir_ ? read_file(log_file()) : std::string(); }

bool SlapdServer::prepare(std::string* error) {
  dir_ = std::make_unique<TempDir>();
  const auto& d = *dir_;
  if (d.file("ldapi").size() >= sizeof(sockaddr_un::sun_path)) {
    *error = "the temporary directory's path is too long for slapd's ldapi socket: " + d.file("ldapi");
    return false;
  }
  std::error_code ec;
  std::filesystem::create_directory(d.path() / "db", ec);
  if (ec) {
    *error = "cannot create " + d.file("db") + ": " + ec.message();
    return false;
  }

  // TLS material: P-256 keys (fast), a CA, a server certificate it signs, an unrelated CA.
  if (find_program("openssl").empty()) {
    *error = missing_tool("openssl", "openssl");
    return false;
  }
  std::string san = "IP:127.0.0.1,DNS:localhost";
  if (std::string h = host_name(); !h.empty() && h != "localhost") san += ",DNS:" + h;
  const std::string cnf = d.file("openssl.cnf");
  write_text(cnf,
             "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"
             "[ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
             "subjectKeyIdentifier = hash\n"
             "[server]\nbasicConstraints = critical,CA:FALSE\n"
             "keyUsage = critical,digitalSignature,keyEncipherment\nextendedKeyUsage = serverAuth\n"
             "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\nsubjectAltName = " +
                 san + "\n",
             0644);
  const std::vector<std::string> ec_key = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"};
  auto req = [&](std::vector<std::string> head, std::vector<std::string> rest) {
    head.insert(head.end(), ec_key.begin(), ec_key.end());
    head.insert(head.end(), rest.begin(), rest.end());
    return head;
  };
  const std::vector<std::vector<std::string>> commands = {
      req({"openssl", "req", "-x509", "-config", cnf, "-extensions", "ca", "-days", "3650"},
          {"-subj", "/O=gatehouse tests/CN=gatehouse test LDAP CA", "-keyout", d.file("ca.key"), "-out",
           d.file("ca.crt")}),
      req({"openssl", "req", "-new", "-config", cnf},
          {"-subj", "/O=gatehouse tests/CN=localhost", "-keyout", d.file("server.key"), "-out",
           d.file("server.csr")}),
      {"openssl", "x509", "-req", "-in", d.file("server.csr"), "-CA", d.file("ca.crt"), "-CAkey", d.file("ca.key"),
       "-set_serial", "2", "-days", "3650", "-extfile", cnf, "-extensions", "server", "-out", d.file("server.crt")},
      req({"openssl", "req", "-x509", "-config", cnf, "-extensions", "ca", "-days", "3650"},
          {"-subj", "/O=somebody else/CN=unrelated test CA", "-keyout", d.file("wrong-ca.key"), "-out",
           d.file("wrong-ca.crt")}),
  };
  for (const auto& cmd : commands) {
    CommandResult r = run_program(cmd, {{"OPENSSL_CONF", cnf}});
    if (r.exit_code != 0) {
      *error = "making TLS material: " + describe(cmd, r);
      return false;
    }
  }

  const std::string svc_pw(ldap_fixture::kServicePassword);
  if (!write_text(bind_password_file(), svc_pw, 0600) || !write_text(d.file("root.pw"), root_password(), 0600)) {
    *error = "cannot write password files in " + d.path().string();
    return false;
  }

  // slapd.conf. Debian's slapd uses GnuTLS. memberOf is maintained by the memberof
  // overlay for entries added online (the LDIF is loaded with ldapadd after start).
  const std::string svc(ldap_fixture::kServiceDn);
  std::string conf;
  conf += "# Written by tests/integration/slapd_server.cc\n";
  conf += "include /etc/ldap/schema/core.schema\n";
  conf += "include /etc/ldap/schema/cosine.schema\n";
  conf += "include /etc/ldap/schema/inetorgperson.schema\n";
  conf += "modulepath /usr/lib/ldap\n";
  conf += "moduleload back_mdb\n";
  conf += "moduleload memberof\n";
  conf += "pidfile \"" + d.file("slapd.pid") + "\"\n";
  conf += "argsfile \"" + d.file("slapd.args") + "\"\n";
  conf += "TLSCACertificateFile \"" + d.file("ca.crt") + "\"\n";
  conf += "TLSCertificateFile \"" + d.file("server.crt") + "\"\n";
  conf += "TLSCertificateKeyFile \"" + d.file("server.key") + "\"\n";
  conf += "TLSVerifyClient never\n";
  conf += "\n";
  conf += "database mdb\n";
  conf += "suffix \"" + std::string(kSuffix) + "\"\n";
  conf += "rootdn \"" + root_dn() + "\"\n";
  conf += "rootpw \"" + root_password() + "\"\n";
  conf += "directory \"" + d.file("db") + "\"\n";
  conf += "maxsize 16777216\n";
  conf += "index objectClass,uid,member eq\n";
  conf += "overlay memberof\n";
  conf += "\n";
  // Anonymous may only bind; the service account and any bound user read everything
  // but passwords (direct-bind mode reads its own entry and the groups as the user).
  conf += "access to attrs=userPassword\n";
  conf += "  by anonymous auth\n";
  conf += "  by * none\n";
  conf += "access to *\n";
  conf += "  by dn.exact=\"" + svc + "\" read\n";
  conf += "  by users read\n";
  conf += "  by anonymous auth\n";
  conf += "  by * none\n";
  if (!write_text(d.file("slapd.conf"), conf, 0644)) {
    *error = "cannot write " + d.file("slapd.conf");
    return false;
  }
  return true;
}

bool SlapdServer::launch(std::string* error, bool* port_taken) {
  *port_taken = false;
  std::string binary = slapd_binary(error);
  if (binary.empty()) return false;
  const size_t log_start = log().size();
  SpawnSpec spec;
  spec.path = binary;
  spec.argv = {binary, "-f", dir_->file("slapd.conf"), "-h",
               "ldap://127.0.0.1:" + std::to_string(ldap_port_) + "/ ldaps://127.0.0.1:" +
                   std::to_string(ldaps_port_) + "/ " + ldapi_uri(),
               // stats to stderr (the log file); "-s 0": nothing to syslog (default: stats)
               "-d", "stats", "-s", "0"};
  spec.env = make_env({});
  spec.stdout_path = log_file();
  spec.append = true;
  spec.die_with_parent = true;
  pid_ = spawn(spec);
  if (pid_ < 0) {
    *error = std::string("fork: ") + strerror(errno);
    return false;
  }
  // "slapd starting" is logged once the listeners are bound and the database is open.
  const auto deadline = Clock::now() + std::chrono::seconds(15);
  for (;;) {
    std::string fresh = log().substr(log_start);
    if (fresh.find(" slapd starting\n") != std::string::npos) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      fresh = log().substr(log_start);
      *port_taken = fresh.find("errno=98") != std::string::npos ||
                    fresh.find("Address already in use") != std::string::npos;
      *error = "slapd (" + binary + ") exited with status " + std::to_string(status) +
               " during start-up; its log:\n" + tail(fresh);
      return false;
    }
    if (Clock::now() >= deadline) {
      stop();
      *error = "slapd did not log \"slapd starting\" within 15 s; its log:\n" + tail(log().substr(log_start));
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// Ready when an LDAP operation over the ldapi socket succeeds: the listener thread
// listen()s on every socket before it serves any, so ldap:// and ldaps:// accept too.
bool SlapdServer::wait_ready(std::string* error) {
  const auto deadline = Clock::now() + std::chrono::seconds(15);
  const std::vector<std::string> probe = {"ldapwhoami", "-x", "-H", ldapi_uri()};
  for (;;) {
    CommandResult r = run_program(probe, {}, "", 5000);
    if (r.exit_code == 0) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      *error = "slapd exited with status " + std::to_string(status) + " after start-up; its log:\n" + tail(log());
      return false;
    }
    if (Clock::now() >= deadline) {
      *error = "slapd does not answer on " + ldapi_uri() + " (" + describe(probe, r) + "); its log:\n" + tail(log());
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

bool SlapdServer::start(std::string* error) {
  std::string ignored;
  if (error == nullptr) error = &ignored;
  if (pid_ > 0) {
    *error = "slapd is already running";
    return false;
  }
  for (const char* tool : {"ldapadd", "ldapmodify", "ldapwhoami"}) {
    if (find_program(tool).empty()) {
      *error = missing_tool(tool, "ldap-utils");
      return false;
    }
  }
  if (slapd_binary(error).empty()) return false;
  const auto t0 = Clock::now();
  auto mark = [&](const char* phase) {
    timings_ += std::string(timings_.empty() ? "" : ", ") + phase + " " +
                std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()) +
                " ms";
  };
  timings_.clear();
  if (!prepare(error)) return false;
  mark("tls+config");

  bool started = false;
  for (int attempt = 0; attempt < 10 && !started; ++attempt) {
    ldap_port_ = unused_port();
    do ldaps_port_ = unused_port();
    while (ldaps_port_ == ldap_port_);
    bool port_taken = false;
    started = launch(error, &port_taken);
    if (!started && !port_taken) return false;
  }
  if (started) mark("slapd starting");
  if (!started || !wait_ready(error)) {
    stop();
    return false;
  }
  mark("answering");

  const std::string ldif = std::string(GATEHOUSE_FIXTURES_DIR) + "/ldap/directory.ldif";
  const std::vector<std::string> add = {"ldapadd", "-x", "-H", ldapi_uri(), "-D", root_dn(),
                                        "-y", dir_->file("root.pw"), "-f", ldif};
  CommandResult r = run_program(add);
  if (r.exit_code != 0) {
    *error = "loading " + ldif + ": " + describe(add, r) + "\nslapd's log:\n" + tail(log());
    stop();
    return false;
  }
  mark("loaded");
  return true;
}

bool SlapdServer::restart(std::string* error) {
  std::string ignored;
  if (error == nullptr) error = &ignored;
  if (!dir_) {
    *error = "restart() before start()";
    return false;
  }
  stop();
  // The same ports: wait a little if another process took one meanwhile.
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  for (;;) {
    bool port_taken = false;
    if (launch(error, &port_taken)) break;
    if (!port_taken || Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!wait_ready(error)) {
    stop();
    return false;
  }
  return true;
}

void SlapdServer::stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  kill(pid_, SIGCONT);  // in case it was suspended
  if (wait_for(pid_, 5000) == -1) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  pid_ = -1;
}

void SlapdServer::suspend() {
  if (pid_ <= 0) return;
  kill(pid_, SIGSTOP);
  // SIGSTOP is asynchronous: until every thread has stopped, one already running could
  // still answer. WUNTRACED reports the stop once the whole process has stopped.
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid_, &status, WUNTRACED | WNOHANG);
    if (r == pid_ && WIFSTOPPED(status)) return;
    if (r == pid_) {  // it exited
      pid_ = -1;
      return;
    }
    if ((r < 0 && errno != EINTR) || Clock::now() >= deadline) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void SlapdServer::resume() {
  if (pid_ > 0) kill(pid_, SIGCONT);
}

bool SlapdServer::modify(const std::string& ldif, std::string* error) {
  std::string ignored;
  if (error == nullptr) error = &ignored;
  if (pid_ <= 0) {
    *error = "slapd is not running";
    return false;
  }
  const std::vector<std::string> cmd = {"ldapmodify", "-x", "-H", ldapi_uri(), "-D", root_dn(),
                                        "-y", dir_->file("root.pw")};
  CommandResult r = run_program(cmd, {}, ldif);
  if (r.exit_code != 0) {
    *error = describe(cmd, r);
    return false;
  }
  return true;
}

// Reads the log until every connection in it has its ACCEPT line (at most 2 s).
static LogCounts settled_counts(const SlapdServer& s, const std::string* dn_substring) {
  const auto deadline = Clock::now() + std::chrono::seconds(2);
  for (;;) {
    LogCounts c = count_log(s.log(), dn_substring);
    if (c.unaccepted == 0 || Clock::now() >= deadline) return c;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

int SlapdServer::bind_count(const std::string& dn_substring) const {
  return settled_counts(*this, &dn_substring).binds;
}

int SlapdServer::accept_count() const { return settled_counts(*this, nullptr).tcp_accepts; }

std::string SlapdServer::ldapi_uri() const { return dir_ ? ldapi_uri_for(dir_->file("ldapi")) : std::string(); }

// ---------------------------------------------------------------------------------------
// SilentServer

SilentServer::SilentServer() {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      listen(listen_fd_, 64) != 0 || getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0 ||
      pipe2(wake_, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("SilentServer: ") + strerror(errno));
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] {
    char sink[4096];
    for (;;) {
      std::vector<pollfd> fds = {{wake_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
      for (int fd : accepted_) fds.push_back({fd, POLLIN, 0});
      if (poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[0].revents != 0) return;
      if (fds[1].revents & POLLIN) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) {
          accepted_.push_back(fd);
          ++connections_;
        }
      }
      // Read and discard what clients send (so closing sends FIN, not RST); answer nothing.
      for (size_t i = 2; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        ssize_t n = recv(fds[i].fd, sink, sizeof sink, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {  // the client went away
          close(fds[i].fd);
          std::erase(accepted_, fds[i].fd);
        }
      }
    }
  });
}

SilentServer::~SilentServer() {
  char byte = 'x';
  if (write(wake_[1], &byte, 1) != 1) {
  }
  if (thread_.joinable()) thread_.join();
  char sink[4096];
  for (int fd : accepted_) {
    while (recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0) {
    }
    close(fd);
  }
  close(listen_fd_);
  close(wake_[0]);
  close(wake_[1]);
}

}  // namespace gatehouse::testing
