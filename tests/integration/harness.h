#pragma once
// Test harness: runs the real `gatehouse` binary and a small echo upstream on loopback.
#include <httplib.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace gatehouse::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `gatehouse ARGS...` to completion, feeding `input` on stdin.
CommandResult run_gatehouse(const std::vector<std::string>& args, const std::string& input = "");

// `gatehouse serve --config FILE` (or any args) in the background; waits until it logs
// that it is listening and remembers the port.
class Daemon {
 public:
  // `env`: extra NAME=value variables for the daemon, on top of the test's own.
  // `launcher`: a command (full path first) that runs gatehouse, such as
  // systemd-socket-activate with its options.
  explicit Daemon(std::vector<std::string> args, std::vector<std::string> env = {},
                  std::vector<std::string> launcher = {});
  ~Daemon();
  bool start(int timeout_ms = 15000);  // launch() and wait_listening()
  bool launch();
  // False when the daemon exits first (stop() then returns its exit status) or the time passes.
  bool wait_listening(int timeout_ms = 15000);
  // SIGTERM and wait; returns the exit status (or -1). Once stopped, returns that
  // status again.
  int stop(int timeout_ms = 15000);
  void signal(int sig);
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string log() const;        // everything written to stderr so far
  // True once stderr contains `needle` (lines written after a response was sent, such
  // as the access log, may come a moment after the client has it).
  bool wait_for_log(const std::string& needle, int timeout_ms = 5000) const;
  std::string stdout_text() const;
  long rss_kb() const;            // VmRSS of the daemon

 private:
  std::vector<std::string> args_;
  std::vector<std::string> env_;
  std::vector<std::string> launcher_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
  int port_ = 0;
  TempDir dir_;
};

// An upstream that echoes what it received as JSON: method, path (with query),
// headers (name -> list of values) and the number of body bytes, counted without
// buffering. /slow sleeps 3 s; /big?bytes=N streams N bytes; /set-cookie answers with one
// Set-Cookie header for every `c` parameter.
class EchoUpstream {
 public:
  EchoUpstream();
  ~EchoUpstream();
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Requests received, and connections that sent at least one.
  int requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  int connections() const {
    std::lock_guard lock(mu_);
    return static_cast<int>(ports_.size());
  }
  long long last_body_bytes() const { return last_body_bytes_.load(); }
  // The targets of every request received, in order.
  std::vector<std::string> targets() const {
    std::lock_guard lock(mu_);
    return targets_;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mu_;
  std::set<int> ports_;  // client ports of the connections seen
  int requests_ = 0;
  std::vector<std::string> targets_;
  std::atomic<long long> last_body_bytes_{0};
};

// The whole file at `path`, or "" when it cannot be read.
std::string read_file(const std::string& path);
// Writes `content` to `path` (created or truncated) with exactly `mode`; false on any error.
bool write_text(const std::string& path, const std::string& content, mode_t mode);
// A regular file this process may execute.
bool is_executable(const std::string& path);

// The last `n` characters of `text` ("..." in front when cut), for failure messages.
std::string tail(const std::string& text, size_t n = 4000);

// The public_url of basic_config: the origin the browser-like clients sign in at.
inline constexpr const char* kPublicUrl = "http://gatehouse.test";

// A TCP connection to 127.0.0.1:`port`: its descriptor, or -errno.
int connect_loopback(int port);

// Sends `request` as is on a new connection and returns everything read until the
// server closes or 2 s pass.
std::string raw_http(int port, const std::string& request);

// A free TCP port on 127.0.0.1 with nothing listening (for "upstream down").
int unused_port();

// Cookie jar value "name=value" from a Set-Cookie header list.
std::string cookie_from(const httplib::Headers& headers, const std::string& name);

// gatehouse's sign-in form, driven as a browser does: GET the form for its CSRF cookie
// and token, then POST the credentials.
struct LoginForm {
  std::string csrf_cookie;  // "gatehouse_session_csrf=…"
  std::string token;
};
LoginForm fetch_login_form(int port);
httplib::Result post_login(int port, const std::string& user, const std::string& password,
                           const std::string& rd = "/", bool with_csrf = true);
// The session cookie after a successful login ("gatehouse_session=…"); "" otherwise.
std::string session_cookie(const httplib::Result& res);

// Signs in and fetches `path` with the new session: the echo of the upstream, or ""
// with `why` saying what went wrong.
std::string signed_in_fetch(int port, const std::string& user, const std::string& password, std::string* why,
                            const std::string& path = "/app");

// A signed-in browser's gatehouse cookies: the session and the CSRF binding.
struct SessionJar {
  std::string session;  // "gatehouse_session=…"
  std::string csrf;     // "gatehouse_session_csrf=…"
  std::string header() const { return csrf.empty() ? session : session + "; " + csrf; }
};
// Signs in through the form; both cookies of the answer. When it fails the jar is empty
// and `why` (if given) says what came back.
SessionJar login_jar(int port, const std::string& user, const std::string& password, std::string* why = nullptr);
// GET with the jar's cookies, keeping a new CSRF binding the answer sets.
httplib::Result jar_get(int port, SessionJar& jar, const std::string& path, httplib::Headers extra = {});
// The value of the first `name="csrf"` field of a page, or "".
std::string form_csrf_token(const std::string& html);

// The first value of header `name` (any case) in what EchoUpstream echoed, or "<absent>".
std::string echoed_header(const std::string& echo_body, const std::string& name);

// A complete gatehouse config: listens on a free loopback port, keeps its store and
// master key in `dir`, has the given [[directory]] tables and one protected route "/"
// to `upstream`.
std::string basic_config(const TempDir& dir, const std::string& directories, const std::string& upstream);

}  // namespace gatehouse::testing
