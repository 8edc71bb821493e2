#pragma once

namespace gatehouse::daemon {

// The `gatehouse` command line; returns the exit code (0 ok, 1 failure, 2 usage/config).
int run_cli(int argc, char** argv);

}  // namespace gatehouse::daemon
