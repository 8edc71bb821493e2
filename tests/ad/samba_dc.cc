#include "ad/samba_dc.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

extern char** environ;

namespace gatehouse::testing {
namespace {

const std::string kScripts = std::string(GATEHOUSE_FIXTURES_DIR) + "/samba/";

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `bash SCRIPT ARGS...` in its own process group with `stdin_fd` (or /dev/null)
// as stdin and stdout+stderr to `out_path`; returns its exit code, or -1 if it could
// not run or was killed after `timeout`.
int run_script(const std::string& script, const std::vector<std::string>& args, int stdin_fd,
               const std::string& out_path, std::chrono::seconds timeout,
               const std::vector<std::string>& extra_env = {}) {
  std::vector<std::string> full = {"/bin/bash", kScripts + script};
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : full) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings(extra_env);
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (stdin_fd >= 0)
    posix_spawn_file_actions_adddup2(&fa, stdin_fd, 0);
  else
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  // Own process group, so that a script that hangs can be killed with its children.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;

  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

SambaDc::~SambaDc() { stop(); }

bool SambaDc::start(std::string* error) {
  if (running()) return true;
  // Only one DC fits on 127.0.0.1:389/636; ctest may run several such tests at once.
  auto lock_path = std::filesystem::temp_directory_path() / "gatehouse-samba-dc.lock";
  lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (lock_fd_ < 0) {
    *error = "cannot open " + lock_path.string();
    return false;
  }
  auto lock_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(200);
  while (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (std::chrono::steady_clock::now() > lock_deadline) {
      *error = "another Samba DC test held " + lock_path.string() + " for 200 s";
      close(lock_fd_);
      lock_fd_ = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  // Samba's stdin is this pipe: it exits when the write end closes, which the kernel
  // also does if this process dies without stop() (a crash, an ASan abort).
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    *error = "pipe2 failed";
    stop();
    return false;
  }
  lifeline_ = fds[1];
  std::error_code ec;
  std::filesystem::remove_all(dir(), ec);  // start-dc.sh wants a fresh directory
  std::string out = (root_.path() / "start-dc.out").string();
  int rc = run_script("start-dc.sh", {dir().string()}, fds[0], out, std::chrono::seconds(180),
                      {"SAMBA_DC_LIFELINE=1"});
  close(fds[0]);
  if (rc != 0) {
    *error = "start-dc.sh failed (exit " + std::to_string(rc) + "):\n" + read_file(out);
    stop();
    return false;
  }
  return true;
}

void SambaDc::stop() {
  if (lifeline_ >= 0) {
    run_script("stop-dc.sh", {dir().string()}, -1, (root_.path() / "stop-dc.out").string(),
               std::chrono::seconds(60));
    close(lifeline_);
    lifeline_ = -1;
  }
  if (lock_fd_ >= 0) {
    close(lock_fd_);  // releases the lock
    lock_fd_ = -1;
  }
}

std::string SambaDc::bind_dn() const { return read_file(dir() / "bind_dn"); }

std::string SambaDc::log() const { return read_file(dir() / "samba.log"); }

}  // namespace gatehouse::testing
