#include "daemon/router.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <ostream>
#include <string>

#include "config/config.h"

namespace gatehouse::daemon {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "gatehouse-daemon-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

std::string route(const std::string& host, const std::string& prefix, int port) {
  return "[[route]]\n"
         "host = \"" + host + "\"\n"
         "path_prefix = \"" + prefix + "\"\n"
         "upstream = \"http://127.0.0.1:" + std::to_string(port) + "\"\n";
}

std::shared_ptr<const config::Config> parse(const TempDir& dir, const std::string& routes) {
  const std::string text =
      "[server]\n"
      "listen = \"127.0.0.1:0\"\n"
      "public_url = \"http://127.0.0.1:8080\"\n"
      "[store]\n"
      "path = \"" + dir.file("gatehouse.db") + "\"\n"
      "[keys]\n"
      "master_key_file = \"" + dir.file("master.key") + "\"\n"
      "[[directory]]\n"
      "name = \"local\"\n"
      "kind = \"local\"\n" +
      routes;
  auto result = config::parse_config(text, "router_test.toml");
  for (const auto& e : result.errors) ADD_FAILURE() << e.to_string();
  if (!result.config) throw std::runtime_error("config did not parse");
  return result.config;
}

// The routes of the brief; each upstream port names its route.
constexpr int kRoot = 9001, kApp = 9002, kApiRoot = 9003, kAdmin = 9004;

class RouterTest : public ::testing::Test {
 protected:
  RouterTest()
      : router_(parse(dir_, route("", "/", kRoot) + route("", "/app", kApp) +
                                route("api.example.org", "/", kApiRoot) +
                                route("", "/app/admin", kAdmin))) {}

  int port_for(std::string_view host, std::string_view path) const {
    const auto* r = router_.match(host, path);
    return r == nullptr ? 0 : r->upstream.port;
  }

  TempDir dir_;
  Router router_;
};

struct MatchCase {
  const char* host;
  const char* path;
  int port;
};

void PrintTo(const MatchCase& c, std::ostream* os) { *os << c.host << c.path; }

class RouterMatch : public RouterTest, public ::testing::WithParamInterface<MatchCase> {};

TEST_P(RouterMatch, ChoosesLongestSegmentPrefixAndPrefersTheNamedHost) {
  const auto& c = GetParam();
  EXPECT_EQ(port_for(c.host, c.path), c.port) << "host '" << c.host << "' path " << c.path;
}

INSTANTIATE_TEST_SUITE_P(
    Table, RouterMatch,
    ::testing::Values(
        MatchCase{"www.example.org", "/", kRoot}, MatchCase{"www.example.org", "/apple", kRoot},
        MatchCase{"www.example.org", "/ap", kRoot}, MatchCase{"www.example.org", "/app", kApp},
        MatchCase{"www.example.org", "/app/", kApp}, MatchCase{"www.example.org", "/app/x", kApp},
        MatchCase{"www.example.org", "/app/administrator", kApp},
        MatchCase{"www.example.org", "/app/admin", kAdmin},
        MatchCase{"www.example.org", "/app/admin/x", kAdmin},
        MatchCase{"www.example.org", "/APP", kRoot},
        MatchCase{"api.example.org", "/", kApiRoot}, MatchCase{"api.example.org", "/x", kApiRoot},
        MatchCase{"api.example.org", "/apple", kApiRoot},
        // A longer host-less prefix still wins over the host's "/".
        MatchCase{"api.example.org", "/app/x", kApp},
        MatchCase{"api.example.org", "/app/admin/x", kAdmin},
        MatchCase{"api.example.org.evil", "/x", kRoot}, MatchCase{"example.org", "/x", kRoot},
        MatchCase{"", "/x", kRoot}));

TEST_F(RouterTest, RouteIdIsHostAndPrefix) {
  const auto* r = router_.match("api.example.org", "/x");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->id(), "api.example.org/");
  EXPECT_EQ(r->host, "api.example.org");
}

TEST(RouterOrderTest, NamedHostWinsWhicheverRouteIsWrittenFirst) {
  TempDir dir;
  Router host_first(parse(dir, route("api.example.org", "/", kApiRoot) + route("", "/", kRoot)));
  Router host_last(parse(dir, route("", "/", kRoot) + route("api.example.org", "/", kApiRoot)));
  for (const Router* r : {&host_first, &host_last}) {
    ASSERT_NE(r->match("api.example.org", "/x"), nullptr);
    EXPECT_EQ(r->match("api.example.org", "/x")->upstream.port, kApiRoot);
    ASSERT_NE(r->match("other.example.org", "/x"), nullptr);
    EXPECT_EQ(r->match("other.example.org", "/x")->upstream.port, kRoot);
  }
}

TEST(RouterOrderTest, LongerPrefixWinsWhicheverRouteIsWrittenFirst) {
  TempDir dir;
  Router long_first(parse(dir, route("", "/app", kApp) + route("", "/", kRoot)));
  Router long_last(parse(dir, route("", "/", kRoot) + route("", "/app", kApp)));
  for (const Router* r : {&long_first, &long_last}) {
    ASSERT_NE(r->match("h", "/app/x"), nullptr);
    EXPECT_EQ(r->match("h", "/app/x")->upstream.port, kApp);
    EXPECT_EQ(r->match("h", "/apple")->upstream.port, kRoot);
  }
}

TEST(RouterOrderTest, NoMatchingRouteGivesNull) {
  TempDir dir;
  Router router(parse(dir, route("", "/app", kApp) + route("api.example.org", "/", kApiRoot)));
  EXPECT_EQ(router.match("www.example.org", "/"), nullptr);
  EXPECT_EQ(router.match("www.example.org", "/apple"), nullptr);
  ASSERT_NE(router.match("api.example.org", "/apple"), nullptr);
}

TEST(RouterOrderTest, TrailingSlashInConfiguredPrefixMatchesOnSegments) {
  TempDir dir;
  Router router(parse(dir, route("", "/", kRoot) + route("", "/app/", kApp)));
  EXPECT_EQ(router.match("h", "/app")->upstream.port, kApp);
  EXPECT_EQ(router.match("h", "/app/x")->upstream.port, kApp);
  EXPECT_EQ(router.match("h", "/apple")->upstream.port, kRoot);
}

struct PrefixCase {
  const char* prefix;
  const char* path;
  bool matches;
};

void PrintTo(const PrefixCase& c, std::ostream* os) { *os << c.prefix << " vs " << c.path; }

class PrefixMatches : public ::testing::TestWithParam<PrefixCase> {};

TEST_P(PrefixMatches, OnlyOnSegmentBoundaries) {
  const auto& c = GetParam();
  EXPECT_EQ(prefix_matches(c.prefix, c.path), c.matches) << c.prefix << " vs " << c.path;
}

INSTANTIATE_TEST_SUITE_P(
    Table, PrefixMatches,
    ::testing::Values(PrefixCase{"/", "/", true}, PrefixCase{"/", "/anything/at/all", true},
                      PrefixCase{"/app", "/app", true}, PrefixCase{"/app", "/app/", true},
                      PrefixCase{"/app", "/app/x/y", true}, PrefixCase{"/app", "/apple", false},
                      PrefixCase{"/app", "/ap", false}, PrefixCase{"/app", "/", false},
                      PrefixCase{"/app", "/APP", false}, PrefixCase{"/app", "/x/app", false},
                      PrefixCase{"/app", "/app-x", false}, PrefixCase{"/app", "/app.x", false},
                      PrefixCase{"/app/admin", "/app/admin/x", true},
                      PrefixCase{"/app/admin", "/app/administrator", false},
                      PrefixCase{"/app/admin", "/app", false}));

}  // namespace
}  // namespace gatehouse::daemon
