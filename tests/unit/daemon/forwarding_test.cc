#include "daemon/forwarding.h"

#include <gtest/gtest.h>

#include <string>

namespace gatehouse::daemon {
namespace {

TEST(ParseForwardedAddressTest, ReadsTheFormsProxiesSend) {
  const std::pair<const char*, const char*> cases[] = {
      {"203.0.113.9", "203.0.113.9"},         {"203.0.113.9:5555", "203.0.113.9"},
      {"2001:db8::1", "2001:db8::1"},         {"[2001:db8::1]", "2001:db8::1"},
      {"[2001:db8::1]:443", "2001:db8::1"},   {"::1", "::1"},
      {"[::ffff:192.0.2.1]", "192.0.2.1"},    {"192.0.2.1:1", "192.0.2.1"}};
  for (const auto& [text, ip] : cases) {
    auto parsed = parse_forwarded_address(text);
    ASSERT_TRUE(parsed.has_value()) << text;
    EXPECT_EQ(parsed->to_string(), ip) << text;
  }
}

TEST(ParseForwardedAddressTest, RefusesEverythingElse) {
  for (const char* text : {"", "unknown", "127.1", "_hidden", "203.0.113.9:", "203.0.113.9:0", "203.0.113.9:65536",
                           "203.0.113.9:x", "[2001:db8::1", "[2001:db8::1]:", "[2001:db8::1]x", "[192.0.2.1]",
                           "[192.0.2.1]:80", "2001:db8::1:", "1.2.3.4.5", "256.1.1.1", "1.2.3", " 1.2.3.4",
                           "1.2.3.4 ", "localhost", "0x7f.0.0.1", "[]", "1.2.3.4:80:80"})
    EXPECT_FALSE(parse_forwarded_address(text).has_value()) << text;
  EXPECT_FALSE(parse_forwarded_address(std::string("1.2.3.4\0x", 9)).has_value());
}

struct ForwardInfoTest : ::testing::Test {
  config::ServerConfig server;
  ForwardInfoTest() {
    server.trusted_proxies = {*Cidr::parse("127.0.0.1/32"), *Cidr::parse("10.0.0.0/8")};
    server.public_url = *config::Url::parse("http://gate.example.org:8080");
  }
  ForwardInfo from(const std::string& peer, const http::fields& f, std::string_view host = "app.example.org") {
    return forward_info(f, peer, IpAddress::parse(peer), server, false, host);
  }
};

TEST_F(ForwardInfoTest, AnUnreadableForwardedForFromATrustedProxyMakesTheClientUnknownNotTheProxy) {
  for (const char* xff : {"unknown", "", "_obfuscated", "127.1", "garbage, 203.0.113.9:5555:1", "1.2.3.4, unknown",
                          "[2001:db8::1", "10.0.0.5, nonsense"}) {
    http::fields f;
    f.insert("X-Forwarded-For", xff);
    const auto info = from("127.0.0.1", f);
    EXPECT_EQ(info.client_address, kUnknownClient) << xff;
  }
}

TEST_F(ForwardInfoTest, TheFormsProxiesSendAreRead) {
  const std::pair<const char*, const char*> cases[] = {
      {"203.0.113.9:5555", "203.0.113.9"},
      {"[2001:db8::1]", "2001:db8::1"},
      {"[2001:db8::1]:443", "2001:db8::1"},
      {"198.51.100.1, 203.0.113.9", "203.0.113.9"},
      {"garbage, 203.0.113.9", "203.0.113.9"},        // the untrusted element stops the walk
      {"203.0.113.9, 10.0.0.5", "203.0.113.9"},       // our own proxies are skipped
      {"203.0.113.9:1234, 10.0.0.5:80", "203.0.113.9"}};
  for (const auto& [xff, client] : cases) {
    http::fields f;
    f.insert("X-Forwarded-For", xff);
    EXPECT_EQ(from("127.0.0.1", f).client_address, client) << xff;
  }
}

TEST_F(ForwardInfoTest, AnUntrustedPeerIsTheClientWhateverItClaims) {
  http::fields f;
  f.insert("X-Forwarded-For", "unknown");
  f.insert("X-Forwarded-Host", "evil.example");
  f.insert("X-Forwarded-Proto", "https");
  const auto info = from("192.0.2.50", f);
  EXPECT_EQ(info.client_address, "192.0.2.50");
  EXPECT_EQ(info.forwarded_for, "192.0.2.50");
  EXPECT_EQ(info.host, "app.example.org");
  EXPECT_EQ(info.proto, "http");
}

TEST_F(ForwardInfoTest, AMalformedForwardedHostFromATrustedProxyIsIgnored) {
  for (const char* h : {"a:80:80", "evil example", "u@evil.example", "[::1"}) {
    http::fields f;
    f.insert("X-Forwarded-Host", h);
    EXPECT_EQ(from("127.0.0.1", f).host, "app.example.org") << h;
  }
  http::fields f;
  f.insert("X-Forwarded-Host", "public.example.org");
  EXPECT_EQ(from("127.0.0.1", f).host, "public.example.org");
}

TEST_F(ForwardInfoTest, NoHostFromTheClientSendsThePublicName) {
  const auto info = from("192.0.2.50", http::fields{}, "");
  EXPECT_EQ(info.host_header, "gate.example.org:8080");
}

}  // namespace
}  // namespace gatehouse::daemon
