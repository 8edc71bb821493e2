#pragma once
// A private PostgreSQL 15 for the store tests: initdb into a temporary directory and a
// postmaster on a free loopback port and a private Unix socket, removed afterwards.
// Needs Debian's `postgresql` (binaries in /usr/lib/postgresql/15/bin, or
// $GATEHOUSE_PG_BINDIR); a missing server is a failure of start(), never a skip.
//
// The tests run as root and PostgreSQL refuses to: as root the server runs as `nobody`
// (group `nogroup`), which owns the temporary directory (mode 0700); otherwise as the
// current user. Authentication is `trust`, for the private socket and 127.0.0.1 only
// (the server listens nowhere else): a throwaway server needs no password, so the URI
// carries none. The role `gatehouse` is the bootstrap superuser (initdb -U) and owns the
// database `gatehouse`.
#include <sys/types.h>

#include <memory>
#include <string>

#include "integration/harness.h"

namespace gatehouse::testing {

class PostgresServer {
 public:
  PostgresServer() = default;
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // Temp dir, initdb, postgres on a free port (a new one when it was taken meanwhile),
  // wait until it is ready, create the database. Durability is off (fsync,
  // synchronous_commit, full_page_writes): a crash of the machine loses the data, a
  // crash of the server does not. Call from a thread that outlives the server: the
  // postmaster gets SIGKILL when the thread that started it ends (so a crashed test never
  // leaves it running; its backends follow). Ready in about 0.8 s on an idle 2-core
  // machine (startup_timings()). Calling start() again begins afresh: new directory,
  // port and data.
  bool start(std::string* error);
  // Immediate shutdown (SIGQUIT; SIGKILL after 5 s), then removes the directory, data
  // included. Also run by the destructor.
  void stop();

  // For outage tests. stop_server(): fast shutdown (what `pg_ctl stop -m fast` sends:
  // sessions are ended, then a checkpoint), keeping the directory and remembering the
  // port for start_again(); connections are then refused. start_again(): the same data on the
  // same port, waiting up to 5 s for a port that another process took meanwhile.
  void stop_server();
  bool start_again(std::string* error);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }  // the postmaster

  int port() const { return port_; }
  std::string host() const { return "127.0.0.1"; }
  std::string user() const { return "gatehouse"; }
  std::string database() const { return "gatehouse"; }
  // postgresql://gatehouse@127.0.0.1:PORT/gatehouse
  std::string uri() const;
  // The Unix socket's directory (the socket is SOCKET_DIR/.s.PGSQL.PORT); libpq takes it
  // as host=.
  std::string socket_dir() const;
  std::string data_dir() const;
  std::string dir() const;  // the temporary directory (data/, socket/, the logs)

  // Runs `sql` (any number of statements, fed on stdin) with psql as `user()` on
  // `database` over TCP, stopping at the first error (exit code 3; 2 when it cannot
  // connect; connect_timeout 5 s). Output is unaligned and tuples only: one row a line,
  // columns separated by '|'.
  CommandResult psql(const std::string& sql, const std::string& database = "gatehouse",
                     int timeout_ms = 20000) const;

  // The server's log (stderr), since the first start; restarts append to it.
  std::string log() const;
  // Time since start() began at each phase of the last start(), e.g. "initdb 650 ms,
  // ready 720 ms, database 790 ms".
  const std::string& startup_timings() const { return timings_; }

 private:
  bool launch(std::string* error, bool* port_taken);
  void reap(int timeout_ms);

  std::unique_ptr<TempDir> dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  uid_t run_uid_ = 0;
  gid_t run_gid_ = 0;
  bool drop_privileges_ = false;
  std::string bindir_;
  std::string timings_;
};

}  // namespace gatehouse::testing
