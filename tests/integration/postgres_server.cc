#include "integration/postgres_server.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>
#include <vector>

#include "integration/slapd_server.h"  // run_program

extern char** environ;

namespace gatehouse::testing {

namespace {
// The unity build merges this file with others (slapd_server.cc among them): its
// file-local names live in a namespace of their own.
namespace postgres_detail {

using Clock = std::chrono::steady_clock;

constexpr const char* kDefaultBindir = "/usr/lib/postgresql/15/bin";
constexpr const char* kReady = "database system is ready to accept connections";


// $GATEHOUSE_PG_BINDIR or Debian's directory (not in PATH: Debian links only the client
// programs into /usr/bin, through its version-picking wrapper).
std::string find_bindir(std::string* error) {
  const char* configured = getenv("GATEHOUSE_PG_BINDIR");
  const bool from_env = configured != nullptr && *configured != '\0';
  const std::string dir = from_env ? configured : kDefaultBindir;
  for (const char* program : {"initdb", "postgres"}) {
    const std::string path = dir + "/" + program;
    if (is_executable(path)) continue;
    *error = from_env ? "GATEHOUSE_PG_BINDIR=" + dir + ": " + path + " is not an executable file"
                      : "PostgreSQL 15 not found: " + path +
                            " is not an executable file; the PostgreSQL tests need it: apt-get install postgresql "
                            "(or set GATEHOUSE_PG_BINDIR)";
    return {};
  }
  return dir;
}

struct Child {
  std::string path;
  std::vector<std::string> argv;
  std::string output;  // stdout and stderr
  bool append = false;
  std::string cwd;
  bool drop_privileges = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

// fork + execve, closing every inherited descriptor (so the server never holds on to
// another test server's sockets), as `uid`/`gid` without supplementary groups when asked.
// The parent-death signal is set after the switch of user, which would clear it, and
// stays across execve (postgres is not set-user-ID). Raw system calls between fork and
// exec: glibc's set*id wrappers synchronise the threads of a process, and only the
// forking thread exists in the child.
pid_t spawn_child(const Child& spec) {
  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const int out_flags = O_WRONLY | O_CREAT | (spec.append ? O_APPEND : O_TRUNC);
  const pid_t parent = getpid();

  pid_t pid = fork();
  if (pid != 0) return pid;  // parent (or -1)

  int in = open("/dev/null", O_RDONLY);
  int out = open(spec.output.c_str(), out_flags, 0600);
  if (in < 0 || out < 0) _exit(126);
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) _exit(126);
  if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
    for (int fd = 3; fd < 65536; ++fd) close(fd);
  if (spec.drop_privileges) {
    if (syscall(SYS_setgroups, 0, nullptr) != 0 || syscall(SYS_setresgid, spec.gid, spec.gid, spec.gid) != 0 ||
        syscall(SYS_setresuid, spec.uid, spec.uid, spec.uid) != 0)
      _exit(125);
  }
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(126);
  if (!spec.cwd.empty() && chdir(spec.cwd.c_str()) != 0) _exit(126);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execve(spec.path.c_str(), argv.data(), environ);
  _exit(127);
}

// Waits up to timeout_ms for pid; returns the exit code, 128+signal, or -1 on timeout.
int wait_child(pid_t pid, int timeout_ms) {
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

std::string command_line(const std::vector<std::string>& argv) {
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  return "`" + cmd + "`";
}

// A postmaster that died without cleaning up (SIGKILL, e.g. when the thread that
// started it ended) leaves its small System V segment behind; postmaster.pid names it
// (line 7: key and id). Its backends notice the death at once and detach; removing the
// segment only then keeps start_again()'s check for orphaned backends meaningful.
void release_orphaned_segment(const std::string& pid_file) {
  std::istringstream lines(read_file(pid_file));
  std::string line;
  for (int i = 0; i < 7 && std::getline(lines, line); ++i) {
  }
  unsigned long key = 0, id = 0;
  if (!(std::istringstream(line) >> key >> id) || key == 0) return;
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  for (;;) {
    shmid_ds ds{};
    if (shmctl(static_cast<int>(id), IPC_STAT, &ds) != 0 || static_cast<unsigned long>(ds.shm_perm.__key) != key)
      return;  // gone, or the id is someone else's now
    if (ds.shm_nattch == 0 || Clock::now() >= deadline) {
      shmctl(static_cast<int>(id), IPC_RMID, nullptr);  // with backends left: removed when they detach
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace postgres_detail
}  // namespace

PostgresServer::~PostgresServer() { stop(); }

std::string PostgresServer::uri() const {
  return "postgresql://" + user() + "@" + host() + ":" + std::to_string(port_) + "/" + database();
}
std::string PostgresServer::dir() const { return dir_ ? dir_->path().string() : std::string(); }
std::string PostgresServer::data_dir() const { return dir_ ? dir_->file("data") : std::string(); }
std::string PostgresServer::socket_dir() const { return dir_ ? dir_->file("socket") : std::string(); }
std::string PostgresServer::log() const { return dir_ ? read_file(dir_->file("postgres.log")) : std::string(); }

CommandResult PostgresServer::psql(const std::string& sql, const std::string& database, int timeout_ms) const {
  if (!dir_) return {-1, "", "PostgresServer::psql() before start()"};
  // Debian's /usr/bin/psql is a wrapper that picks a version; the server's own first.
  std::string program = bindir_ + "/psql";
  if (!is_executable(program)) program = "psql";
  const std::string conninfo = "postgresql://" + user() + "@" + host() + ":" + std::to_string(port_) + "/" +
                               database + "?connect_timeout=5";
  return run_program({program, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", conninfo}, {}, sql,
                     timeout_ms);
}

bool PostgresServer::start(std::string* error) {
  namespace detail = postgres_detail;
  std::string ignored;
  if (error == nullptr) error = &ignored;
  stop();
  timings_.clear();
  bindir_ = detail::find_bindir(error);
  if (bindir_.empty()) return false;

  drop_privileges_ = geteuid() == 0;
  if (drop_privileges_) {
    // nobody's primary group is nogroup on Debian.
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buf(16384);
    if (getpwnam_r("nobody", &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
      *error = "running as root, and there is no user `nobody` to run PostgreSQL as (it refuses to run as root)";
      return false;
    }
    run_uid_ = pw.pw_uid;
    run_gid_ = pw.pw_gid;
  } else {
    run_uid_ = geteuid();
    run_gid_ = getegid();
  }

  const auto t0 = detail::Clock::now();
  auto mark = [&](const char* phase) {
    timings_ += std::string(timings_.empty() ? "" : ", ") + phase + " " +
                std::to_string(
                    std::chrono::duration_cast<std::chrono::milliseconds>(detail::Clock::now() - t0).count()) +
                " ms";
  };
  auto fail = [&](std::string message) {
    *error = std::move(message);
    stop();
    return false;
  };

  dir_ = std::make_unique<TempDir>();
  if ((socket_dir() + "/.s.PGSQL.65535").size() >= sizeof(sockaddr_un::sun_path))
    return fail("the temporary directory's path is too long for a Unix socket: " + socket_dir());
  if (mkdir(socket_dir().c_str(), 0700) != 0) return fail("cannot create " + socket_dir() + ": " + strerror(errno));
  // The server's user must own the data directory's parent to create it, and the socket
  // directory; both stay 0700 (root gets in regardless).
  if (drop_privileges_ && (chown(dir().c_str(), run_uid_, run_gid_) != 0 ||
                           chown(socket_dir().c_str(), run_uid_, run_gid_) != 0))
    return fail("cannot hand " + dir() + " to user nobody: " + strerror(errno));

  detail::Child initdb;
  initdb.path = bindir_ + "/initdb";
  initdb.argv = {initdb.path, "-D", data_dir(), "-U", user(), "-E", "UTF8", "--locale=C", "-A", "trust",
                 "--no-sync", "--no-instructions"};
  initdb.output = dir_->file("initdb.log");
  initdb.cwd = dir();
  initdb.drop_privileges = drop_privileges_;
  initdb.uid = run_uid_;
  initdb.gid = run_gid_;
  pid_t initdb_pid = detail::spawn_child(initdb);
  if (initdb_pid < 0) return fail(std::string("fork: ") + strerror(errno));
  const int status = detail::wait_child(initdb_pid, 30000);
  if (status == -1) {
    kill(initdb_pid, SIGKILL);
    waitpid(initdb_pid, nullptr, 0);
  }
  if (status != 0)
    return fail(detail::command_line(initdb.argv) + (status == -1 ? " took over 30 s" : " exited with " +
                                                                                             std::to_string(status)) +
                ": " + tail(read_file(initdb.output), 2000));
  // initdb's pg_hba.conf also trusts ::1 and replication; only what the tests use.
  const std::string hba = data_dir() + "/pg_hba.conf";
  if (!write_text(hba,
                          "# Written by tests/integration/postgres_server.cc: a throwaway test server.\n"
                          "local all all trust\n"
                          "host all all 127.0.0.1/32 trust\n",
                          0600) ||
      (drop_privileges_ && chown(hba.c_str(), run_uid_, run_gid_) != 0))
    return fail("cannot write " + hba);
  mark("initdb");

  bool started = false;
  for (int attempt = 0; attempt < 10 && !started; ++attempt) {
    port_ = unused_port();
    bool port_taken = false;
    started = launch(error, &port_taken);
    if (!started && !port_taken) return fail(*error);
  }
  if (!started) return fail(*error);
  mark("ready");

  CommandResult r = psql("CREATE DATABASE " + database() + " OWNER " + user(), "postgres");
  if (r.exit_code != 0)
    return fail("creating the database: psql exited with " + std::to_string(r.exit_code) + ": " +
                tail(r.err + r.out, 2000) + "\nthe server's log:\n" + tail(log()));
  mark("database");
  return true;
}

bool PostgresServer::launch(std::string* error, bool* port_taken) {
  namespace detail = postgres_detail;
  *port_taken = false;
  const size_t log_start = log().size();
  detail::Child server;
  server.path = bindir_ + "/postgres";
  // Durability off and small: a test server. Dynamic shared memory in files under the
  // data directory rather than /dev/shm, so a killed server leaves nothing there.
  server.argv = {server.path, "-D", data_dir(), "-p", std::to_string(port_), "-k", socket_dir(),
                 "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "shared_buffers=32MB",
                 "-c", "dynamic_shared_memory_type=mmap"};
  server.output = dir_->file("postgres.log");
  server.append = true;
  server.cwd = dir();
  server.drop_privileges = drop_privileges_;
  server.uid = run_uid_;
  server.gid = run_gid_;
  pid_ = detail::spawn_child(server);
  if (pid_ < 0) {
    *error = std::string("fork: ") + strerror(errno);
    return false;
  }
  // The postmaster logs this once recovery is over and connections are let in (its
  // sockets listen from before), in English: initdb --locale=C set lc_messages.
  const auto deadline = detail::Clock::now() + std::chrono::seconds(30);
  for (;;) {
    std::string fresh = log().substr(log_start);
    if (fresh.find(detail::kReady) != std::string::npos) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      fresh = log().substr(log_start);
      *port_taken = fresh.find("Address already in use") != std::string::npos;
      *error = "postgres (" + server.path + ") exited with status " + std::to_string(status) +
               " during start-up; its log:\n" + tail(fresh);
      return false;
    }
    if (detail::Clock::now() >= deadline) {
      kill(pid_, SIGQUIT);
      reap(5000);
      *error = "postgres did not log \"" + std::string(detail::kReady) + "\" within 30 s; its log:\n" +
               tail(log().substr(log_start));
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

bool PostgresServer::start_again(std::string* error) {
  std::string ignored;
  if (error == nullptr) error = &ignored;
  if (!dir_) {
    *error = "start_again() before start()";
    return false;
  }
  if (pid_ > 0) {
    *error = "postgres is already running";
    return false;
  }
  const auto deadline = postgres_detail::Clock::now() + std::chrono::seconds(5);
  for (;;) {
    bool port_taken = false;
    if (launch(error, &port_taken)) return true;
    if (!port_taken || postgres_detail::Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// Waits for the postmaster (it exits after its children), SIGKILL after timeout_ms.
void PostgresServer::reap(int timeout_ms) {
  if (pid_ <= 0) return;
  if (postgres_detail::wait_child(pid_, timeout_ms) == -1) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  pid_ = -1;
  // A postmaster that exits cleanly removes its postmaster.pid.
  const std::string pid_file = data_dir() + "/postmaster.pid";
  if (access(pid_file.c_str(), F_OK) == 0) postgres_detail::release_orphaned_segment(pid_file);
}

void PostgresServer::stop_server() {
  if (pid_ <= 0) return;
  kill(pid_, SIGINT);  // fast shutdown
  reap(10000);
}

void PostgresServer::stop() {
  if (pid_ > 0) {
    kill(pid_, SIGQUIT);  // immediate shutdown: the data is thrown away next
    reap(5000);
  }
  dir_.reset();
}

}  // namespace gatehouse::testing
