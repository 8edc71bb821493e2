// The tenant vault end to end: the real gatehouse, the real CLI, a real upstream.
// Route injection per effective party (delegates included), client-sent inject headers
// stripped on every route, the 403 for a missing secret, CLI changes seen by the running
// daemon within a second, the CLI's input rules, a master key change under load, no
// plaintext at rest or in a log, a process that cannot be dumped, and the secrets page.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "common/encoding.h"
#include "integration/harness.h"

extern char** environ;

// A namespace of its own: the test sources are compiled a few to a unit (unity build).
namespace gatehouse::testing::vault_it {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using Jar = SessionJar;

// Distinctive values: they may reach the echo upstream and nothing else.
const std::string kAcme = "acme-api-Q9vX2mZ7rL4pW8nB";
const std::string kAcme2 = "acme-api-second-T5hJ8kD3sV1x";
const std::string kGlobex = "globex-api-H3kT6yN1bC5sRq";
const std::string kPartner = "acme-partner-J7dF0gU2eA9wMz";
const std::string kOther = "acme-other-Z2cV9bN4mX7qLp";
const std::string kPage = "acme-from-page-R8tY3uI6oP1aSd";
// Part of values that are refused (a control character follows): not echoed either.
const std::string kRefused = "refused-value-W4eR7tY0uI3oPq";

// A header name as gatehouse compares it: lower case, '_' read as '-'.
std::string norm(std::string name) {
  for (char& c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c == '_') c = '-';
  }
  return name;
}

// Every value the upstream received under any spelling of `name`.
std::vector<std::string> header_values(const json& echoed, const std::string& name) {
  std::vector<std::string> out;
  if (!echoed.is_object() || !echoed.contains("headers")) return out;
  for (auto& [k, v] : echoed["headers"].items())
    if (norm(k) == norm(name))
      for (const auto& one : v) out.push_back(one.get<std::string>());
  return out;
}

std::string joined(const std::vector<std::string>& values) {
  if (values.empty()) return "<absent>";
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : " | ") + v;
  return out;
}

// The body of a raw HTTP/1.1 response (Content-Length or chunked), and its status.
struct RawResponse {
  int status = 0;
  std::string head;
  std::string body;
};
RawResponse parse_raw(const std::string& raw) {
  RawResponse r;
  const auto end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || end == std::string::npos) return r;
  r.status = std::atoi(raw.c_str() + 9);
  r.head = raw.substr(0, end);
  std::string rest = raw.substr(end + 4);
  std::string lower = r.head;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.find("transfer-encoding: chunked") == std::string::npos) {
    r.body = rest;
    return r;
  }
  std::size_t at = 0;
  for (;;) {
    const auto eol = rest.find("\r\n", at);
    if (eol == std::string::npos) break;
    const std::size_t n = std::stoul(rest.substr(at, eol - at), nullptr, 16);
    if (n == 0) break;
    r.body += rest.substr(eol + 2, n);
    at = eol + 2 + n + 2;
  }
  return r;
}

// 32 random bytes, mode 0600: a master key file.
void write_random_key(const std::string& path) {
  std::string bytes(32, '\0');
  std::ifstream("/dev/urandom", std::ios::binary).read(bytes.data(), 32);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), 32);
  ::close(fd);
}

// The value of one sample line "series value" of a scrape, or -1.
double metric(const std::string& scrape, const std::string& series) {
  std::istringstream in(scrape);
  for (std::string line; std::getline(in, line);)
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ')
      return std::stod(line.substr(series.size() + 1));
  return -1;
}

class VaultTest : public ::testing::Test {
 protected:
  static constexpr const char* kNoKeyFile = "<credential>";

  void SetUp() override {
    write_config();
    add_user("ann", "acme", "ann@acme.example", {"acme-admins"});
    add_user("bob", "acme", "bob@acme.example", {});
    add_user("carol", "globex", "carol@globex.example", {"consultants"});
    add_user("dave", "globex", "dave@globex.example", {});
  }

  void TearDown() override {
    stop_daemon();
    // Whatever the test did: no value in a log line, a CLI answer or a file of the state.
    expect_no_plaintext("at the end");
  }

  // `master`: [keys] master_key_file (default master.key in the state directory;
  // kNoKeyFile: empty, the systemd credential).
  void write_config(const std::string& master = "", const std::vector<std::string>& previous = {},
                    const std::string& extra = "") {
    std::ofstream out(config_path());
    out << "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"http://gatehouse.test\"\n\n"
        << "[store]\npath = \"" << dir_.file("gatehouse.db") << "\"\n\n"
        << "[keys]\nmaster_key_file = \""
        << (master.empty() ? dir_.file("master.key") : master == kNoKeyFile ? std::string() : master) << "\"\n";
    if (!previous.empty()) {
      out << "previous_master_key_files = [";
      for (std::size_t i = 0; i < previous.size(); ++i) out << (i ? ", " : "") << "\"" << previous[i] << "\"";
      out << "]\n";
    }
    out << "\n" << extra << "\n"
        << "[[directory]]\nname = \"local\"\nkind = \"local\"\n\n"
        << "[[tenant]]\nname = \"acme\"\ndisplay_name = \"Acme Ltd\"\nsuperuser_groups = [\"acme-admins\"]\n\n"
        << "[[tenant]]\nname = \"globex\"\ndisplay_name = \"Globex Consulting\"\n\n"
        << "[[route]]\npath_prefix = \"/api\"\nupstream = \"" << echo_.url() << "\"\n"
        << "inject_secret = { header = \"Authorization\", secret = \"api-token\", format = \"Bearer {}\" }\n\n"
        << "[[route]]\npath_prefix = \"/partner\"\nupstream = \"" << echo_.url() << "\"\n"
        << "inject_secret = { header = \"X-Api-Token\", secret = \"partner-key\" }\n\n"
        << "[[route]]\npath_prefix = \"/public\"\nupstream = \"" << echo_.url() << "\"\npublic = true\n\n"
        << "[[route]]\npath_prefix = \"/\"\nupstream = \"" << echo_.url() << "\"\n";
  }

  void add_user(const std::string& name, const std::string& tenant, const std::string& email,
                const std::vector<std::string>& groups) {
    std::vector<std::string> args{"user", "add", name, "--tenant", tenant, "--email", email, "--password-stdin"};
    for (const auto& g : groups) args.insert(args.end(), {"--group", g});
    auto r = cli(args, name + "-password\n");
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  void start(std::vector<std::string> launcher = {}) {
    daemon_ = std::make_unique<Daemon>(std::vector<std::string>{"serve", "--config", config_path()},
                                       std::vector<std::string>{}, std::move(launcher));
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
  }

  // Stops the daemon (it must exit 0) and keeps what it wrote for the plaintext check.
  void stop_daemon() {
    if (!daemon_) return;
    EXPECT_EQ(daemon_->stop(), 0) << tail(daemon_->log());
    daemon_output_ += daemon_->log() + daemon_->stdout_text();
    daemon_.reset();
  }

  std::string config_path() const { return dir_.file("gatehouse.toml"); }

  CommandResult cli(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {"--config", config_path()});
    auto r = run_gatehouse(args, input);
    cli_output_ += r.out + r.err;
    return r;
  }

  // `secret set` by the CLI with `value` and a line end, which must succeed.
  void set_secret(const std::string& tenant, const std::string& name, const std::string& value) {
    auto r = cli({"secret", "set", "--tenant", tenant, name}, value + "\n");
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }

  json list(const std::string& tenant) {
    auto r = cli({"secret", "list", "--tenant", tenant, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out, nullptr, false);
  }
  // name -> version, from `secret list --json`.
  std::map<std::string, int> versions(const std::string& tenant) {
    std::map<std::string, int> out;
    for (const auto& row : list(tenant)) out[row["name"].get<std::string>()] = row["version"].get<int>();
    return out;
  }

  json audit(const std::string& event) {
    auto r = cli({"audit", "list", "--json", "--event", event});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out, nullptr, false);
  }

  httplib::Client client() {
    httplib::Client c("127.0.0.1", daemon_->port());
    c.set_read_timeout(10, 0);
    c.set_tcp_nodelay(true);
    return c;
  }

  Jar login(const std::string& user) {
    std::string why;
    Jar jar = login_jar(daemon_->port(), user, user + "-password", &why);
    EXPECT_FALSE(jar.session.empty()) << user << ": " << why;
    return jar;
  }

  httplib::Result get(Jar& jar, const std::string& path, httplib::Headers extra = {}) {
    return jar_get(daemon_->port(), jar, path, std::move(extra));
  }

  httplib::Result post(Jar& jar, const std::string& path, const httplib::Params& params) {
    return client().Post(path, {{"Cookie", jar.header()}}, params);
  }

  std::string token(Jar& jar, const std::string& page) {
    auto res = get(jar, page, {{"Accept", "text/html"}});
    EXPECT_TRUE(res && res->status == 200) << page << ": " << (res ? res->body : "no answer");
    return res ? form_csrf_token(res->body) : std::string();
  }

  httplib::Result switch_to(Jar& jar, const std::string& party) {
    return post(jar, "/.gatehouse/parties/switch",
                {{"party", party}, {"csrf", token(jar, "/.gatehouse/parties")}, {"rd", "/"}});
  }

  json echo(Jar& jar, const std::string& path) {
    auto res = get(jar, path);
    EXPECT_TRUE(res && res->status == 200) << path << ": " << (res ? std::to_string(res->status) + res->body : "");
    return res ? json::parse(res->body, nullptr, false) : json{};
  }

  // What the upstream received in `header` for a GET of `path`: its values joined, or
  // "<status>" when gatehouse answered something else than 200.
  std::string injected(Jar& jar, const std::string& path = "/api/orders",
                       const std::string& header = "Authorization") {
    auto res = get(jar, path);
    if (!res) return "<no answer>";
    if (res->status != 200) return "<" + std::to_string(res->status) + ">";
    return joined(header_values(json::parse(res->body, nullptr, false), header));
  }

  // Polls `injected(jar, path, header)` until it is `want`, for at most `limit`; the
  // time it took, or -1 ms. Every other answer seen goes into `seen`.
  std::chrono::milliseconds await_value(Jar& jar, const std::string& want, std::set<std::string>& seen,
                                        std::chrono::milliseconds limit = 1500ms, const std::string& path = "/api/x",
                                        const std::string& header = "Authorization") {
    const auto since = std::chrono::steady_clock::now();
    for (;;) {
      const std::string got = injected(jar, path, header);
      const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since);
      if (got == want) return took;
      seen.insert(got);
      if (took > limit) return -1ms;
      std::this_thread::sleep_for(20ms);
    }
  }

  // SIGHUP; "reloaded" or "failed" once the daemon logged the outcome, "" on time-out.
  std::string reload() {
    auto count = [this](const char* needle) {
      const std::string log = daemon_->log();
      std::size_t n = 0;
      for (auto p = log.find(needle); p != std::string::npos; p = log.find(needle, p + 1)) ++n;
      return n;
    };
    const auto ok = count("event=config.reloaded"), failed = count("event=config.reload_failed");
    daemon_->signal(SIGHUP);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (count("event=config.reloaded") > ok) return "reloaded";
      if (count("event=config.reload_failed") > failed) return "failed";
      std::this_thread::sleep_for(20ms);
    }
    return "";
  }

  std::string scrape() {
    auto res = client().Get("/.gatehouse/metrics");
    EXPECT_TRUE(res && res->status == 200);
    return res ? res->body : std::string();
  }

  // The bytes of every file of the state directory (store, its -wal and -shm, keys).
  std::string state_bytes() const {
    std::string all;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_.path()))
      if (e.is_regular_file()) all += read_file(e.path().string());
    return all;
  }

  void expect_no_plaintext(const std::string& when) {
    const std::string logs = daemon_output_ + (daemon_ ? daemon_->log() + daemon_->stdout_text() : std::string());
    const std::string state = state_bytes();
    for (const auto& v : {kAcme, kAcme2, kGlobex, kPartner, kOther, kPage, kRefused}) {
      EXPECT_EQ(logs.find(v), std::string::npos) << when << ": a daemon log holds " << v;
      EXPECT_EQ(cli_output_.find(v), std::string::npos) << when << ": a CLI answer holds " << v;
      EXPECT_EQ(state.find(v), std::string::npos) << when << ": a file of the state directory holds " << v;
    }
  }

  TempDir dir_;
  EchoUpstream echo_;
  std::unique_ptr<Daemon> daemon_;
  std::string daemon_output_;
  std::string cli_output_;
};

// 1. Each member gets its own tenant's value; a delegate the value of the party it acts
// for, and its own again once it switched back.
TEST_F(VaultTest, EachPartyGetsItsOwnSecretAndADelegateThatOfThePartyItActsFor) {
  set_secret("acme", "api-token", kAcme);
  set_secret("globex", "api-token", kGlobex);
  set_secret("globex", "partner-key", kPartner);  // globex's only: acme has none
  auto granted = cli({"delegation", "grant", "--tenant", "acme", "--email", "carol@globex.example"});
  ASSERT_EQ(granted.exit_code, 0) << granted.err;
  start();
  Jar bob = login("bob"), dave = login("dave"), carol = login("carol");

  EXPECT_EQ(injected(bob), "Bearer " + kAcme);
  EXPECT_EQ(injected(dave), "Bearer " + kGlobex);
  EXPECT_EQ(injected(carol), "Bearer " + kGlobex);  // not switched yet: her own tenant's

  auto switched = switch_to(carol, "acme");
  ASSERT_TRUE(switched);
  ASSERT_EQ(switched->status, 303) << switched->body;
  auto e = echo(carol, "/api/orders?x=1");
  EXPECT_EQ(joined(header_values(e, "X-Gatehouse-Effective-Party")), "acme");
  EXPECT_EQ(joined(header_values(e, "X-Gatehouse-Real-Party")), "globex");
  EXPECT_EQ(joined(header_values(e, "Authorization")), "Bearer " + kAcme);
  // Acting for acme, which has no partner-key: refused, never her own tenant's value.
  EXPECT_EQ(injected(carol, "/partner/x", "X-Api-Token"), "<403>");
  auto missing = get(carol, "/partner/x", {{"Accept", "application/json"}});
  ASSERT_TRUE(missing);
  EXPECT_EQ(json::parse(missing->body, nullptr, false),
            (json{{"error", "secret_missing"}, {"tenant", "acme"}, {"secret", "partner-key"}}));

  auto back = switch_to(carol, "globex");
  ASSERT_TRUE(back);
  ASSERT_EQ(back->status, 303) << back->body;
  EXPECT_EQ(injected(carol), "Bearer " + kGlobex);
  // The others are untouched by carol's switches; a route without inject_secret gets
  // no Authorization at all.
  EXPECT_EQ(injected(bob), "Bearer " + kAcme);
  EXPECT_EQ(injected(dave), "Bearer " + kGlobex);
  EXPECT_EQ(injected(bob, "/elsewhere"), "<absent>");
  EXPECT_EQ(injected(bob, "/partner/x", "X-Api-Token"), "<403>");  // acme has no partner-key
  EXPECT_EQ(injected(carol, "/partner/x", "X-Api-Token"), kPartner);
  EXPECT_EQ(injected(dave, "/partner/x", "X-Api-Token"), kPartner);

  // Only in the header: not in the assertion the upstream gets, not in whoami.
  auto with_assertion = echo(bob, "/api/claims");
  const std::string jwt = joined(header_values(with_assertion, "X-Gatehouse-Assertion"));
  const auto a = jwt.find('.'), b = jwt.find('.', a + 1);
  ASSERT_NE(b, std::string::npos) << jwt;
  auto claims = base64url_decode(jwt.substr(a + 1, b - a - 1));
  ASSERT_TRUE(claims);
  EXPECT_NE(claims->find("\"effective_party\""), std::string::npos) << *claims;
  EXPECT_EQ(claims->find(kAcme), std::string::npos) << *claims;
  auto who = get(bob, "/.gatehouse/whoami");
  ASSERT_TRUE(who);
  EXPECT_EQ(who->status, 200);
  EXPECT_EQ(who->body.find(kAcme), std::string::npos) << who->body;
}

// 2. A client's header named like any route's inject header, in any spelling, reaches no
// upstream: not on the injecting route, not on another route, not on a public one.
TEST_F(VaultTest, ClientSentInjectHeadersNeverReachAnUpstream) {
  set_secret("acme", "api-token", kAcme);
  set_secret("acme", "partner-key", kPartner);
  start();
  Jar bob = login("bob");
  const std::string spoofed =
      "Authorization: Bearer spoofed-1\r\n"
      "authorization: Bearer spoofed-2\r\n"
      "AUTHORIZATION: Bearer spoofed-3\r\n"
      "X_Api_Token: spoofed-4\r\n"
      "x-api-token: spoofed-5\r\n"
      "X-API_TOKEN: spoofed-6\r\n";
  struct Case {
    std::string path;
    bool signed_in;
    std::string authorization;  // what the upstream must see, "<absent>" for nothing
    std::string api_token;
  };
  const std::vector<Case> cases = {
      {"/api/orders", true, "Bearer " + kAcme, "<absent>"},
      {"/partner/orders", true, "<absent>", kPartner},
      {"/plain", true, "<absent>", "<absent>"},
      {"/public/page", true, "<absent>", "<absent>"},
      {"/public/page", false, "<absent>", "<absent>"},
  };
  const int before = echo_.requests();
  for (const auto& c : cases) {
    const std::string request = "GET " + c.path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                                (c.signed_in ? "Cookie: " + bob.session + "\r\n" : std::string()) + spoofed +
                                "Connection: close\r\n\r\n";
    const RawResponse res = parse_raw(raw_http(daemon_->port(), request));
    ASSERT_EQ(res.status, 200) << c.path << "\n" << res.head << "\n" << res.body;
    const json e = json::parse(res.body, nullptr, false);
    ASSERT_TRUE(e.is_object()) << res.body;
    EXPECT_EQ(joined(header_values(e, "Authorization")), c.authorization) << c.path << " " << c.signed_in;
    EXPECT_EQ(joined(header_values(e, "X-Api-Token")), c.api_token) << c.path << " " << c.signed_in;
    EXPECT_EQ(res.body.find("spoofed"), std::string::npos) << c.path << ": " << res.body;
  }
  EXPECT_EQ(echo_.requests(), before + static_cast<int>(cases.size()));

  // A route that a reload adds: its header is stripped everywhere from then on.
  const std::string probe = "GET /plain HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: " + bob.session +
                            "\r\nX_New_Token: spoofed-7\r\nx-new-token: spoofed-8\r\nConnection: close\r\n\r\n";
  auto before_reload = parse_raw(raw_http(daemon_->port(), probe));
  ASSERT_EQ(before_reload.status, 200);
  EXPECT_EQ(joined(header_values(json::parse(before_reload.body, nullptr, false), "X-New-Token")),
            "spoofed-7 | spoofed-8");  // nobody injects it yet: passed as sent
  write_config("", {}, "[[route]]\npath_prefix = \"/new\"\nupstream = \"" + echo_.url() +
                           "\"\ninject_secret = { header = \"X-New-Token\", secret = \"new-token\" }\n");
  ASSERT_EQ(reload(), "reloaded") << tail(daemon_->log());
  auto after_reload = parse_raw(raw_http(daemon_->port(), probe));
  ASSERT_EQ(after_reload.status, 200);
  EXPECT_EQ(after_reload.body.find("spoofed"), std::string::npos) << after_reload.body;
}

// 3. A party without the secret: 403 (HTML naming the secret, or JSON), nothing forwarded,
// never another party's value; the metrics count both outcomes.
TEST_F(VaultTest, AMissingSecretIsRefusedAndNothingIsForwarded) {
  set_secret("acme", "api-token", kAcme);
  start();
  Jar bob = login("bob"), dave = login("dave");
  // acme's value is in the daemon's cache now: globex must not get it.
  EXPECT_EQ(injected(bob), "Bearer " + kAcme);
  EXPECT_EQ(injected(bob), "Bearer " + kAcme);
  const int before = echo_.requests();

  auto html = get(dave, "/api/orders", {{"Accept", "text/html,application/xhtml+xml"}});
  ASSERT_TRUE(html);
  EXPECT_EQ(html->status, 403);
  EXPECT_NE(html->get_header_value("Content-Type").find("text/html"), std::string::npos);
  EXPECT_NE(html->body.find("api-token"), std::string::npos) << html->body;
  EXPECT_NE(html->body.find("Globex Consulting"), std::string::npos) << html->body;

  auto as_json = get(dave, "/api/orders", {{"Accept", "application/json"}});
  ASSERT_TRUE(as_json);
  EXPECT_EQ(as_json->status, 403);
  EXPECT_EQ(json::parse(as_json->body, nullptr, false),
            (json{{"error", "secret_missing"}, {"tenant", "globex"}, {"secret", "api-token"}}))
      << as_json->body;

  // A request with a body: refused before a byte goes upstream; the connection stays usable.
  httplib::Client c("127.0.0.1", daemon_->port());
  c.set_read_timeout(10, 0);
  c.set_keep_alive(true);
  auto posted = c.Post("/api/orders", {{"Cookie", dave.header()}, {"Accept", "application/json"}},
                       std::string(10000, 'b'), "application/octet-stream");
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->status, 403);
  auto again = c.Get("/api/orders", {{"Cookie", dave.header()}, {"Accept", "application/json"}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 403);
  for (const auto& body : {html->body, as_json->body, posted->body, again->body})
    EXPECT_EQ(body.find(kAcme), std::string::npos);
  EXPECT_EQ(echo_.requests(), before);

  // Without the secret on a route that does not inject, dave is served as usual.
  EXPECT_EQ(injected(dave, "/elsewhere"), "<absent>");
  EXPECT_TRUE(daemon_->wait_for_log("event=vault.secret_missing")) << tail(daemon_->log());

  const std::string m = scrape();
  EXPECT_EQ(metric(m, R"(gatehouse_secret_injections_total{route="/api",outcome="missing"})"), 4) << m;
  EXPECT_EQ(metric(m, R"(gatehouse_secret_injections_total{route="/api",outcome="injected"})"), 2) << m;
  EXPECT_EQ(metric(m, R"(gatehouse_secret_injections_total{route="/partner",outcome="injected"})"), 0) << m;
  EXPECT_EQ(metric(m, R"(gatehouse_secret_injections_total{route="/partner",outcome="missing"})"), 0) << m;
  // Routes without inject_secret have no such series.
  EXPECT_EQ(metric(m, R"(gatehouse_secret_injections_total{route="/",outcome="injected"})"), -1) << m;
}

// 4. `secret set` and `secret rm` by the CLI reach the running daemon within a second.
TEST_F(VaultTest, CliChangesReachTheRunningDaemonWithinOneSecond) {
  set_secret("acme", "api-token", kAcme);
  start();
  Jar bob = login("bob");
  EXPECT_EQ(injected(bob), "Bearer " + kAcme);

  set_secret("acme", "api-token", kAcme2);
  std::set<std::string> seen;
  auto took = await_value(bob, "Bearer " + kAcme2, seen);
  EXPECT_GE(took.count(), 0) << "the new value never arrived; seen: " << joined({seen.begin(), seen.end()});
  EXPECT_LE(took, 1500ms);
  seen.erase("Bearer " + kAcme);
  EXPECT_TRUE(seen.empty()) << joined({seen.begin(), seen.end()});

  auto removed = cli({"secret", "rm", "--tenant", "acme", "api-token"});
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  seen.clear();
  took = await_value(bob, "<403>", seen);
  EXPECT_GE(took.count(), 0) << "still served after the removal; seen: " << joined({seen.begin(), seen.end()});
  EXPECT_LE(took, 1500ms);
  seen.erase("Bearer " + kAcme2);
  EXPECT_TRUE(seen.empty()) << joined({seen.begin(), seen.end()});

  // Set again: a new version (never an old one's number), served again.
  set_secret("acme", "api-token", kAcme);
  EXPECT_EQ(versions("acme"), (std::map<std::string, int>{{"api-token", 3}}));
  seen.clear();
  took = await_value(bob, "Bearer " + kAcme, seen);
  EXPECT_GE(took.count(), 0) << joined({seen.begin(), seen.end()});
  EXPECT_LE(took, 1500ms);
}

// 5. The CLI: values from stdin only, one line end dropped, bad input refused with 2,
// values never shown; rotate-key under a running daemon; audited without values.
TEST_F(VaultTest, CliReadsValuesFromStdinRefusesBadInputAndNeverShowsAValue) {
  start();
  Jar bob = login("bob");
  auto first = cli({"secret", "set", "--tenant", "acme", "api-token"}, kAcme + "\n");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("version 1"), std::string::npos) << first.out;
  auto crlf = cli({"secret", "set", "--tenant", "acme", "partner-key"}, kPartner + "\r\n");
  ASSERT_EQ(crlf.exit_code, 0) << crlf.err;
  std::set<std::string> seen;
  EXPECT_GE(await_value(bob, "Bearer " + kAcme, seen).count(), 0) << joined({seen.begin(), seen.end()});

  // Refused values: nothing stored.
  const std::vector<std::string> bad_values = {
      "",       "\n",        "\r\n",         "inner\nline",        "inner\nline\n", "two-ends\n\n",
      "cr\r",   std::string("nul\0x", 5), "bell\a\n",     std::string(8193, 'x'), std::string(8193, 'x') + "\n",
      std::string(20000, 'y')};
  for (std::size_t i = 0; i < bad_values.size(); ++i) {
    const std::string& v = bad_values[i];
    auto r = cli({"secret", "set", "--tenant", "acme", "api-token"}, v);
    EXPECT_EQ(r.exit_code, 2) << "value #" << i << " (" << v.size() << " bytes): " << r.out << r.err;
    EXPECT_FALSE(r.err.empty()) << i;
  }
  // The longest value there is, and a tab: fine.
  EXPECT_EQ(cli({"secret", "set", "--tenant", "acme", "big"}, std::string(8192, 'z') + "\n").exit_code, 0);
  EXPECT_EQ(cli({"secret", "set", "--tenant", "acme", "Tabbed_1.x"}, "a\tb").exit_code, 0);
  EXPECT_EQ(versions("acme"),
            (std::map<std::string, int>{{"api-token", 1}, {"partner-key", 1}, {"big", 1}, {"Tabbed_1.x", 1}}));

  // Unknown tenants and bad names are usage errors.
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"secret", "set", "--tenant", "nosuch", "api-token"},
           {"secret", "list", "--tenant", "nosuch"},
           {"secret", "rm", "--tenant", "nosuch", "api-token"},
           {"secret", "rotate-key", "--tenant", "nosuch"},
           {"secret", "set", "api-token"},
           {"secret", "list"},
           {"secret", "set", "--tenant", "acme"}}) {
    auto r = cli(args, "some-value\n");
    EXPECT_EQ(r.exit_code, 2) << ::testing::PrintToString(args) << r.out << r.err;
  }
  const std::vector<std::string> bad_names = {"",         "-lead", ".lead",  "_lead",  "with space", "a/b",
                                              "a:b",      "x\n",   "ünï",    "a=b",    std::string(65, 'n'),
                                              "semi;colon"};
  for (const auto& name : bad_names) {
    auto set = cli({"secret", "set", "--tenant", "acme", name}, "some-value\n");
    EXPECT_EQ(set.exit_code, 2) << "set " << ::testing::PrintToString(name) << ": " << set.err;
    auto rm = cli({"secret", "rm", "--tenant", "acme", name});
    EXPECT_EQ(rm.exit_code, 2) << "rm " << ::testing::PrintToString(name) << ": " << rm.err;
  }
  EXPECT_EQ(cli({"secret", "set", "--tenant", "acme", std::string(64, 'n')}, "ok\n").exit_code, 0);

  // Lists: names and versions, never a value.
  auto rows = list("acme");
  ASSERT_TRUE(rows.is_array());
  EXPECT_EQ(rows.size(), 5u);
  for (const auto& row : rows) {
    EXPECT_EQ(row["version"], 1);
    EXPECT_FALSE(row["updated_at"].get<std::string>().empty());
    EXPECT_FALSE(row.contains("value"));
  }
  auto text = cli({"secret", "list", "--tenant", "acme"});
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("partner-key  version 1  updated "), std::string::npos) << text.out;
  EXPECT_NE(text.out.find(" by cli:"), std::string::npos) << text.out;
  EXPECT_EQ(text.out.find("zzzzzzzz"), std::string::npos);
  auto none = cli({"secret", "list", "--tenant", "globex", "--json"});
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_EQ(json::parse(none.out, nullptr, false), json::array());

  // rm: unknown names are an operational failure, a known one goes.
  auto unknown = cli({"secret", "rm", "--tenant", "acme", "never-set"});
  EXPECT_EQ(unknown.exit_code, 1) << unknown.err;
  // list and rm open no value and need no master key; set does.
  // (An empty master_key_file without $CREDENTIALS_DIRECTORY: no key to be had.)
  ::unsetenv("CREDENTIALS_DIRECTORY");
  write_config(kNoKeyFile);
  EXPECT_EQ(list("acme").size(), 5u);
  auto removed = cli({"secret", "rm", "--tenant", "acme", "big"});
  EXPECT_EQ(removed.exit_code, 0) << removed.err;
  auto keyless = cli({"secret", "set", "--tenant", "acme", "big"}, "some-value\n");
  EXPECT_EQ(keyless.exit_code, 1) << keyless.err;
  write_config();
  EXPECT_EQ(cli({"secret", "rm", "--tenant", "acme", "big"}).exit_code, 1);  // already gone
  EXPECT_EQ(versions("acme").count("big"), 0u);

  // A new data key: every value keeps working through the running daemon, the cached
  // one (api-token) and one it opens only now (partner-key), across its next refresh.
  auto rotated = cli({"secret", "rotate-key", "--tenant", "acme"});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.err;
  const auto until = std::chrono::steady_clock::now() + 1500ms;
  int checks = 0;
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_EQ(injected(bob, "/partner/x", "X-Api-Token"), kPartner);  // CR LF gone
    ASSERT_EQ(injected(bob), "Bearer " + kAcme);
    ++checks;
  }
  EXPECT_GT(checks, 3);
  EXPECT_EQ(versions("acme").at("api-token"), 1);  // re-sealed, not a new version
  EXPECT_EQ(cli({"secret", "rotate-key", "--tenant", "globex"}).exit_code, 2);  // no secrets, no key

  // Audited, with names and never values.
  EXPECT_EQ(audit("secret.set").size(), 5u);
  EXPECT_EQ(audit("secret.removed").size(), 1u);
  auto rotations = audit("secret.key_rotated");
  ASSERT_EQ(rotations.size(), 1u);
  // The new key's id, as the command printed it.
  static const std::regex key_id("new data key ([0-9a-f]{16})");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(rotated.out, m, key_id)) << rotated.out;
  EXPECT_NE(rotations[0]["detail"].get<std::string>().find(m[1].str()), std::string::npos) << rotations.dump();
  auto sets = audit("secret.set");
  EXPECT_NE(sets.dump().find("api-token"), std::string::npos) << sets.dump();
  auto all = cli({"audit", "list", "--json"});
  EXPECT_EQ(all.out.find("zzzzzzzz"), std::string::npos);
  EXPECT_EQ(all.out.find("a\\tb"), std::string::npos);
}

// 6. A master key change under load: not one request fails or sees a wrong value; a
// reload with a key that cannot open the store is refused; after a restart with only the
// new key, sessions and values are the same.
TEST_F(VaultTest, AMasterKeyChangeUnderLoadFailsNoRequest) {
  set_secret("acme", "api-token", kAcme);
  set_secret("globex", "api-token", kGlobex);
  start();
  Jar bob = login("bob"), dave = login("dave");
  ASSERT_EQ(injected(bob), "Bearer " + kAcme);
  ASSERT_EQ(injected(dave), "Bearer " + kGlobex);

  std::atomic<bool> stop{false};
  std::atomic<int> requests{0};
  std::mutex mu;
  std::vector<std::string> failures;
  std::vector<std::thread> load;
  for (int i = 0; i < 4; ++i) {
    const Jar& jar = i % 2 == 0 ? bob : dave;
    const std::string want = "Bearer " + (i % 2 == 0 ? kAcme : kGlobex);
    load.emplace_back([&, cookie = jar.header(), want, keep_alive = i < 2] {
      httplib::Client c("127.0.0.1", daemon_->port());
      c.set_keep_alive(keep_alive);
      c.set_read_timeout(10, 0);
      c.set_tcp_nodelay(true);
      while (!stop) {
        auto res = c.Get("/api/load", {{"Cookie", cookie}, {"Accept", "application/json"}});
        ++requests;
        std::string problem;
        if (!res) problem = httplib::to_string(res.error());
        else if (res->status != 200) problem = std::to_string(res->status) + " " + res->body.substr(0, 200);
        else if (auto got = joined(header_values(json::parse(res->body, nullptr, false), "Authorization")); got != want)
          problem = "wrong value: " + got;
        if (!problem.empty()) {
          std::lock_guard lock(mu);
          if (failures.size() < 20) failures.push_back(problem);
        }
      }
    });
  }
  auto wait_requests = [&](int more) {
    const int target = requests + more;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (requests < target && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  };
  wait_requests(50);

  // The new key B, with A still able to open; the daemon takes it on SIGHUP.
  const std::string key_a = dir_.file("master.key"), key_b = dir_.file("master-b.key");
  write_random_key(key_b);
  write_config(key_b, {key_a});
  EXPECT_EQ(reload(), "reloaded") << tail(daemon_->log());
  wait_requests(50);
  // Everything sealed again under B; then A is left out.
  auto rewrap = cli({"keys", "rewrap"});
  ASSERT_EQ(rewrap.exit_code, 0) << rewrap.out << rewrap.err;
  EXPECT_NE(rewrap.out.find("2 tenant key(s)"), std::string::npos) << rewrap.out;
  wait_requests(50);
  write_config(key_b);
  EXPECT_EQ(reload(), "reloaded") << tail(daemon_->log());
  // A change elsewhere empties the daemon's caches: the data keys are opened again, with B alone.
  set_secret("acme", "other-secret", kOther);
  std::this_thread::sleep_for(1200ms);
  wait_requests(50);
  stop = true;
  for (auto& t : load) t.join();
  EXPECT_EQ(failures, std::vector<std::string>{}) << "of " << requests << " requests";
  EXPECT_GT(requests, 200);
  auto rewrapped = audit("keys.rewrapped");
  ASSERT_EQ(rewrapped.size(), 1u);
  EXPECT_EQ(rewrapped[0]["detail"].get<std::string>().find(kAcme), std::string::npos);

  // The current key named as a previous one too: a mistake in the steps, refused.
  write_config(key_b, {key_b});
  EXPECT_EQ(reload(), "failed") << tail(daemon_->log());

  // A fresh key C and no previous key: refused, the old configuration kept.
  const std::string key_c = dir_.file("master-c.key");
  write_random_key(key_c);
  write_config(key_c);
  EXPECT_EQ(reload(), "failed") << tail(daemon_->log());
  EXPECT_EQ(injected(bob), "Bearer " + kAcme);
  EXPECT_EQ(injected(dave), "Bearer " + kGlobex);
  auto refused = audit("config.reload_failed");
  ASSERT_EQ(refused.size(), 2u);
  EXPECT_NE(refused[0]["detail"].get<std::string>().find("[keys]"), std::string::npos) << refused.dump();

  // Restart with B only, A destroyed: the same cookies still sign in, the values are the same.
  write_config(key_b);
  stop_daemon();
  ASSERT_TRUE(std::filesystem::remove(key_a));
  start();
  EXPECT_EQ(injected(bob), "Bearer " + kAcme);
  EXPECT_EQ(injected(dave), "Bearer " + kGlobex);
  auto who = get(bob, "/.gatehouse/whoami");
  ASSERT_TRUE(who);
  EXPECT_EQ(who->status, 200) << who->body;
  auto others = versions("acme");
  EXPECT_EQ(others, (std::map<std::string, int>{{"api-token", 1}, {"other-secret", 1}}));
}

// 7. No plaintext at rest or in a log, after every kind of activity, with the most
// talkative logging; the upstream did get the values, so they were there to leak.
TEST_F(VaultTest, PlaintextIsNeverAtRestNorInALogNorInACliAnswer) {
  write_config("", {}, "[log]\nlevel = \"debug\"\naccess_log = true\n");
  set_secret("acme", "api-token", kAcme);
  set_secret("globex", "api-token", kGlobex);
  set_secret("acme", "partner-key", kPartner);
  ASSERT_EQ(cli({"secret", "rotate-key", "--tenant", "acme"}).exit_code, 0);
  start();
  Jar ann = login("ann"), dave = login("dave");
  EXPECT_EQ(injected(ann), "Bearer " + kAcme);
  EXPECT_EQ(injected(ann, "/partner/p", "X-Api-Token"), kPartner);
  EXPECT_EQ(injected(dave), "Bearer " + kGlobex);
  EXPECT_EQ(injected(dave, "/partner/p", "X-Api-Token"), "<403>");
  // One by the page, one replaced by the CLI while the daemon runs.
  auto stored = post(ann, "/.gatehouse/secrets",
                     {{"tenant", "acme"}, {"name", "page-token"}, {"value", kPage},
                      {"csrf", token(ann, "/.gatehouse/secrets")}});
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->status, 303) << stored->body;
  set_secret("acme", "api-token", kAcme2);
  std::set<std::string> seen;
  EXPECT_GE(await_value(ann, "Bearer " + kAcme2, seen).count(), 0);
  // A master key change and a re-wrap.
  const std::string key_b = dir_.file("master-b.key");
  write_random_key(key_b);
  write_config(key_b, {dir_.file("master.key")}, "[log]\nlevel = \"debug\"\naccess_log = true\n");
  EXPECT_EQ(reload(), "reloaded") << tail(daemon_->log());
  ASSERT_EQ(cli({"keys", "rewrap"}).exit_code, 0);
  set_secret("acme", "other-secret", kOther);
  EXPECT_EQ(injected(ann, "/partner/p", "X-Api-Token"), kPartner);
  // Refused values are not repeated back either, by the page or the command.
  auto refused = post(ann, "/.gatehouse/secrets",
                      {{"tenant", "acme"}, {"name", "bad-one"}, {"value", kRefused + "\x01"},
                       {"csrf", token(ann, "/.gatehouse/secrets")}});
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 400);
  EXPECT_EQ(refused->body.find(kRefused), std::string::npos);
  EXPECT_EQ(cli({"secret", "set", "--tenant", "acme", "bad-one"}, kRefused + "\x01\n").exit_code, 2);
  EXPECT_EQ(cli({"secret", "set", "--tenant", "acme", "bad-one"}, kRefused + std::string(9000, 'x')).exit_code, 2);
  for (const char* t : {"acme", "globex"}) cli({"secret", "list", "--tenant", t});
  cli({"audit", "list"});
  cli({"audit", "list", "--json"});
  ASSERT_TRUE(daemon_->wait_for_log("event=http.access"));

  // The values went where they belong, and the store is where these tests look.
  const std::string state = state_bytes();
  EXPECT_NE(state.find("page-token"), std::string::npos);
  EXPECT_NE(state.find("partner-key"), std::string::npos);
  expect_no_plaintext("with the daemon running");
  stop_daemon();
  expect_no_plaintext("after the daemon stopped");
}

// 8. The daemon cannot be dumped: started as an unprivileged user, its /proc files
// belong to root and its core size limit is 0. A dumpable process of that user, started
// the same way, shows the difference.
TEST_F(VaultTest, TheDaemonIsNotDumpable) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root, to start processes as nobody";
  if (::access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "needs /usr/bin/setpriv";
  const passwd* nobody = ::getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  const uid_t uid = nobody->pw_uid;
  const gid_t gid = nobody->pw_gid;
  ASSERT_EQ(::chown(dir_.path().c_str(), uid, gid), 0);
  for (const auto& e : std::filesystem::directory_iterator(dir_.path()))
    ASSERT_EQ(::chown(e.path().c_str(), uid, gid), 0) << e.path();
  const std::vector<std::string> as_nobody = {"/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup",
                                              "--clear-groups"};

  auto real_uid = [](pid_t pid) -> long {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
      if (line.rfind("Uid:", 0) == 0) return std::stol(line.substr(4));
    return -1;
  };
  auto owner = [](pid_t pid) -> long {
    struct stat st {};
    if (::stat(("/proc/" + std::to_string(pid) + "/status").c_str(), &st) != 0) return -1;
    return static_cast<long>(st.st_uid);
  };

  // The control: `sleep` as nobody is dumpable, so its /proc files are nobody's.
  {
    std::vector<std::string> args = as_nobody;
    args.insert(args.end(), {"/bin/sleep", "30"});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    ASSERT_EQ(::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);
    long seen_uid = -1, seen_owner = -1;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      seen_uid = real_uid(pid);
      seen_owner = owner(pid);
      if (seen_uid == static_cast<long>(uid) && seen_owner == static_cast<long>(uid)) break;
      std::this_thread::sleep_for(10ms);
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    EXPECT_EQ(seen_uid, static_cast<long>(uid));
    EXPECT_EQ(seen_owner, static_cast<long>(uid)) << "the control process's /proc files are not its user's";
  }

  start(as_nobody);
  const pid_t pid = daemon_->pid();
  EXPECT_EQ(real_uid(pid), static_cast<long>(uid));
  EXPECT_EQ(owner(pid), 0) << "/proc/PID of the daemon belongs to its user: it is dumpable";
  const std::string limits = read_file("/proc/" + std::to_string(pid) + "/limits");
  EXPECT_TRUE(std::regex_search(limits, std::regex(R"(Max core file size\s+0\s+0\s)"))) << limits;
  // It does serve, as that user: the store and the key are its own.
  auto health = client().Get("/.gatehouse/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  struct stat st {};
  ASSERT_EQ(::stat(dir_.file("gatehouse.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uid);

  // An admin command too: `secret set` as nobody, waiting for its value on a pipe.
  int in[2];
  ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> args = as_nobody;
  args.insert(args.end(), {GATEHOUSE_BINARY, "--config", config_path(), "secret", "set", "--tenant", "acme", "waiting"});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t cli_pid = -1;
  const int spawned = ::posix_spawn(&cli_pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(in[0]);
  ASSERT_EQ(spawned, 0);
  // Once it runs gatehouse as nobody (setpriv is done), its /proc files must be root's.
  bool exec_done = false;
  long cli_owner = -1;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string cmdline = read_file("/proc/" + std::to_string(cli_pid) + "/cmdline");
    exec_done = cmdline.find("secret") != std::string::npos && cmdline.rfind("/usr/bin/setpriv", 0) != 0 &&
                real_uid(cli_pid) == static_cast<long>(uid);
    cli_owner = owner(cli_pid);
    if (exec_done && cli_owner == 0) break;
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(exec_done);
  EXPECT_EQ(cli_owner, 0) << "`gatehouse secret set` is dumpable";
  const std::string value = "waiting-value\n";
  EXPECT_EQ(::write(in[1], value.data(), value.size()), static_cast<ssize_t>(value.size()));
  ::close(in[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(cli_pid, &status, 0), cli_pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(versions("acme"), (std::map<std::string, int>{{"waiting", 1}}));
}

// 9. The page: a tenant's superuser lists, stores and removes; nobody else can; no change
// without the form's token; bad input is a 400 with the page; the value is never shown.
TEST_F(VaultTest, SuperusersManageSecretsOnThePageAndNobodyElse) {
  set_secret("acme", "api-token", kAcme);
  // eve is in a group named like acme's superuser group, but in globex; carol acts for acme.
  add_user("eve", "globex", "eve@globex.example", {"acme-admins"});
  ASSERT_EQ(cli({"delegation", "grant", "--tenant", "acme", "--email", "carol@globex.example"}).exit_code, 0);
  start();
  Jar ann = login("ann"), bob = login("bob"), carol = login("carol"), eve = login("eve");
  auto switched = switch_to(carol, "acme");
  ASSERT_TRUE(switched);
  ASSERT_EQ(switched->status, 303);
  std::vector<std::string> bodies;  // every page shown: none holds a value
  auto page = get(ann, "/.gatehouse/secrets", {{"Accept", "text/html"}});
  ASSERT_TRUE(page);
  ASSERT_EQ(page->status, 200) << page->body;
  bodies.push_back(page->body);
  EXPECT_NE(page->body.find("Acme Ltd"), std::string::npos);
  EXPECT_NE(page->body.find("api-token"), std::string::npos);
  EXPECT_EQ(page->body.find("Globex Consulting"), std::string::npos);
  const std::string csrf = form_csrf_token(page->body);
  ASSERT_FALSE(csrf.empty());
  const auto before = versions("acme");

  // Refused outright: no token, a forged one, another tenant, someone who is no superuser.
  auto expect_refused = [&](Jar& jar, const std::string& path, const httplib::Params& p, int status) {
    auto r = post(jar, path, p);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << path << " " << r->body;
    bodies.push_back(r->body);
  };
  expect_refused(ann, "/.gatehouse/secrets", {{"tenant", "acme"}, {"name", "stolen"}, {"value", kPage}}, 403);
  expect_refused(ann, "/.gatehouse/secrets",
                 {{"tenant", "acme"}, {"name", "stolen"}, {"value", kPage}, {"csrf", "forged"}}, 403);
  expect_refused(ann, "/.gatehouse/secrets",
                 {{"tenant", "acme"}, {"name", "stolen"}, {"value", kPage}, {"csrf", csrf + "x"}}, 403);
  expect_refused(ann, "/.gatehouse/secrets/remove", {{"tenant", "acme"}, {"name", "api-token"}}, 403);
  expect_refused(ann, "/.gatehouse/secrets/remove",
                 {{"tenant", "acme"}, {"name", "api-token"}, {"csrf", "forged"}}, 403);
  expect_refused(ann, "/.gatehouse/secrets",
                 {{"tenant", "globex"}, {"name", "stolen"}, {"value", kPage}, {"csrf", csrf}}, 403);
  expect_refused(ann, "/.gatehouse/secrets",
                 {{"tenant", "nosuch"}, {"name", "stolen"}, {"value", kPage}, {"csrf", csrf}}, 403);
  // Another browser's token does not do for ann's.
  const std::string bob_token = token(bob, "/.gatehouse/login");
  ASSERT_FALSE(bob_token.empty());
  expect_refused(ann, "/.gatehouse/secrets",
                 {{"tenant", "acme"}, {"name", "stolen"}, {"value", kPage}, {"csrf", bob_token}}, 403);
  for (Jar* jar : {&bob, &carol, &eve}) {
    auto r = get(*jar, "/.gatehouse/secrets", {{"Accept", "text/html"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);
    bodies.push_back(r->body);
    const std::string t = token(*jar, "/.gatehouse/login");
    ASSERT_FALSE(t.empty());
    expect_refused(*jar, "/.gatehouse/secrets",
                   {{"tenant", "acme"}, {"name", "stolen"}, {"value", kPage}, {"csrf", t}}, 403);
    expect_refused(*jar, "/.gatehouse/secrets/remove", {{"tenant", "acme"}, {"name", "api-token"}, {"csrf", t}}, 403);
  }
  EXPECT_EQ(versions("acme"), before);
  EXPECT_EQ(audit("secret.set").size(), 1u);  // the CLI's only

  // Bad input: 400, the page with a message, nothing stored, the value not echoed.
  struct Bad {
    std::string name, value;
  };
  const std::vector<Bad> bad = {{"", kPage},          {"bad name", kPage},       {"-lead", kPage},
                                {"a/b", kPage},       {std::string(65, 'n'), kPage}, {"fine-name", ""},
                                {"fine-name", "line\r\nbreak"}, {"fine-name", "nul\x01" + kPage},
                                {"fine-name", std::string(8193, 'v')}};
  for (const auto& b : bad) {
    auto r = post(ann, "/.gatehouse/secrets", {{"tenant", "acme"}, {"name", b.name}, {"value", b.value}, {"csrf", csrf}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << ::testing::PrintToString(b.name) << " " << b.value.size() << " " << r->body;
    EXPECT_NE(r->body.find("class=\"error\""), std::string::npos) << r->body;
    EXPECT_NE(r->body.find("Store a secret"), std::string::npos);
    EXPECT_EQ(r->body.find("vvvvvvvvvv"), std::string::npos);
    bodies.push_back(r->body);
  }
  EXPECT_EQ(versions("acme"), before);

  // Stored, replaced and removed by ann.
  auto stored = post(ann, "/.gatehouse/secrets", {{"tenant", "acme"}, {"name", "page-token"}, {"value", kPage}, {"csrf", csrf}});
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->status, 303) << stored->body;
  EXPECT_EQ(stored->get_header_value("Location"), "/.gatehouse/secrets?stored=page-token");
  bodies.push_back(stored->body);
  auto replaced = post(ann, "/.gatehouse/secrets", {{"tenant", "acme"}, {"name", "api-token"}, {"value", kAcme2}, {"csrf", csrf}});
  ASSERT_TRUE(replaced);
  EXPECT_EQ(replaced->status, 303) << replaced->body;
  bodies.push_back(replaced->body);
  EXPECT_EQ(versions("acme"), (std::map<std::string, int>{{"api-token", 2}, {"page-token", 1}}));
  auto rows = list("acme");
  for (const auto& row : rows) EXPECT_EQ(row["updated_by"], "local:ann") << rows.dump();
  std::set<std::string> seen;
  EXPECT_GE(await_value(bob, "Bearer " + kAcme2, seen).count(), 0) << joined({seen.begin(), seen.end()});
  auto after = get(ann, "/.gatehouse/secrets?stored=page-token", {{"Accept", "text/html"}});
  ASSERT_TRUE(after);
  EXPECT_NE(after->body.find("page-token"), std::string::npos);
  EXPECT_NE(after->body.find("was stored"), std::string::npos);
  bodies.push_back(after->body);

  auto removed = post(ann, "/.gatehouse/secrets/remove", {{"tenant", "acme"}, {"name", "api-token"}, {"csrf", csrf}});
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->status, 303) << removed->body;
  EXPECT_EQ(versions("acme"), (std::map<std::string, int>{{"page-token", 1}}));
  seen.clear();
  EXPECT_GE(await_value(bob, "<403>", seen).count(), 0) << joined({seen.begin(), seen.end()});
  auto gone = post(ann, "/.gatehouse/secrets/remove", {{"tenant", "acme"}, {"name", "api-token"}, {"csrf", csrf}});
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 404);
  bodies.push_back(gone->body);
  // Audited as ann's, without values.
  auto sets = audit("secret.set");
  ASSERT_EQ(sets.size(), 3u);
  EXPECT_EQ(sets[0]["user"], "ann");
  ASSERT_EQ(audit("secret.removed").size(), 1u);
  for (const auto& body : bodies)
    for (const auto& v : {kAcme, kAcme2, kPage}) EXPECT_EQ(body.find(v), std::string::npos) << body;
}

// The page's value field takes 8192 characters, as the CLI does; characters a form sends
// percent-encoded (three bytes each) must not make a value the CLI accepts too big for
// the page.
TEST_F(VaultTest, ThePageTakesTheLongestValueTheCliTakes) {
  std::string value;
  while (value.size() < 8192) value += "k=v; ";
  value.resize(8192);
  start();
  Jar ann = login("ann");
  const std::string csrf = token(ann, "/.gatehouse/secrets");
  auto stored = post(ann, "/.gatehouse/secrets", {{"tenant", "acme"}, {"name", "long-one"}, {"value", value}, {"csrf", csrf}});
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->status, 303) << tail(stored->body, 200);
  auto by_cli = cli({"secret", "set", "--tenant", "acme", "long-one"}, value + "\n");
  EXPECT_EQ(by_cli.exit_code, 0) << by_cli.err;
  EXPECT_EQ(versions("acme"), (std::map<std::string, int>{{"long-one", 2}}));
}

}  // namespace
}  // namespace gatehouse::testing::vault_it
