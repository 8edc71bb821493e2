#include "integration/harness.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <strings.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>

extern char** environ;

namespace gatehouse::testing {
bool write_text(const std::string& path, const std::string& content, mode_t mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return false;
  fchmod(fd, mode);
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return close(fd) == 0;
}

bool is_executable(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string tail(const std::string& text, size_t n) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

namespace {

pid_t spawn(const std::vector<std::string>& args, const std::string& in_path, const std::string& out_path,
            const std::string& err_path, std::vector<std::string> extra_env = {},
            const std::vector<std::string>& launcher = {}) {
  std::vector<std::string> full = launcher;
  full.push_back(GATEHOUSE_BINARY);
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : full) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, in_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  // The extra variables first: getenv() finds the first of a name.
  std::vector<char*> envp;
  for (auto& e : extra_env) envp.push_back(e.data());
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  envp.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data()) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

// The address of the "listening" event in either log format ([log] format), once its
// line is complete.
std::optional<std::string> listening_address(const std::string& err) {
  static const std::string marker = "event=listening address=";
  auto pos = err.find(marker);
  if (pos != std::string::npos) {
    auto end = err.find_first_of(" \n", pos + marker.size());
    return err.substr(pos + marker.size(), end - pos - marker.size());
  }
  std::istringstream lines(err);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line.front() != '{') continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    auto event = j.find("event"), address = j.find("address");
    if (event != j.end() && *event == "listening" && address != j.end() && address->is_string())
      return address->get<std::string>();
  }
  return std::nullopt;
}

}  // namespace

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "gatehouse-it-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

CommandResult run_gatehouse(const std::vector<std::string>& args, const std::string& input) {
  TempDir dir;
  {
    std::ofstream in(dir.file("stdin"));
    in << input;
  }
  pid_t pid = spawn(args, dir.file("stdin"), dir.file("stdout"), dir.file("stderr"));
  CommandResult r;
  if (pid < 0) return r;
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(dir.file("stdout"));
  r.err = read_file(dir.file("stderr"));
  return r;
}

Daemon::Daemon(std::vector<std::string> args, std::vector<std::string> env, std::vector<std::string> launcher)
    : args_(std::move(args)), env_(std::move(env)), launcher_(std::move(launcher)) {}

Daemon::~Daemon() {
  if (pid_ > 0) stop();
}

bool Daemon::start(int timeout_ms) { return launch() && wait_listening(timeout_ms); }

bool Daemon::launch() {
  { std::ofstream in(dir_.file("stdin")); }
  pid_ = spawn(args_, dir_.file("stdin"), dir_.file("stdout"), dir_.file("stderr"), env_, launcher_);
  return pid_ > 0;
}

bool Daemon::wait_listening(int timeout_ms) {
  if (pid_ <= 0) return false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto addr = listening_address(log())) {
      port_ = std::stoi(addr->substr(addr->rfind(':') + 1));
      return true;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void Daemon::signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

int Daemon::stop(int timeout_ms) {
  if (pid_ <= 0) return exit_code_;
  kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      return exit_code_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return -1;
}

std::string Daemon::log() const { return read_file(dir_.file("stderr")); }
bool Daemon::wait_for_log(const std::string& needle, int timeout_ms) const {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (log().find(needle) != std::string::npos) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string Daemon::stdout_text() const { return read_file(dir_.file("stdout")); }

long Daemon::rss_kb() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

EchoUpstream::EchoUpstream() {
  // cpp-httplib applies its socket options to the listening socket only, so
  // connections are counted by the client ports their requests come from.
  server_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response&) {
    std::lock_guard lock(mu_);
    ports_.insert(req.remote_port);
    ++requests_;
    targets_.push_back(req.target);
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server_.set_keep_alive_max_count(1000);
  auto echo = [this](const httplib::Request& req, httplib::Response& res,
                     const httplib::ContentReader* reader) {
    long long bytes = 0;
    if (reader != nullptr) {
      (*reader)([&](const char*, size_t n) {
        bytes += static_cast<long long>(n);
        return true;
      });
    }
    last_body_bytes_ = bytes;
    nlohmann::json headers = nlohmann::json::object();
    for (const auto& [k, v] : req.headers) headers[k].push_back(v);
    nlohmann::json j = {{"method", req.method}, {"target", req.target}, {"headers", headers},
                        {"body_bytes", bytes}};
    res.set_content(j.dump(), "application/json");
  };
  server_.Get("/slow", [](const httplib::Request&, httplib::Response& res) {
    std::this_thread::sleep_for(std::chrono::seconds(3));
    res.set_content("slow", "text/plain");
  });
  server_.Get("/big", [](const httplib::Request& req, httplib::Response& res) {
    long long total = std::stoll(req.get_param_value("bytes"));
    res.set_chunked_content_provider("application/octet-stream",
                                     [total, sent = 0LL](size_t, httplib::DataSink& sink) mutable {
                                       static const std::string block(64 * 1024, 'x');
                                       if (sent >= total) {
                                         sink.done();
                                         return true;
                                       }
                                       auto n = std::min<long long>(total - sent, block.size());
                                       sink.write(block.data(), static_cast<size_t>(n));
                                       sent += n;
                                       return true;
                                     });
  });
  server_.Get(R"(.*/set-cookie)", [](const httplib::Request& req, httplib::Response& res) {
    for (std::size_t i = 0; i < req.get_param_value_count("c"); ++i)
      res.headers.emplace("Set-Cookie", req.get_param_value("c", i));
    res.set_content("cookies", "text/plain");
  });
  server_.Get(".*", [echo](const httplib::Request& req, httplib::Response& res) { echo(req, res, nullptr); });
  server_.Delete(".*", [echo](const httplib::Request& req, httplib::Response& res) { echo(req, res, nullptr); });
  server_.Options(".*", [echo](const httplib::Request& req, httplib::Response& res) { echo(req, res, nullptr); });
  server_.Post(".*", [echo](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& r) {
    echo(req, res, &r);
  });
  server_.Put(".*", [echo](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& r) {
    echo(req, res, &r);
  });
  server_.Patch(".*", [echo](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& r) {
    echo(req, res, &r);
  });
  port_ = server_.bind_to_any_port("127.0.0.1");
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

EchoUpstream::~EchoUpstream() {
  server_.stop();
  if (thread_.joinable()) thread_.join();
}

int connect_loopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    const int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

std::string raw_http(int port, const std::string& request) {
  const int fd = connect_loopback(port);
  if (fd < 0) return {};
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return {};
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

int unused_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  close(fd);  // closed without listen(): connections to it are refused
  return port;
}

std::string cookie_from(const httplib::Headers& headers, const std::string& name) {
  auto range = headers.equal_range("Set-Cookie");
  for (auto it = range.first; it != range.second; ++it) {
    const std::string& v = it->second;
    // Over https gatehouse's cookies carry the __Host- prefix.
    if (v.rfind(name + "=", 0) == 0 || v.rfind("__Host-" + name + "=", 0) == 0) return v.substr(0, v.find(';'));
  }
  return {};
}

LoginForm fetch_login_form(int port) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(10, 0);
  c.set_tcp_nodelay(true);
  auto res = c.Get("/.gatehouse/login");
  LoginForm form;
  if (!res) return form;
  form.token = form_csrf_token(res->body);
  form.csrf_cookie = cookie_from(res->headers, "gatehouse_session_csrf");
  return form;
}

httplib::Result post_login(int port, const std::string& user, const std::string& password, const std::string& rd,
                           bool with_csrf) {
  auto form = fetch_login_form(port);
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(30, 0);
  c.set_tcp_nodelay(true);  // else each POST waits out a delayed ACK (40 ms)
  httplib::Headers h;
  if (with_csrf) h.emplace("Cookie", form.csrf_cookie);
  httplib::Params p{{"username", user}, {"password", password}, {"csrf", with_csrf ? form.token : "x"}, {"rd", rd}};
  return c.Post("/.gatehouse/login", h, p);
}

std::string session_cookie(const httplib::Result& res) {
  if (!res || res->status != 303) return "";
  return cookie_from(res->headers, "gatehouse_session");
}

std::string signed_in_fetch(int port, const std::string& user, const std::string& password, std::string* why,
                            const std::string& path) {
  auto res = post_login(port, user, password);
  if (!res || res->status != 303) {
    *why = "login as " + user + ": " + (res ? std::to_string(res->status) + "\n" + res->body : "no answer");
    return "";
  }
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(30, 0);
  c.set_tcp_nodelay(true);  // else each POST waits out a delayed ACK (40 ms)
  auto page = c.Get(path, {{"Cookie", session_cookie(res)}});
  if (!page || page->status != 200) {
    *why = "GET " + path + ": " + (page ? std::to_string(page->status) + "\n" + page->body : "no answer");
    return "";
  }
  return page->body;
}

SessionJar login_jar(int port, const std::string& user, const std::string& password, std::string* why) {
  auto res = post_login(port, user, password);
  SessionJar jar;
  if (res && res->status == 303) {
    jar.session = cookie_from(res->headers, "gatehouse_session");
    jar.csrf = cookie_from(res->headers, "gatehouse_session_csrf");
  } else if (why != nullptr) {
    *why = res ? std::to_string(res->status) + " " + res->body : std::string("no answer");
  }
  return jar;
}

httplib::Result jar_get(int port, SessionJar& jar, const std::string& path, httplib::Headers extra) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(10, 0);
  c.set_tcp_nodelay(true);
  extra.emplace("Cookie", jar.header());
  auto res = c.Get(path, extra);
  if (res) {
    auto csrf = cookie_from(res->headers, "gatehouse_session_csrf");
    if (!csrf.empty()) jar.csrf = csrf;
  }
  return res;
}

std::string form_csrf_token(const std::string& html) {
  static constexpr std::string_view marker = "name=\"csrf\" value=\"";
  const auto at = html.find(marker);
  if (at == std::string::npos) return {};
  const auto start = at + marker.size();
  const auto end = html.find('"', start);
  return end == std::string::npos ? std::string() : html.substr(start, end - start);
}

std::string echoed_header(const std::string& echo_body, const std::string& name) {
  auto j = nlohmann::json::parse(echo_body, nullptr, false);
  if (j.is_discarded() || !j.contains("headers")) return "<absent>";
  for (auto& [k, v] : j["headers"].items())
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v[0].get<std::string>();
  return "<absent>";
}

std::string basic_config(const TempDir& dir, const std::string& directories, const std::string& upstream) {
  return "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"" + std::string(kPublicUrl) + "\"\n\n"
         "[store]\npath = \"" + dir.file("gatehouse.db") + "\"\n\n"
         "[keys]\nmaster_key_file = \"" + dir.file("master.key") + "\"\n\n" +
         directories + "\n[[route]]\npath_prefix = \"/\"\nupstream = \"" + upstream + "\"\n";
}

}  // namespace gatehouse::testing
