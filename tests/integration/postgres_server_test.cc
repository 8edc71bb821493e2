// Self-tests of the PostgreSQL fixture, driven with psql (independent of the store code
// under test). Each test starts its own server.
#include "integration/postgres_server.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <thread>

#include "integration/harness.h"

namespace gatehouse::testing {
namespace {

bool pg_port_refuses(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool r = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno == ECONNREFUSED;
  close(fd);
  return r;
}

// The effective uid of a process, from /proc/PID/status ("Uid: real effective ..."), or -1.
long pg_process_uid(pid_t pid) {
  std::istringstream status(read_file("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("Uid:", 0) != 0) continue;
    long real = -1, effective = -1;
    std::istringstream(line.substr(4)) >> real >> effective;
    return effective;
  }
  return -1;
}

// Processes whose working directory is `dir`, removed or not (postgres and all its
// children chdir to the data directory).
int pg_processes_in(const std::string& dir) {
  int n = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    std::error_code link_ec;
    const std::string cwd = std::filesystem::read_symlink(entry.path() / "cwd", link_ec).string();
    if (!link_ec && (cwd == dir || cwd == dir + " (deleted)")) ++n;
  }
  return n;
}

std::string pg_expected_owner() { return geteuid() == 0 ? "65534" : std::to_string(geteuid()); }

TEST(PostgresServer, StartsAndRunsSql) {
  const auto t0 = std::chrono::steady_clock::now();
  PostgresServer pg;
  std::string error;
  ASSERT_TRUE(pg.start(&error)) << error;
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "[          ] postgres fixture started in " << ms << " ms (" << pg.startup_timings() << ")\n";
  RecordProperty("startup_ms", static_cast<int>(ms));
  EXPECT_LT(ms, 30000);  // ~0.8 s on an idle 2-core machine; generous for loaded CI

  EXPECT_EQ(pg.uri(), "postgresql://gatehouse@127.0.0.1:" + std::to_string(pg.port()) + "/gatehouse");
  EXPECT_TRUE(pg.running());

  CommandResult r = pg.psql("select version()");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("PostgreSQL 15", 0), 0u) << r.out;
  r = pg.psql("select current_user, current_database(), pg_encoding_to_char(encoding), datcollate, "
              "(select rolsuper from pg_roles where rolname = current_user) "
              "from pg_database where datname = current_database()");
  EXPECT_EQ(r.out, "gatehouse|gatehouse|UTF8|C|t\n") << r.err;
  r = pg.psql("show fsync; show listen_addresses; show max_connections");
  EXPECT_EQ(r.out, "off\n127.0.0.1\n200\n") << r.err;

  r = pg.psql(
      "create table t (id integer primary key, name text not null);\n"
      "insert into t values (1, 'one'), (2, 'tw|o'), (3, 'gr\xC3\xBC\xC3\x9F" "e');\n"
      "select id, name from t order by id;");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1|one\n2|tw|o\n3|gr\xC3\xBC\xC3\x9F" "e\n");

  // psql stops at the first error.
  r = pg.psql("insert into t values (4, 'four'); select no_such_column from t; insert into t values (5, 'five');");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("ERROR:  column \"no_such_column\" does not exist"), std::string::npos) << r.err;
  EXPECT_EQ(pg.psql("select string_agg(id::text, ',' order by id) from t").out, "1,2,3,4\n");

  // The server and its private files belong to nobody when the tests run as root.
  EXPECT_EQ(std::to_string(pg_process_uid(pg.pid())), pg_expected_owner());
  for (const std::string& path : {pg.dir(), pg.socket_dir(), pg.data_dir()}) {
    struct stat st {};
    ASSERT_EQ(stat(path.c_str(), &st), 0) << path;
    EXPECT_EQ(st.st_mode & 0777, 0700u) << path;
    EXPECT_EQ(std::to_string(st.st_uid), pg_expected_owner()) << path;
  }
  struct stat sock {};
  EXPECT_EQ(stat((pg.socket_dir() + "/.s.PGSQL." + std::to_string(pg.port())).c_str(), &sock), 0);
  EXPECT_TRUE(S_ISSOCK(sock.st_mode));
  EXPECT_NE(pg.log().find("database system is ready to accept connections"), std::string::npos);
}

TEST(PostgresServer, TwoServersAtOnceAreSeparate) {
  PostgresServer a, b;
  std::string error;
  ASSERT_TRUE(a.start(&error)) << error;
  ASSERT_TRUE(b.start(&error)) << error;
  EXPECT_NE(a.port(), b.port());
  EXPECT_NE(a.dir(), b.dir());
  EXPECT_NE(a.socket_dir(), b.socket_dir());

  ASSERT_EQ(a.psql("create table only_in_a (x int); insert into only_in_a values (42)").exit_code, 0);
  EXPECT_EQ(a.psql("select x from only_in_a").out, "42\n");
  CommandResult r = b.psql("select x from only_in_a");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("relation \"only_in_a\" does not exist"), std::string::npos) << r.err;
}

TEST(PostgresServer, StopServerAndStartAgainKeepPortAndData) {
  PostgresServer pg;
  std::string error;
  ASSERT_TRUE(pg.start(&error)) << error;
  ASSERT_EQ(pg.psql("create table kept (v text); insert into kept values ('before the outage')").exit_code, 0);
  const int port = pg.port();
  const std::string uri = pg.uri();
  const pid_t first = pg.pid();

  const auto t0 = std::chrono::steady_clock::now();
  pg.stop_server();
  const auto stop_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_FALSE(pg.running());
  EXPECT_EQ(kill(first, 0), -1);
  EXPECT_TRUE(pg_port_refuses(port));
  CommandResult r = pg.psql("select 1");
  EXPECT_EQ(r.exit_code, 2);  // cannot connect
  EXPECT_NE(r.err.find("Connection refused"), std::string::npos) << r.err;
  EXPECT_TRUE(std::filesystem::exists(pg.data_dir()));

  const auto t1 = std::chrono::steady_clock::now();
  ASSERT_TRUE(pg.start_again(&error)) << error;
  std::cout << "[          ] postgres stopped in " << stop_ms << " ms, started again in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t1).count()
            << " ms\n";
  EXPECT_TRUE(pg.running());
  EXPECT_NE(pg.pid(), first);
  EXPECT_EQ(pg.port(), port);
  EXPECT_EQ(pg.uri(), uri);
  r = pg.psql("select v from kept");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "before the outage\n");

  EXPECT_FALSE(pg.start_again(&error));  // already running
  pg.stop_server();
  pg.stop_server();  // twice is harmless
  ASSERT_TRUE(pg.start_again(&error)) << error;
  EXPECT_EQ(pg.psql("select count(*) from kept").out, "1\n");
}

TEST(PostgresServer, StartAgainWaitsForATakenPort) {
  PostgresServer pg;
  std::string error;
  ASSERT_TRUE(pg.start(&error)) << error;
  pg.stop_server();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(pg.port()));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << strerror(errno);
  ASSERT_EQ(listen(fd, 1), 0);
  std::thread release([fd] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    close(fd);
  });
  const auto t0 = std::chrono::steady_clock::now();
  const bool again = pg.start_again(&error);
  release.join();
  EXPECT_TRUE(again) << error;
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(300));
  EXPECT_NE(pg.log().find("Address already in use"), std::string::npos);
  EXPECT_EQ(pg.psql("select 1").out, "1\n");
}

TEST(PostgresServer, StopAndTheDestructorLeaveNothing) {
  pid_t pid = -1;
  int port = 0;
  std::string dir;
  {
    PostgresServer pg;
    std::string error;
    ASSERT_TRUE(pg.start(&error)) << error;
    pid = pg.pid();
    port = pg.port();
    dir = pg.dir();
    ASSERT_GT(pid, 0);
    EXPECT_EQ(kill(pid, 0), 0);
    // Also with a session open: immediate shutdown does not wait for it.
    ASSERT_EQ(pg.psql("begin; create table t (x int); insert into t values (1)").exit_code, 0);
  }
  EXPECT_EQ(kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
  EXPECT_TRUE(pg_port_refuses(port));
  EXPECT_FALSE(std::filesystem::exists(dir)) << dir;
  EXPECT_EQ(pg_processes_in(dir + "/data"), 0);

  PostgresServer again;
  std::string error;
  ASSERT_TRUE(again.start(&error)) << error;
  const std::string first_dir = again.dir();
  again.stop();
  EXPECT_FALSE(again.running());
  EXPECT_FALSE(std::filesystem::exists(first_dir));
  EXPECT_EQ(again.psql("select 1").exit_code, -1);
  ASSERT_TRUE(again.start(&error)) << error;  // afresh
  EXPECT_NE(again.dir(), first_dir);
  EXPECT_EQ(again.psql("select 1").out, "1\n");
}

TEST(PostgresServer, ServerDiesWithTheThreadThatStartedIt) {
  PostgresServer pg;
  std::string error;
  bool started = false;
  std::thread([&] { started = pg.start(&error); }).join();
  ASSERT_TRUE(started) << error;
  const pid_t pid = pg.pid();
  const std::string data = pg.data_dir();

  // The postmaster got SIGKILL (it is still our unreaped child: look without reaping).
  siginfo_t info{};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(info.si_pid, pid);
  EXPECT_EQ(info.si_code, CLD_KILLED);
  EXPECT_EQ(info.si_status, SIGKILL);
  EXPECT_TRUE(pg_port_refuses(pg.port()));

  // It had no time to clean up: postmaster.pid names its System V segment, which
  // stop() removes.
  std::istringstream lines(read_file(data + "/postmaster.pid"));
  std::string line;
  for (int i = 0; i < 7 && std::getline(lines, line); ++i) {
  }
  unsigned long key = 0, id = 0;
  ASSERT_TRUE(std::istringstream(line) >> key >> id) << line;
  shmid_ds ds{};
  ASSERT_EQ(shmctl(static_cast<int>(id), IPC_STAT, &ds), 0);
  EXPECT_EQ(ds.shm_perm.__key, static_cast<key_t>(key));
  pg.stop();
  EXPECT_TRUE(shmctl(static_cast<int>(id), IPC_STAT, &ds) != 0 || ds.shm_perm.__key != static_cast<key_t>(key));

  // Its children noticed and left.
  const auto gone_by = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (pg_processes_in(data) != 0 && std::chrono::steady_clock::now() < gone_by)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(pg_processes_in(data), 0);
}

TEST(PostgresServer, MissingBinariesAreAClearFailure) {
  const char* old = getenv("GATEHOUSE_PG_BINDIR");
  const std::string saved = old ? old : "";
  setenv("GATEHOUSE_PG_BINDIR", "/nonexistent/bin", 1);
  PostgresServer pg;
  std::string error;
  EXPECT_FALSE(pg.start(&error));
  EXPECT_EQ(error, "GATEHOUSE_PG_BINDIR=/nonexistent/bin: /nonexistent/bin/initdb is not an executable file");
  EXPECT_FALSE(pg.running());
  EXPECT_EQ(pg.dir(), "");
  if (old) setenv("GATEHOUSE_PG_BINDIR", saved.c_str(), 1);
  else unsetenv("GATEHOUSE_PG_BINDIR");
}

}  // namespace
}  // namespace gatehouse::testing
