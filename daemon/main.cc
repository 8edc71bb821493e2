#include <csignal>

#include "daemon/cli.h"

int main(int argc, char** argv) {
  // A client that hangs up mid-response must not kill the daemon.
  std::signal(SIGPIPE, SIG_IGN);
  return gatehouse::daemon::run_cli(argc, argv);
}
