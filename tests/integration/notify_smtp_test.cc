// notify::SmtpMailer and OutboxWorker against a real SMTP server (tests/smtp/server.py,
// aiosmtpd): plain SMTP on loopback, STARTTLS and smtps with a private CA made at test
// time, AUTH, UTF-8 round trips, a server that is down and one that answers 451.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/clock.h"
#include "integration/harness.h"
#include "integration/smtp_server.h"
#include "notify/mail.h"
#include "notify/messages.h"
#include "notify/outbox_worker.h"

namespace gatehouse::testing {
namespace {

using notify::Mail;
using notify::SmtpMailer;

config::SmtpConfig smtp_test_config(const SmtpServer& server) {
  config::SmtpConfig c;
  c.url = server.url();
  c.from = "Gatehouse Notifications <noreply@gate.example>";
  c.starttls = false;
  c.timeout = std::chrono::seconds(10);
  return c;
}

std::string smtp_test_without_cr(std::string s) {
  std::erase(s, '\r');
  return s;
}

// The value of header `name` as the server decoded it, or "<absent>".
std::string smtp_test_header(const nlohmann::json& message, const std::string& name) {
  for (const auto& h : message["headers"])
    if (h[0].get<std::string>() == name) return h[1].get<std::string>();
  return "<absent>";
}

class NotifySmtpTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ca_ = new SmtpTestCa;
    std::string error;
    if (!ca_->create(&error)) {
      ca_error_ = error;
      delete ca_;
      ca_ = nullptr;
    }
  }
  static void TearDownTestSuite() {
    delete ca_;
    ca_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(ca_, nullptr) << ca_error_; }
  SmtpServerOptions tls_options(SmtpServerOptions::Tls tls) const {
    SmtpServerOptions o;
    o.tls = tls;
    o.cert_file = ca_->cert_file();
    o.key_file = ca_->key_file();
    return o;
  }
  static SmtpTestCa* ca_;
  static std::string ca_error_;
};
SmtpTestCa* NotifySmtpTls::ca_ = nullptr;
std::string NotifySmtpTls::ca_error_;

TEST(NotifySmtp, PlainSmtpOnLoopback) {
  SmtpServer server;
  std::string error;
  ASSERT_TRUE(server.start({}, &error)) << error;
  SmtpMailer mailer(smtp_test_config(server));
  ASSERT_TRUE(mailer.status().ok()) << mailer.status().error().message;
  auto sent = mailer.send(Mail{"bob@example.org", "Hello Bob", "First line\nSecond line\n"});
  ASSERT_TRUE(sent.ok()) << sent.error().message << "\n" << server.log();
  ASSERT_TRUE(server.wait_for(1, 5000));
  const auto m = server.messages().at(0);
  EXPECT_EQ(m["mail_from"], "noreply@gate.example");
  EXPECT_EQ(m["rcpt_tos"], nlohmann::json::array({"bob@example.org"}));
  EXPECT_EQ(m["tls"], false);
  EXPECT_EQ(m["subject"], "Hello Bob");
  EXPECT_EQ(m["content_type"], "text/plain");
  EXPECT_EQ(m["charset"], "utf-8");
  EXPECT_EQ(smtp_test_header(m, "From"), "Gatehouse Notifications <noreply@gate.example>");
  EXPECT_EQ(smtp_test_header(m, "To"), "bob@example.org");
  EXPECT_EQ(smtp_test_header(m, "MIME-Version"), "1.0");
  EXPECT_NE(smtp_test_header(m, "Date"), "<absent>");
  EXPECT_NE(smtp_test_header(m, "Message-ID"), "<absent>");
  EXPECT_EQ(smtp_test_without_cr(m["body"].get<std::string>()), "First line\nSecond line\n");
}

TEST(NotifySmtp, StartTlsRequiredButNotOfferedSendsNothing) {
  SmtpServer server;  // plain only: no STARTTLS in its EHLO answer
  std::string error;
  ASSERT_TRUE(server.start({}, &error)) << error;
  auto config = smtp_test_config(server);
  config.starttls = true;
  SmtpMailer mailer(config);
  auto sent = mailer.send(Mail{"bob@example.org", "Secret plans", "not in the clear"});
  ASSERT_FALSE(sent.ok());
  EXPECT_EQ(sent.error().code, "notify.smtp");
  EXPECT_FALSE(server.wait_for(1, 300));
  EXPECT_TRUE(server.messages().empty());
}

TEST(NotifySmtp, ServerDownIsAnErrorThenSentOnceItRuns) {
  const int port = unused_port();
  config::SmtpConfig config;
  config.url = "smtp://127.0.0.1:" + std::to_string(port);
  config.from = "noreply@gate.example";
  config.starttls = false;
  config.timeout = std::chrono::seconds(10);
  SmtpMailer mailer(config);
  auto down = mailer.send(Mail{"bob@example.org", "Are you there?", "text"});
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().code, "notify.smtp");
  EXPECT_NE(down.error().message.find("smtp: "), std::string::npos) << down.error().message;

  SmtpServer server;
  SmtpServerOptions o;
  o.port = port;
  std::string error;
  ASSERT_TRUE(server.start(o, &error)) << error;
  auto up = mailer.send(Mail{"bob@example.org", "Are you there?", "text"});
  ASSERT_TRUE(up.ok()) << up.error().message;
  ASSERT_TRUE(server.wait_for(1, 5000));
}

TEST(NotifySmtp, Utf8SubjectAndBodyRoundTrip) {
  SmtpServer server;
  std::string error;
  ASSERT_TRUE(server.start({}, &error)) << error;
  SmtpMailer mailer(smtp_test_config(server));
  std::string subject = "Gr\xC3\xBC\xC3\x9F" "e \xE2\x80\x93 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x98\x80";
  for (int i = 0; i < 6; ++i) subject += " J\xC3\xBCrgen M\xC3\xBCller";  // long enough to fold
  const std::string body =
      "Hall\xC3\xB6 J\xC3\xBCrgen,\n.\n.leading dot\nFrom the start\n\xE2\x82\xAC 100 \xF0\x9F\x98\x80\n" +
      std::string(200, 'x') + "\n";
  auto ok = mailer.send(Mail{"juergen@example.org", subject, body});
  ASSERT_TRUE(ok.ok()) << ok.error().message << "\n" << server.log();
  ASSERT_TRUE(server.wait_for(1, 5000));
  const auto m = server.messages().at(0);
  EXPECT_EQ(m["subject"], subject);
  EXPECT_EQ(smtp_test_without_cr(m["body"].get<std::string>()), body);
  // On the wire it is 7-bit: encoded words and base64.
  const std::string raw = m["raw"];
  EXPECT_NE(raw.find("Subject: =?UTF-8?B?"), std::string::npos);
  EXPECT_EQ(m["transfer_encoding"], "base64");
  for (unsigned char c : raw) ASSERT_LT(c, 0x80) << raw;
}

TEST(NotifySmtp, RenderedMessageArrivesIntact) {
  SmtpServer server;
  std::string error;
  ASSERT_TRUE(server.start({}, &error)) << error;
  SmtpMailer mailer(smtp_test_config(server));
  store::OutboxMessage msg;
  msg.recipient = "superuser@globex.example";
  msg.kind = "party.switched";
  msg.language = "de";
  msg.payload = nlohmann::json{{"direction", "out"},   {"automatic", true},
                               {"user", "corp:eve"},  {"display_name", "Eve\r\nBcc: all@example.org"},
                               {"email", "eve@acme.example"}, {"real_party", "acme"},
                               {"real_party_name", "Acme"},   {"tenant", "globex"},
                               {"tenant_name", "Globex"},     {"delegation_id", 9},
                               {"at", 1700000000},            {"reason", "revoked"}}
                    .dump();
  auto mail = notify::render(msg);
  ASSERT_TRUE(mail.ok()) << mail.error().message;
  ASSERT_TRUE(mailer.send(*mail).ok());
  ASSERT_TRUE(server.wait_for(1, 5000));
  const auto m = server.messages().at(0);
  EXPECT_EQ(m["rcpt_tos"], nlohmann::json::array({"superuser@globex.example"}));
  EXPECT_EQ(m["subject"], "Eve Bcc: all@example.org (Acme) handelt nicht mehr f\xC3\xBCr Globex");
  EXPECT_EQ(smtp_test_header(m, "Bcc"), "<absent>");
  EXPECT_NE(m["body"].get<std::string>().find("widerrufen wurde"), std::string::npos);
}

TEST_F(NotifySmtpTls, StartTlsWithTheTestCa) {
  SmtpServer server;
  std::string error;
  ASSERT_TRUE(server.start(tls_options(SmtpServerOptions::Tls::starttls), &error)) << error;
  auto config = smtp_test_config(server);
  config.starttls = true;
  config.ca_file = ca_->ca_file();
  SmtpMailer mailer(config);
  auto sent = mailer.send(Mail{"bob@example.org", "Over TLS", "encrypted"});
  ASSERT_TRUE(sent.ok()) << sent.error().message << "\n" << server.log();
  ASSERT_TRUE(server.wait_for(1, 5000));
  EXPECT_EQ(server.messages().at(0)["tls"], true);
}

TEST_F(NotifySmtpTls, StartTlsRefusesACertificateOfAnotherCa) {
  SmtpServer server;
  std::string error;
  ASSERT_TRUE(server.start(tls_options(SmtpServerOptions::Tls::starttls), &error)) << error;
  auto config = smtp_test_config(server);
  config.starttls = true;
  config.ca_file = ca_->wrong_ca_file();
  SmtpMailer mailer(config);
  auto sent = mailer.send(Mail{"bob@example.org", "Over TLS", "encrypted"});
  ASSERT_FALSE(sent.ok());
  EXPECT_EQ(sent.error().code, "notify.smtp");
  EXPECT_FALSE(server.wait_for(1, 300));
}

TEST_F(NotifySmtpTls, PlainSmtpRefusedByAServerThatRequiresStartTls) {
  SmtpServer server;
  std::string error;
  ASSERT_TRUE(server.start(tls_options(SmtpServerOptions::Tls::starttls), &error)) << error;
  SmtpMailer mailer(smtp_test_config(server));  // starttls = false
  auto sent = mailer.send(Mail{"bob@example.org", "clear", "text"});
  ASSERT_FALSE(sent.ok());
  EXPECT_NE(sent.error().message.find("SMTP response 530"), std::string::npos) << sent.error().message;
  EXPECT_TRUE(server.messages().empty());
}

TEST_F(NotifySmtpTls, ImplicitTlsSmtps) {
  SmtpServer server;
  std::string error;
  ASSERT_TRUE(server.start(tls_options(SmtpServerOptions::Tls::implicit), &error)) << error;
  auto config = smtp_test_config(server);
  ASSERT_TRUE(config.url.starts_with("smtps://")) << config.url;
  config.starttls = false;  // irrelevant for smtps://: TLS from the first byte
  config.ca_file = ca_->ca_file();
  SmtpMailer mailer(config);
  auto sent = mailer.send(Mail{"bob@example.org", "smtps", "text"});
  ASSERT_TRUE(sent.ok()) << sent.error().message << "\n" << server.log();
  ASSERT_TRUE(server.wait_for(1, 5000));
  EXPECT_EQ(server.messages().at(0)["tls"], true);

  config.ca_file = ca_->wrong_ca_file();
  SmtpMailer untrusting(config);
  EXPECT_FALSE(untrusting.send(Mail{"bob@example.org", "smtps", "text"}).ok());
  EXPECT_EQ(server.messages().size(), 1u);
}

TEST_F(NotifySmtpTls, AuthLoginOverStartTls) {
  const std::string password = "Mailer-Pa55word";
  SmtpServer server;
  auto options = tls_options(SmtpServerOptions::Tls::starttls);
  options.auth = "mailer:" + password;
  std::string error;
  ASSERT_TRUE(server.start(options, &error)) << error;
  TempDir dir;
  auto config = smtp_test_config(server);
  config.starttls = true;
  config.ca_file = ca_->ca_file();
  config.username = "mailer";
  config.password_file = dir.file("smtp.pw");
  std::ofstream(config.password_file) << password << "\n";
  SmtpMailer mailer(config);
  ASSERT_TRUE(mailer.status().ok()) << mailer.status().error().message;
  auto sent = mailer.send(Mail{"bob@example.org", "With login", "text"});
  ASSERT_TRUE(sent.ok()) << sent.error().message << "\n" << server.log();
  ASSERT_TRUE(server.wait_for(1, 5000));
  EXPECT_EQ(server.messages().at(0)["auth_login"], "mailer");

  // A wrong password: refused, and the error names neither password.
  std::ofstream(config.password_file) << "wrong-" << password << "\n";
  SmtpMailer wrong(config);
  auto refused = wrong.send(Mail{"bob@example.org", "With login", "text"});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("SMTP response 535"), std::string::npos) << refused.error().message;
  EXPECT_EQ(refused.error().message.find(password), std::string::npos);
  // Without a login the server refuses the mail.
  config.username = "";
  SmtpMailer anonymous(config);
  EXPECT_FALSE(anonymous.send(Mail{"bob@example.org", "No login", "text"}).ok());
  EXPECT_EQ(server.messages().size(), 1u);
}

// --- the worker against the server ---

// The store's outbox in memory (claim with a lease counting the attempt, as the store does; sent; failed).
class NotifySmtpMemOutbox : public notify::Outbox {
 public:
  std::int64_t add(store::OutboxMessage m) {
    std::lock_guard lock(mu_);
    m.id = static_cast<std::int64_t>(rows_.size()) + 1;
    rows_[m.id] = {m, 0};
    return m.id;
  }
  Result<std::vector<store::OutboxMessage>> claim(std::int64_t now, std::int64_t lease_until,
                                                  std::int64_t limit) override {
    std::lock_guard lock(mu_);
    std::vector<store::OutboxMessage> out;
    for (auto& [id, row] : rows_) {
      if (static_cast<std::int64_t>(out.size()) >= limit) break;
      if (row.first.sent_at != 0 || row.first.next_attempt_at > now || row.second > now) continue;
      row.second = lease_until;
      ++row.first.attempts;
      out.push_back(row.first);
    }
    return out;
  }
  Status sent(std::int64_t id, std::int64_t at) override {
    std::lock_guard lock(mu_);
    rows_.at(id).first.sent_at = at;
    return Ok{};
  }
  Status failed(std::int64_t id, const std::string& error, std::int64_t next_attempt_at) override {
    std::lock_guard lock(mu_);
    auto& m = rows_.at(id).first;
    m.last_error = error;
    m.next_attempt_at = next_attempt_at;
    rows_.at(id).second = 0;
    return Ok{};
  }
  store::OutboxMessage get(std::int64_t id) {
    std::lock_guard lock(mu_);
    return rows_.at(id).first;
  }

 private:
  std::mutex mu_;
  std::map<std::int64_t, std::pair<store::OutboxMessage, std::int64_t>> rows_;
};

TEST(NotifySmtp, WorkerRetriesATemporaryFailureUntilSent) {
  SmtpServer server;
  SmtpServerOptions o;
  o.fail_first = 2;
  std::string error;
  ASSERT_TRUE(server.start(o, &error)) << error;
  SmtpMailer mailer(smtp_test_config(server));
  FakeClock clock;
  NotifySmtpMemOutbox outbox;
  store::OutboxMessage msg;
  msg.recipient = "bob@consult.example";
  msg.kind = "delegation.granted";
  msg.language = "nl";
  msg.next_attempt_at = clock.now();
  msg.payload = nlohmann::json{{"tenant", "globex"},          {"tenant_name", "Globex"},
                               {"email", "bob@consult.example"}, {"until", 0},
                               {"public_url", "https://gate.example.org"}, {"granted_by", "cli"}}
                    .dump();
  const auto id = outbox.add(msg);

  notify::OutboxWorkerOptions options;
  options.interval = std::chrono::hours(1);  // only poke() wakes it: no waiting for ticks
  notify::OutboxWorker worker(outbox, mailer, clock, options);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> events;
  worker.on_failed = [&](const store::OutboxMessage&, const std::string& e) {
    std::lock_guard lock(mu);
    events.push_back("failed: " + e);
    cv.notify_all();
  };
  worker.on_sent = [&](const store::OutboxMessage&) {
    std::lock_guard lock(mu);
    events.push_back("sent");
    cv.notify_all();
  };
  auto wait_events = [&](std::size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(10), [&] { return events.size() >= n; });
  };
  worker.start();
  ASSERT_TRUE(wait_events(1));
  ASSERT_TRUE(worker.wait_for_pass(0, std::chrono::seconds(5)));  // the first pass is over
  EXPECT_EQ(outbox.get(id).next_attempt_at, clock.now() + 2);
  clock.advance(1);
  const auto passes = worker.passes();
  worker.poke();  // not due yet: a pass that tries nothing
  ASSERT_TRUE(worker.wait_for_pass(passes, std::chrono::seconds(5)));
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(events.size(), 1u);
  }
  clock.advance(1);
  worker.poke();
  ASSERT_TRUE(wait_events(2));
  EXPECT_EQ(outbox.get(id).next_attempt_at, clock.now() + 4);
  clock.advance(4);
  worker.poke();
  ASSERT_TRUE(wait_events(3));
  worker.stop();

  ASSERT_EQ(events.size(), 3u);
  EXPECT_NE(events[0].find("SMTP response 451"), std::string::npos) << events[0];
  EXPECT_NE(events[0].find("451 4.3.0 Temporary failure"), std::string::npos) << events[0];
  EXPECT_NE(events[1].find("SMTP response 451"), std::string::npos) << events[1];
  EXPECT_EQ(events[2], "sent");
  EXPECT_EQ(outbox.get(id).attempts, 3);  // two failed, the third delivered
  EXPECT_NE(outbox.get(id).sent_at, 0);
  ASSERT_TRUE(server.wait_for(1, 5000));
  const auto messages = server.messages();
  ASSERT_EQ(messages.size(), 1u);  // sent once
  EXPECT_EQ(messages[0]["subject"], "Globex heeft u gedelegeerde toegang gegeven");
  EXPECT_NE(messages[0]["body"].get<std::string>().find("https://gate.example.org"), std::string::npos);
}

}  // namespace
}  // namespace gatehouse::testing
