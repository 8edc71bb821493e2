// Address checks, header text, the composed message and SmtpMailer's configuration.
#include "notify/mail.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "common/encoding.h"

namespace gatehouse::notify {
namespace {

TEST(NotifyAddress, AcceptsOrdinaryAddresses) {
  for (const std::string& a : std::vector<std::string>{"a@b", "alice@example.org", "first.last+tag@sub.example.co.uk",
                                                      "\xC3\xBC@example.org",
                                                      std::string(64, 'x') + "@" + std::string(189, 'y')}) {
    EXPECT_TRUE(validate_address(a).ok()) << a;
  }
  EXPECT_EQ((std::string(64, 'x') + "@" + std::string(189, 'y')).size(), 254u);
}

TEST(NotifyAddress, RefusesUnusableAddresses) {
  const std::vector<std::string> bad = {
      "",
      "no-at-sign",
      "@example.org",
      "alice@",
      "alice@example.org\r\nBcc: x@y.z",
      "alice@example.org\n",
      "\ralice@example.org",
      std::string("alice\0@example.org", 18),
      std::string("alice@example.org\0", 18),
      "alice smith@example.org",
      "<alice@example.org>",
      "alice@example.org>",
      "al\tice@example.org",
      "alice\x7F@example.org",
      std::string(64, 'x') + "@" + std::string(190, 'y'),  // 255
      std::string(10000, 'a') + "@example.org",
  };
  for (const auto& a : bad) {
    auto st = validate_address(a);
    ASSERT_FALSE(st.ok()) << a;
    EXPECT_EQ(st.error().code, "notify.bad_address");
    // The message never repeats the address (it may be the injection attempt).
    if (a.size() > 3) {
      EXPECT_EQ(st.error().message.find(a), std::string::npos) << st.error().message;
    }
  }
}

TEST(NotifyHeaderText, SanitisesSubjects) {
  EXPECT_EQ(sanitise_header_text("Hello"), "Hello");
  EXPECT_EQ(sanitise_header_text("  a\r\n\r\nBcc: x@y  "), "a Bcc: x@y");
  EXPECT_EQ(sanitise_header_text("a\tb\x01\x1F\x7F" "c"), "a b c");
  EXPECT_EQ(sanitise_header_text("a\xC2\x85" "b"), "a b");                  // NEL
  EXPECT_EQ(sanitise_header_text("a\xE2\x80\xA8" "b\xE2\x80\xA9" "c"), "a b c");  // U+2028, U+2029
  EXPECT_EQ(sanitise_header_text("bad \xFF\xFE utf8"), "bad \xEF\xBF\xBD\xEF\xBF\xBD utf8");
  EXPECT_EQ(sanitise_header_text("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong '/'
  EXPECT_EQ(sanitise_header_text("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(sanitise_header_text("Gr\xC3\xBC\xC3\x9F" "e"), "Gr\xC3\xBC\xC3\x9F" "e");
  EXPECT_EQ(sanitise_header_text("\r\n"), "");
}

TEST(NotifyHeaderText, CutsLongTextAtACharacter) {
  std::string many;
  for (int i = 0; i < 300; ++i) many += "\xC3\xA4";  // ä
  const std::string cut = sanitise_header_text(many, 200);
  EXPECT_LE(cut.size(), 200u);
  EXPECT_TRUE(cut.ends_with("\xE2\x80\xA6"));
  EXPECT_EQ(sanitise_header_text(cut, 1000), cut);  // still valid UTF-8
  EXPECT_EQ(sanitise_header_text(std::string(200, 'a'), 200), std::string(200, 'a'));
}

// Decodes "=?UTF-8?B?...?=" words (folded with CRLF SP) back to the text.
std::string mail_decode_words(const std::string& value, std::string* problem) {
  std::string out;
  std::size_t pos = 0;
  while (pos < value.size()) {
    if (value.compare(pos, 3, "\r\n ") == 0) {
      pos += 3;
      continue;
    }
    const std::size_t end = value.find("?=", pos + 10);
    if (value.compare(pos, 10, "=?UTF-8?B?") != 0 || end == std::string::npos) {
      *problem = "not an encoded word at " + std::to_string(pos);
      return out;
    }
    if (end + 2 - pos > 75) *problem = "word longer than 75";
    std::string b64 = value.substr(pos + 10, end - pos - 10);
    std::replace(b64.begin(), b64.end(), '+', '-');
    std::replace(b64.begin(), b64.end(), '/', '_');
    while (!b64.empty() && b64.back() == '=') b64.pop_back();
    auto bytes = base64url_decode(b64);
    if (!bytes) *problem = "bad base64";
    else out += *bytes;
    pos = end + 2;
  }
  return out;
}

TEST(NotifyHeaderText, EncodesNonAsciiAsEncodedWords) {
  EXPECT_EQ(encode_header_text("Plain subject"), "Plain subject");
  std::string problem;
  const std::string odd = "looks =?like?= a word";
  EXPECT_EQ(mail_decode_words(encode_header_text(odd), &problem), odd);
  EXPECT_EQ(problem, "");
  std::string text = "Gr\xC3\xBC\xC3\x9F" "e: ";
  for (int i = 0; i < 40; ++i) text += "\xE2\x82\xAC\xF0\x9F\x98\x80";  // € and an emoji
  const std::string encoded = encode_header_text(text);
  EXPECT_NE(encoded.find("\r\n "), std::string::npos);  // folded
  EXPECT_EQ(mail_decode_words(encoded, &problem), text);
  EXPECT_EQ(problem, "");
  // Each word alone is valid UTF-8: no character is split between words.
  std::size_t pos = 0;
  while ((pos = encoded.find("=?UTF-8?B?", pos)) != std::string::npos) {
    const std::size_t end = encoded.find("?=", pos + 10);
    std::string word = mail_decode_words(encoded.substr(pos, end + 2 - pos), &problem);
    EXPECT_EQ(sanitise_header_text(word, 1000), word);
    pos = end;
  }
}

TEST(NotifyCompose, WritesAWellFormedTextPlainMessage) {
  Mail mail{"bob@example.org", "Gr\xC3\xBC\xC3\x9F" "e\r\nBcc: x@y", "Line one\nLine \xC3\xA4 two\n.\n"};
  const std::string raw = compose_message(mail, "gatehouse <noreply@gate.example>", "gate.example", 1700000000);
  const std::size_t split = raw.find("\r\n\r\n");
  ASSERT_NE(split, std::string::npos);
  const std::string head = raw.substr(0, split + 2);
  EXPECT_NE(head.find("From: gatehouse <noreply@gate.example>\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("To: bob@example.org\r\n"), std::string::npos);
  EXPECT_NE(head.find("Subject: =?UTF-8?B?"), std::string::npos);
  EXPECT_NE(head.find("Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"), std::string::npos) << head;
  EXPECT_TRUE(std::regex_search(head, std::regex("Message-ID: <[0-9a-f]{32}@gate\\.example>\r\n")));
  EXPECT_NE(head.find("MIME-Version: 1.0\r\n"), std::string::npos);
  EXPECT_NE(head.find("Content-Type: text/plain; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(head.find("Content-Transfer-Encoding: base64\r\n"), std::string::npos);
  EXPECT_EQ(head.find("\r\nBcc"), std::string::npos);
  // Every line ends with CRLF; no bare LF anywhere.
  for (std::size_t i = 0; i < raw.size(); ++i)
    if (raw[i] == '\n') {
      ASSERT_TRUE(i > 0 && raw[i - 1] == '\r') << "bare LF at " << i;
    }
  // The body decodes to the text with CRLF line ends.
  std::string b64;
  std::size_t pos = split + 4;
  while (pos < raw.size()) {
    const std::size_t eol = raw.find("\r\n", pos);
    EXPECT_LE(eol - pos, 76u);
    b64 += raw.substr(pos, eol - pos);
    pos = eol + 2;
  }
  std::replace(b64.begin(), b64.end(), '+', '-');
  std::replace(b64.begin(), b64.end(), '/', '_');
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  auto body = base64url_decode(b64);
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(*body, "Line one\r\nLine \xC3\xA4 two\r\n.\r\n");
}

class NotifyMailerConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("gh-notify-mail-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& content) {
    const auto path = (dir_ / name).string();
    std::ofstream(path) << content;
    return path;
  }
  static config::SmtpConfig base() {
    config::SmtpConfig c;
    c.url = "smtp://127.0.0.1:25";
    c.from = "Gatehouse <noreply@gate.example>";
    return c;
  }
  std::filesystem::path dir_;
};

TEST_F(NotifyMailerConfig, ParsesFrom) {
  SmtpMailer m(base());
  ASSERT_TRUE(m.status().ok()) << m.status().error().message;
  EXPECT_EQ(m.envelope_from(), "noreply@gate.example");
  EXPECT_EQ(m.from_header(), "Gatehouse <noreply@gate.example>");
  auto c = base();
  c.from = "noreply@gate.example";
  SmtpMailer plain(c);
  EXPECT_EQ(plain.from_header(), "noreply@gate.example");
  c.from = "J\xC3\xBCrgen's Gate <noreply@gate.example>";
  SmtpMailer utf8(c);
  EXPECT_TRUE(utf8.from_header().starts_with("=?UTF-8?B?")) << utf8.from_header();
  c.from = "Gate, Inc. <noreply@gate.example>";
  SmtpMailer quoted(c);
  EXPECT_EQ(quoted.from_header(), "\"Gate, Inc.\" <noreply@gate.example>");
}

TEST_F(NotifyMailerConfig, UnusableConfigurationsFailEverySend) {
  struct Case {
    config::SmtpConfig config;
    std::string code;
  };
  std::vector<Case> cases;
  auto c = base();
  c.url = "";
  cases.push_back({c, "notify.not_configured"});
  c = base();
  c.url = "http://127.0.0.1:25";
  cases.push_back({c, "notify.not_configured"});
  c = base();
  c.from = "nobody";
  cases.push_back({c, "notify.bad_address"});
  c = base();
  c.from = "Name <noreply@gate.example";
  cases.push_back({c, "notify.bad_address"});
  c = base();
  c.from = "Name <a@b>\r\nBcc: x@y";
  cases.push_back({c, "notify.bad_address"});
  c = base();
  c.username = "mailer";
  cases.push_back({c, "notify.not_configured"});  // no password_file
  c = base();
  c.username = "mailer";
  c.password_file = (dir_ / "missing").string();
  cases.push_back({c, "notify.not_configured"});
  for (const auto& k : cases) {
    SmtpMailer m(k.config);
    ASSERT_FALSE(m.status().ok()) << k.config.url << " " << k.config.from;
    EXPECT_EQ(m.status().error().code, k.code) << m.status().error().message;
    auto sent = m.send(Mail{"bob@example.org", "s", "t"});
    ASSERT_FALSE(sent.ok());
    EXPECT_EQ(sent.error().code, k.code);
  }
}

// A loopback port with nothing listening.
int mail_closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

TEST_F(NotifyMailerConfig, ErrorsNeverContainThePassword) {
  const std::string password = "pw-Very-Secret-4711";
  auto c = base();
  c.url = "smtp://127.0.0.1:" + std::to_string(mail_closed_port());
  c.starttls = false;
  c.username = "mailer";
  c.password_file = write("smtp.pw", password + "\n");
  c.timeout = std::chrono::seconds(5);
  SmtpMailer m(c);
  ASSERT_TRUE(m.status().ok()) << m.status().error().message;
  auto sent = m.send(Mail{"bob@example.org", "subject", "text"});
  ASSERT_FALSE(sent.ok());
  EXPECT_EQ(sent.error().code, "notify.smtp");
  EXPECT_NE(sent.error().message.find("smtp: "), std::string::npos) << sent.error().message;
  EXPECT_EQ(sent.error().message.find(password), std::string::npos);
  // A bad recipient is refused before any connection.
  auto bad = m.send(Mail{"bob@example.org\r\nRCPT TO:<x@y>", "subject", "text"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "notify.bad_address");
}

}  // namespace
}  // namespace gatehouse::notify
