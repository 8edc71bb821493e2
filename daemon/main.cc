#include <csignal>

#include "common/secret.h"
#include "daemon/cli.h"

int main(int argc, char** argv) {
  // A client that hangs up mid-response must not kill the daemon.
  std::signal(SIGPIPE, SIG_IGN);
  // Keys and tenant secrets are in this process's memory: no core file, no ptrace by
  // the same user, /proc/PID/mem closed to it (admin commands included: `secret set`).
  gatehouse::forbid_core_dumps();
  return gatehouse::daemon::run_cli(argc, argv);
}
