// Delegation end to end: the real gatehouse, a real SMTP server (aiosmtpd), real HTTP.
// Tenants, superusers, grant/list/revoke by CLI and by page, the switch and its e-mails,
// the effective party on every route, expiry and revocation on the next request, the
// choice kept across logins and restarts, the banner in HTML pages, usage counts.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "common/encoding.h"
#include "config/config.h"
#include "integration/harness.h"
#include "integration/smtp_server.h"

namespace gatehouse::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kPage = "<!DOCTYPE html><html><head><title>App</title></head><body class=\"app\"><h1>Orders</h1></body></html>";

// An application with HTML, JSON and image answers, framed in different ways.
class AppUpstream {
 public:
  AppUpstream() {
    server_.Get("/html/cl", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Content-Security-Policy", "default-src 'self'");
      res.set_content(kPage, "text/html; charset=utf-8");
    });
    server_.Get("/html/chunked", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/html", [](size_t, httplib::DataSink& sink) {
        const std::string page = kPage;
        // The body tag split over two chunks.
        const auto cut = page.find("<body") + 3;
        sink.write(page.data(), cut);
        sink.write(page.data() + cut, page.size() - cut);
        sink.done();
        return true;
      });
    });
    server_.Get("/html/gzip", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mu_);
        accept_encodings_.push_back(req.get_header_value("Accept-Encoding"));
      }
      if (req.get_header_value("Accept-Encoding").find("gzip") != std::string::npos) {
        res.set_header("Content-Encoding", "gzip");
        res.set_content(gzipped(), "text/html");
      } else {
        res.set_content(kPage, "text/html");
      }
    });
    server_.Get("/html/always-gzip", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Content-Encoding", "gzip");
      res.set_content(gzipped(), "text/html");
    });
    server_.Get("/html/data.json", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"html":"<body>not a page</body>"})", "application/json");
    });
    server_.Get("/html/image.png", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string("\x89PNG\r\n\x1a\n<body>", 14), "image/png");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~AppUpstream() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> accept_encodings() const {
    std::lock_guard lock(mu_);
    return accept_encodings_;
  }
  // A gzip member of kPage (RFC 1952), made once with python3's gzip module.
  static const std::string& gzipped() {
    static const std::string bytes = [] {
      std::string out;
      TempDir dir;
      {
        std::ofstream f(dir.file("page.html"), std::ios::binary);
        f << kPage;
      }
      const std::string cmd = "python3 -c \"import gzip,sys; sys.stdout.buffer.write(gzip.compress(open(sys.argv[1],'rb').read(), mtime=0))\" " +
                              dir.file("page.html");
      FILE* g = ::popen(cmd.c_str(), "r");
      if (!g) return out;
      char buf[4096];
      std::size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, g)) > 0) out.append(buf, n);
      ::pclose(g);
      return out;
    }();
    return bytes;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mu_;
  std::vector<std::string> accept_encodings_;
};

using Jar = SessionJar;

bool empty_or_absent(const std::string& v) { return v.empty() || v == "<absent>"; }

json assertion_claims(const std::string& jwt) {
  const auto a = jwt.find('.');
  const auto b = jwt.find('.', a + 1);
  if (a == std::string::npos || b == std::string::npos) return {};
  auto payload = base64url_decode(jwt.substr(a + 1, b - a - 1));
  if (!payload) return {};
  return json::parse(*payload, nullptr, false);
}

class DelegationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(smtp_.start({}, &error)) << error;
    write_config();
    add_user("ann", "acme", "ann@acme.example", {"acme-admins"});
    add_user("boss", "acme", "boss@acme.example", {});
    add_user("carol", "globex", "Carol@Globex.Example", {"consultants"});
    add_user("dave", "globex", "dave@globex.example", {});
    ASSERT_EQ(cli({"tenant", "superuser", "add", "acme", "local:boss"}).exit_code, 0);
    start();
  }
  void TearDown() override {
    if (daemon_) {
      EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
    }
  }

  void write_config(const std::string& smtp_url = "") {
    std::ofstream out(config_path());
    out << "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"http://gatehouse.test\"\n\n"
        << "[store]\npath = \"" << dir_.file("gatehouse.db") << "\"\n\n"
        << "[keys]\nmaster_key_file = \"" << dir_.file("master.key") << "\"\n\n"
        << "[smtp]\nurl = \"" << (smtp_url.empty() ? smtp_.url() : smtp_url) << "\"\nstarttls = false\n"
        << "from = \"gatehouse <gatehouse@gatehouse.test>\"\ntimeout = \"5s\"\n\n"
        << "[[directory]]\nname = \"local\"\nkind = \"local\"\n\n"
        << "[[tenant]]\nname = \"acme\"\ndisplay_name = \"Acme Ltd\"\nsuperuser_groups = [\"acme-admins\"]\n"
        << "language = \"nl\"\n\n"
        << "[[tenant]]\nname = \"globex\"\ndisplay_name = \"Globex Consulting\"\n\n"
        << "[[route]]\npath_prefix = \"/acme-only\"\nupstream = \"" << echo_.url() << "\"\ntenants = [\"acme\"]\n\n"
        << "[[route]]\npath_prefix = \"/html\"\nupstream = \"" << app_.url() << "\"\n\n"
        << "[[route]]\npath_prefix = \"/plain-html\"\nupstream = \"" << app_.url() << "/html\"\nbanner = false\n\n"
        << "[[route]]\npath_prefix = \"/\"\nupstream = \"" << echo_.url() << "\"\n";
  }

  void add_user(const std::string& name, const std::string& tenant, const std::string& email,
                const std::vector<std::string>& groups) {
    std::vector<std::string> args{"user", "add", name, "--tenant", tenant, "--email", email, "--password-stdin"};
    for (const auto& g : groups) args.insert(args.end(), {"--group", g});
    auto r = cli(args, name + "-password\n");
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  void start() {
    daemon_ = std::make_unique<Daemon>(std::vector<std::string>{"serve", "--config", config_path()});
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
  }

  std::string config_path() const { return dir_.file("gatehouse.toml"); }

  CommandResult cli(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {"--config", config_path()});
    return run_gatehouse(args, input);
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
    EXPECT_FALSE(jar.session.empty()) << why;
    return jar;
  }

  httplib::Result get(Jar& jar, const std::string& path, httplib::Headers extra = {}) {
    return jar_get(daemon_->port(), jar, path, std::move(extra));
  }

  httplib::Result post(Jar& jar, const std::string& path, httplib::Params params) {
    return client().Post(path, {{"Cookie", jar.header()}}, params);
  }

  std::string token(Jar& jar, const std::string& page = "/.gatehouse/parties") {
    auto res = get(jar, page, {{"Accept", "text/html"}});
    EXPECT_TRUE(res && res->status == 200) << (res ? res->body : "no answer");
    return res ? form_csrf_token(res->body) : std::string();
  }

  httplib::Result switch_to(Jar& jar, const std::string& party, const std::string& rd = "/somewhere") {
    return post(jar, "/.gatehouse/parties/switch", {{"party", party}, {"csrf", token(jar)}, {"rd", rd}});
  }

  json echo(Jar& jar, const std::string& path = "/") {
    auto res = get(jar, path);
    EXPECT_TRUE(res && res->status == 200) << path << ": " << (res ? std::to_string(res->status) + res->body : "");
    return res ? json::parse(res->body, nullptr, false) : json{};
  }

  static std::string header(const json& echoed, const std::string& name) {
    if (!echoed.is_object() || !echoed.contains("headers")) return "<absent>";
    for (auto& [k, v] : echoed["headers"].items())
      if (strcasecmp(k.c_str(), name.c_str()) == 0) return v[0].get<std::string>();
    return "<absent>";
  }

  std::int64_t grant(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"delegation", "grant", "--tenant", "acme", "--email", "carol@globex.example"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return std::atoll(r.out.c_str());
  }

  TempDir dir_;
  SmtpServer smtp_;
  EchoUpstream echo_;
  AppUpstream app_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(DelegationTest, CliGrantsListsAndRevokesAndTheDelegateIsInvited) {
  const auto id = grant();
  ASSERT_GT(id, 0);
  auto list = cli({"delegation", "list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  auto rows = json::parse(list.out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["id"], id);
  EXPECT_EQ(rows[0]["tenant"], "acme");
  EXPECT_EQ(rows[0]["email"], "carol@globex.example");
  EXPECT_EQ(rows[0]["granted_by"], "cli");
  EXPECT_EQ(rows[0]["state"], "active");
  EXPECT_TRUE(rows[0]["revoked"].is_null());
  // One week by default.
  auto until = config::parse_rfc3339(rows[0]["until"].get<std::string>());
  auto created = config::parse_rfc3339(rows[0]["created"].get<std::string>());
  ASSERT_TRUE(until && created);
  EXPECT_EQ(*until - *created, 7 * 86400);

  ASSERT_TRUE(smtp_.wait_for(1, 10000)) << daemon_->log();
  auto invite = smtp_.messages()[0];
  EXPECT_EQ(invite["rcpt_tos"][0], "carol@globex.example");
  EXPECT_NE(invite["body"].get<std::string>().find("Acme Ltd"), std::string::npos) << invite["body"];
  EXPECT_NE(invite["body"].get<std::string>().find("http://gatehouse.test/"), std::string::npos);

  EXPECT_EQ(cli({"delegation", "list", "--email", "CAROL@globex.example"}).out.find("carol@globex.example") !=
                std::string::npos,
            true);
  auto revoked = cli({"delegation", "revoke", std::to_string(id)});
  EXPECT_EQ(revoked.exit_code, 0) << revoked.err;
  rows = json::parse(cli({"delegation", "list", "--json", "--tenant", "acme"}).out);
  EXPECT_EQ(rows[0]["state"], "revoked");
  EXPECT_FALSE(rows[0]["revoked"].is_null());
  EXPECT_EQ(json::parse(cli({"delegation", "list", "--json", "--tenant", "globex"}).out).size(), 0u);
}

TEST_F(DelegationTest, CliRefusesBadGrantsAndStoresNothing) {
  const std::vector<std::vector<std::string>> bad = {
      {"--tenant", "acme", "--email", "not-an-address"},
      {"--tenant", "acme", "--email", "carol@globex.example\r\nBcc: x@y.example"},
      {"--tenant", "acme", "--email", ""},
      {"--tenant", "nosuch", "--email", "carol@globex.example"},
      {"--tenant", "acme", "--email", "carol@globex.example", "--until", "2001-01-01T00:00:00Z"},
      {"--tenant", "acme", "--email", "carol@globex.example", "--until", "next week"},
      {"--tenant", "acme", "--email", "carol@globex.example", "--until", "2099-02-30T00:00:00Z"},
      {"--tenant", "acme", "--email", "carol@globex.example", "--until", "2099-01-01T00:00:00Z", "--no-end"},
      {"--email", "carol@globex.example"},
  };
  for (auto args : bad) {
    args.insert(args.begin(), {"delegation", "grant"});
    auto r = cli(args);
    EXPECT_EQ(r.exit_code, 2) << ::testing::PrintToString(args) << r.out << r.err;
    EXPECT_FALSE(r.err.empty());
  }
  EXPECT_EQ(json::parse(cli({"delegation", "list", "--json"}).out).size(), 0u);
  for (const char* id : {"0", "-1", "abc", "99999"}) {
    auto r = cli({"delegation", "revoke", id});
    EXPECT_EQ(r.exit_code, 2) << id << r.err;
  }
  auto outbox = cli({"outbox", "list", "--json"});
  EXPECT_EQ(outbox.exit_code, 0);
  EXPECT_EQ(json::parse(outbox.out).size(), 0u);
}

TEST_F(DelegationTest, TheSwitchHoldsOnEveryRouteAndEmailsEachSuperuserOfTheDelegatingTenant) {
  const auto id = grant({"--no-end"});
  Jar carol = login("carol");
  EXPECT_EQ(get(carol, "/acme-only")->status, 403);  // the wall: not acting for acme yet

  auto parties = get(carol, "/.gatehouse/parties", {{"Accept", "application/json"}});
  ASSERT_EQ(parties->status, 200);
  auto pj = json::parse(parties->body);
  EXPECT_EQ(pj["real_party"], "globex");
  EXPECT_EQ(pj["effective_party"], "globex");
  ASSERT_EQ(pj["parties"].size(), 2u);
  EXPECT_EQ(pj["parties"][1]["party"], "acme");
  EXPECT_EQ(pj["parties"][1]["display_name"], "Acme Ltd");
  EXPECT_EQ(pj["parties"][1]["delegation"], std::to_string(id));
  EXPECT_EQ(pj["parties"][1]["until"], "");

  auto switched = switch_to(carol, "acme", "/after?x=1");
  ASSERT_TRUE(switched);
  EXPECT_EQ(switched->status, 303) << switched->body;
  EXPECT_EQ(switched->get_header_value("Location"), "/after?x=1");

  for (const char* path : {"/", "/acme-only", "/other/app"}) {
    auto e = echo(carol, path);
    EXPECT_EQ(header(e, "X-Gatehouse-Effective-Party"), "acme") << path;
    EXPECT_EQ(header(e, "X-Gatehouse-Real-Party"), "globex") << path;
    EXPECT_EQ(header(e, "X-Gatehouse-Delegation"), std::to_string(id)) << path;
    // Sent empty (no end); the test upstream drops empty header values.
    EXPECT_TRUE(empty_or_absent(header(e, "X-Gatehouse-Delegation-Until"))) << path;
    auto claims = assertion_claims(header(e, "X-Gatehouse-Assertion"));
    EXPECT_EQ(claims["effective_party"], "acme");
    EXPECT_EQ(claims["real_party"], "globex");
    EXPECT_EQ(claims["delegation"], std::to_string(id));
  }
  auto who = json::parse(get(carol, "/.gatehouse/whoami")->body);
  EXPECT_EQ(who["effective_party"], "acme");
  EXPECT_EQ(who["real_party"], "globex");
  EXPECT_EQ(who["delegation"], std::to_string(id));

  // ann (by group) and boss (named) are told, in Dutch (acme's language); nobody else.
  ASSERT_TRUE(smtp_.wait_for(3, 10000)) << daemon_->log();
  std::set<std::string> to;
  for (const auto& m : smtp_.messages()) to.insert(m["rcpt_tos"][0].get<std::string>());
  EXPECT_EQ(to, (std::set<std::string>{"carol@globex.example", "ann@acme.example", "boss@acme.example"}));

  // Back to the own tenant: the wall closes again and the superusers are told.
  auto back = switch_to(carol, "globex");
  EXPECT_EQ(back->status, 303);
  EXPECT_EQ(get(carol, "/acme-only")->status, 403);
  EXPECT_TRUE(empty_or_absent(header(echo(carol), "X-Gatehouse-Delegation")));
  ASSERT_TRUE(smtp_.wait_for(5, 10000));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(smtp_.messages().size(), 5u);
  auto audit = cli({"audit", "list", "--event", "party.switched", "--json"});
  EXPECT_EQ(json::parse(audit.out).size(), 2u) << audit.out;
}

TEST_F(DelegationTest, ASwitchWithoutDelegationOrWithoutCsrfIsRefusedAndChangesNothing) {
  grant();
  ASSERT_TRUE(smtp_.wait_for(1, 10000)) << daemon_->log();  // the invitation
  Jar dave = login("dave");
  // dave's switcher has no form (nothing to switch to): the token comes from the sign-in
  // form of the same browser, so these are refused for want of a delegation, not of a token.
  const std::string dave_token = token(dave, "/.gatehouse/login");
  ASSERT_FALSE(dave_token.empty());
  for (const char* party : {"acme", "nosuch", "", "ACME"}) {
    auto r = post(dave, "/.gatehouse/parties/switch", {{"party", party}, {"csrf", dave_token}, {"rd", "/"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403) << party;
    EXPECT_NE(r->body.find("no active delegation"), std::string::npos) << party << r->body;
  }
  Jar carol = login("carol");
  for (const std::string& csrf : {std::string(), std::string("forged"), dave_token}) {
    auto r = post(carol, "/.gatehouse/parties/switch", {{"party", "acme"}, {"csrf", csrf}, {"rd", "/"}});
    EXPECT_EQ(r->status, 403) << csrf;
    EXPECT_NE(r->body.find("Form expired"), std::string::npos) << r->body;
  }
  EXPECT_EQ(header(echo(carol), "X-Gatehouse-Effective-Party"), "globex");
  EXPECT_EQ(header(echo(dave), "X-Gatehouse-Effective-Party"), "globex");
  // Without a session: the sign-in page, or 401.
  auto anon = client().Post("/.gatehouse/parties/switch", "party=acme", "application/x-www-form-urlencoded");
  EXPECT_EQ(anon->status, 401);
  EXPECT_EQ(client().Get("/.gatehouse/parties", {{"Accept", "text/html"}})->status, 302);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(smtp_.messages().size(), 1u);  // the invitation only
}

TEST_F(DelegationTest, OnlySuperusersUseTheDelegationsPage) {
  Jar carol = login("carol");
  EXPECT_EQ(get(carol, "/.gatehouse/delegations")->status, 403);
  auto refused = post(carol, "/.gatehouse/delegations",
                      {{"tenant", "acme"}, {"email", "x@y.example"}, {"csrf", token(carol)}});
  EXPECT_EQ(refused->status, 403);

  Jar ann = login("ann");
  auto page = get(ann, "/.gatehouse/delegations");
  ASSERT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("Acme Ltd"), std::string::npos);
  EXPECT_EQ(page->body.find("Globex Consulting</h2>"), std::string::npos);
  const std::string csrf = form_csrf_token(page->body);
  // Bad input: the page again with a message, nothing stored.
  for (const auto& [email, until] : std::vector<std::pair<std::string, std::string>>{
           {"nope", ""}, {"carol@globex.example", "31-12-2099"}, {"carol@globex.example", "2001-01-01"}}) {
    auto r = post(ann, "/.gatehouse/delegations", {{"tenant", "acme"}, {"email", email}, {"until", until}, {"csrf", csrf}});
    EXPECT_EQ(r->status, 400) << email << " " << until;
  }
  // ann is no superuser of globex.
  EXPECT_EQ(post(ann, "/.gatehouse/delegations", {{"tenant", "globex"}, {"email", "a@b.example"}, {"csrf", csrf}})->status,
            403);
  EXPECT_EQ(post(ann, "/.gatehouse/delegations", {{"tenant", "acme"}, {"email", "a@b.example"}, {"csrf", "x"}})->status,
            403);
  EXPECT_EQ(json::parse(cli({"delegation", "list", "--json"}).out).size(), 0u);

  auto granted = post(ann, "/.gatehouse/delegations",
                      {{"tenant", "acme"}, {"email", "Carol@Globex.example"}, {"until", "2099-12-31"}, {"csrf", csrf}});
  ASSERT_EQ(granted->status, 303) << granted->body;
  auto rows = json::parse(cli({"delegation", "list", "--json"}).out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["granted_by"], "local:ann");
  EXPECT_EQ(rows[0]["until"], "2099-12-31T23:59:59Z");
  const std::string id = std::to_string(rows[0]["id"].get<int>());

  // carol cannot revoke it; boss (named superuser) can.
  EXPECT_EQ(post(carol, "/.gatehouse/delegations/" + id + "/revoke", {{"csrf", token(carol)}})->status, 403);
  Jar boss = login("boss");
  const std::string boss_csrf = token(boss, "/.gatehouse/delegations");
  EXPECT_EQ(post(boss, "/.gatehouse/delegations/999999/revoke", {{"csrf", boss_csrf}})->status, 404);
  EXPECT_EQ(post(boss, "/.gatehouse/delegations/x/revoke", {{"csrf", boss_csrf}})->status, 404);
  auto revoked = post(boss, "/.gatehouse/delegations/" + id + "/revoke", {{"csrf", boss_csrf}});
  EXPECT_EQ(revoked->status, 303);
  EXPECT_EQ(json::parse(cli({"delegation", "list", "--json"}).out)[0]["state"], "revoked");
}

TEST_F(DelegationTest, ARevokeFromTheCliIsSeenWithinOneSecondAndToldOnce) {
  const auto id = grant();
  Jar carol = login("carol");
  ASSERT_EQ(switch_to(carol, "acme")->status, 303);
  EXPECT_EQ(header(echo(carol), "X-Gatehouse-Effective-Party"), "acme");
  ASSERT_EQ(cli({"delegation", "revoke", std::to_string(id)}).exit_code, 0);
  const auto revoked_at = std::chrono::steady_clock::now();
  std::string party;
  while (std::chrono::steady_clock::now() - revoked_at < 3s) {
    party = header(echo(carol), "X-Gatehouse-Effective-Party");
    if (party == "globex") break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(party, "globex");
  EXPECT_LE(std::chrono::steady_clock::now() - revoked_at, 1500ms);
  // Told once, on the next page.
  auto first = get(carol, "/html/cl");
  EXPECT_NE(first->body.find("gatehouse-banner-notice"), std::string::npos) << first->body;
  std::this_thread::sleep_for(300ms);
  auto second = get(carol, "/html/cl");
  EXPECT_EQ(second->body, kPage);
}

TEST_F(DelegationTest, TheEndOfADelegationIsEnforcedOnTheNextRequest) {
  const auto until = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() + 3;
  grant({"--until", config::format_rfc3339(until)});
  Jar carol = login("carol");
  ASSERT_EQ(switch_to(carol, "acme")->status, 303);
  auto e = echo(carol);
  EXPECT_EQ(header(e, "X-Gatehouse-Delegation-Until"), config::format_rfc3339(until));
  EXPECT_LE(assertion_claims(header(e, "X-Gatehouse-Assertion"))["exp"].get<std::int64_t>(), until);
  while (std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() < until)
    std::this_thread::sleep_for(100ms);
  EXPECT_EQ(header(echo(carol), "X-Gatehouse-Effective-Party"), "globex");
  EXPECT_EQ(get(carol, "/acme-only")->status, 403);
  // In, then out (automatic): two e-mails to each of the two superusers, plus the invitation.
  ASSERT_TRUE(smtp_.wait_for(5, 10000)) << daemon_->log();
  EXPECT_TRUE(daemon_->wait_for_log("delegation.expired")) << daemon_->log();
}

TEST_F(DelegationTest, TheChoiceOutlivesLogoutLoginAndARestart) {
  grant();
  Jar carol = login("carol");
  ASSERT_EQ(switch_to(carol, "acme")->status, 303);
  ASSERT_EQ(post(carol, "/.gatehouse/logout", {})->status, 303);
  Jar again = login("carol");
  EXPECT_EQ(header(echo(again), "X-Gatehouse-Effective-Party"), "acme");
  ASSERT_EQ(daemon_->stop(), 0) << daemon_->log();
  start();
  Jar after = login("carol");
  EXPECT_EQ(header(echo(after), "X-Gatehouse-Effective-Party"), "acme");
}

TEST_F(DelegationTest, TheBannerGoesIntoHtmlPagesOnlyWhileDelegated) {
  grant();
  Jar carol = login("carol");
  // Not delegated: the page passes byte for byte, the client's encoding wish untouched.
  auto plain = get(carol, "/html/cl");
  EXPECT_EQ(plain->body, kPage);
  ASSERT_EQ(switch_to(carol, "acme")->status, 303);
  for (const char* path : {"/html/cl", "/html/chunked", "/html/gzip"}) {
    auto res = get(carol, path, {{"Accept-Encoding", "gzip, deflate"}});
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << path;
    const auto at = res->body.find("<div class=\"gatehouse-banner\"");
    ASSERT_NE(at, std::string::npos) << path << ": " << res->body;
    EXPECT_EQ(res->body.rfind("<body class=\"app\">", at) + std::string("<body class=\"app\">").size(),
              res->body.find("<link rel=\"stylesheet\" href=\"/.gatehouse/banner.css\">"))
        << path;
    EXPECT_NE(res->body.find("Acme Ltd"), std::string::npos);
    EXPECT_NE(res->body.find("Globex Consulting"), std::string::npos);
    EXPECT_NE(res->body.find("</h1></body></html>"), std::string::npos);
    EXPECT_FALSE(res->has_header("Content-Encoding")) << path;
    // Framed anew: its new length, or chunked; never the upstream's stale length.
    if (res->has_header("Content-Length"))
      EXPECT_EQ(std::stoul(res->get_header_value("Content-Length")), res->body.size()) << path;
    else
      EXPECT_EQ(res->get_header_value("Transfer-Encoding"), "chunked") << path;
    EXPECT_FALSE(res->has_header("ETag")) << path;
    EXPECT_EQ(res->get_header_value("Cache-Control"), "private, no-cache");
  }
  // gatehouse asked the compressing application for an uncompressed page.
  auto encodings = app_.accept_encodings();
  ASSERT_FALSE(encodings.empty());
  EXPECT_EQ(encodings.back(), "identity");
  // Compressed anyway, JSON, an image, a route without banner: byte for byte.
  auto gz = get(carol, "/html/always-gzip");
  EXPECT_EQ(gz->get_header_value("Content-Encoding"), "gzip");
  EXPECT_EQ(gz->body.find("gatehouse-banner"), std::string::npos);
  EXPECT_EQ(get(carol, "/html/data.json")->body, R"({"html":"<body>not a page</body>"})");
  EXPECT_EQ(get(carol, "/html/image.png")->body, std::string("\x89PNG\r\n\x1a\n<body>", 14));
  EXPECT_EQ(get(carol, "/plain-html/cl")->body, kPage);
  // The stylesheet is same-origin and CSS.
  auto css = client().Get("/.gatehouse/banner.css");
  EXPECT_EQ(css->status, 200);
  EXPECT_EQ(css->get_header_value("Content-Type"), "text/css; charset=utf-8");
  // gatehouse's own pages show the bar too.
  EXPECT_NE(get(carol, "/.gatehouse/parties", {{"Accept", "text/html"}})->body.find("gatehouse-banner"),
            std::string::npos);
}

TEST_F(DelegationTest, UsageIsCountedPerEffectivePartyAndNothingIsLostOnAStop) {
  grant();
  Jar carol = login("carol");
  Jar dave = login("dave");
  for (int i = 0; i < 3; ++i) echo(carol);
  ASSERT_EQ(switch_to(carol, "acme")->status, 303);
  for (int i = 0; i < 4; ++i) echo(carol);
  for (int i = 0; i < 2; ++i) echo(carol, "/acme-only");
  for (int i = 0; i < 5; ++i) echo(dave);
  ASSERT_EQ(daemon_->stop(), 0) << daemon_->log();
  auto r = cli({"usage", "report", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::pair<std::string, std::string>, std::pair<int, int>> got;
  for (const auto& row : json::parse(r.out))
    got[{row["effective_party"], row["route"]}] = {row["requests"].get<int>(), row["delegated_requests"].get<int>()};
  EXPECT_EQ((got[{"globex", "/"}]), (std::pair<int, int>{8, 0}));
  EXPECT_EQ((got[{"acme", "/"}]), (std::pair<int, int>{4, 4}));
  EXPECT_EQ((got[{"acme", "/acme-only"}]), (std::pair<int, int>{2, 2}));
  auto csv = cli({"usage", "report", "--csv", "--tenant", "acme"});
  EXPECT_EQ(csv.out.substr(0, csv.out.find('\n')), "day,effective_party,route,requests,delegated_requests\r");
  EXPECT_EQ(std::count(csv.out.begin(), csv.out.end(), '\n'), 3);
  for (const char* bad : {"yesterday", "2026-13-01T00:00:00Z"})
    EXPECT_EQ(cli({"usage", "report", "--since", bad}).exit_code, 2) << bad;
  daemon_.reset();
}

TEST_F(DelegationTest, EMailsWaitForAMailServerThatIsDownAndArriveOnce) {
  grant({"--no-end"});
  ASSERT_TRUE(smtp_.wait_for(1, 10000));
  const int port = smtp_.port();
  smtp_.stop();
  Jar carol = login("carol");
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(switch_to(carol, "acme")->status, 303);
    ASSERT_EQ(switch_to(carol, "globex")->status, 303);
  }
  // 4 switches x 2 superusers, all waiting, the switches unhindered.
  std::this_thread::sleep_for(2s);
  auto pending = json::parse(cli({"outbox", "list", "--json"}).out);
  EXPECT_EQ(pending.size(), 8u);
  bool errors = false;
  for (const auto& m : pending) errors = errors || !m["last_error"].get<std::string>().empty();
  EXPECT_TRUE(errors) << pending.dump();
  auto ready = json::parse(client().Get("/.gatehouse/readyz")->body);
  EXPECT_EQ(ready["outbox"]["pending"], 8);

  SmtpServerOptions o;
  o.port = port;
  std::string error;
  ASSERT_TRUE(smtp_.start(o, &error)) << error;
  ASSERT_TRUE(smtp_.wait_for(9, 90000)) << daemon_->log();
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(smtp_.messages().size(), 9u);
  std::map<std::string, int> per_recipient;
  for (const auto& m : smtp_.messages()) ++per_recipient[m["rcpt_tos"][0].get<std::string>()];
  EXPECT_EQ(per_recipient["ann@acme.example"], 4);
  EXPECT_EQ(per_recipient["boss@acme.example"], 4);
  EXPECT_EQ(json::parse(cli({"outbox", "list", "--json"}).out).size(), 0u);
}

}  // namespace
}  // namespace gatehouse::testing
