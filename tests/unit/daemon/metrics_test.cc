#include "daemon/metrics.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.h"

namespace gatehouse::daemon {
namespace {

using namespace std::chrono_literals;

// --- a small reader of the text format, strict enough to catch malformed output ---

struct Exposition {
  std::map<std::string, std::string> types;   // family -> counter, gauge, histogram
  std::map<std::string, std::string> values;  // "name{labels}" exactly as written -> value
  std::vector<std::string> problems;
};

// The family a sample belongs to: histogram samples carry a suffix.
std::string family_of(const std::string& name, const std::map<std::string, std::string>& types) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s(suffix);
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      auto base = name.substr(0, name.size() - s.size());
      auto it = types.find(base);
      if (it != types.end() && it->second == "histogram") return base;
    }
  }
  return name;
}

Exposition read_exposition(const std::string& text) {
  static const std::regex sample(
      R"re(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")*\})? ([^ ]+)$)re");
  static const std::regex help(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*$)");
  static const std::regex type(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
  Exposition e;
  if (text.empty() || text.back() != '\n') e.problems.push_back("does not end with a line feed");
  std::istringstream in(text);
  std::string line;
  std::string current;  // family of the last # TYPE
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, help)) continue;
    if (std::regex_match(line, m, type)) {
      if (!e.types.emplace(m[1], m[2]).second) e.problems.push_back("second # TYPE: " + line);
      current = m[1];
      continue;
    }
    if (!std::regex_match(line, m, sample)) {
      e.problems.push_back("malformed: " + line);
      continue;
    }
    if (family_of(m[1], e.types) != current) e.problems.push_back("outside its family: " + line);
    const std::string value = m[7];
    if (value != "+Inf" && value != "-Inf" && value != "NaN") {
      std::size_t used = 0;
      try {
        (void)std::stod(value, &used);
      } catch (const std::exception&) {
      }
      if (used != value.size()) e.problems.push_back("bad value: " + line);
    }
    const std::string series = line.substr(0, line.size() - value.size() - 1);
    if (!e.values.emplace(series, value).second) e.problems.push_back("duplicate series: " + line);
  }
  return e;
}

// --- the format's building blocks ---

TEST(MetricsText, LabelValuesEscapeBackslashQuoteAndLineFeedOnly) {
  EXPECT_EQ(escape_label_value(R"(a\b"c)"
                               "\n"
                               "d\té"),
            R"(a\\b\"c\nd)"
            "\t"
            "é");
  EXPECT_EQ(escape_label_value(""), "");
}

TEST(MetricsText, HelpEscapesBackslashAndLineFeedButNotQuotes) {
  EXPECT_EQ(escape_help("one\\two\n\"three\""), "one\\\\two\\n\"three\"");
}

struct ValueCase {
  double value;
  const char* text;
};

class FormatValue : public testing::TestWithParam<ValueCase> {};

TEST_P(FormatValue, IsShortestRoundTripOrPrometheusSpecialValue) {
  EXPECT_EQ(format_value(GetParam().value), GetParam().text);
}

INSTANTIATE_TEST_SUITE_P(Table, FormatValue,
                         testing::Values(ValueCase{0, "0"}, ValueCase{1, "1"}, ValueCase{-3, "-3"},
                                         ValueCase{0.005, "0.005"}, ValueCase{2.5, "2.5"},
                                         ValueCase{1700000000, "1700000000"},
                                         ValueCase{std::numeric_limits<double>::infinity(), "+Inf"},
                                         ValueCase{-std::numeric_limits<double>::infinity(), "-Inf"},
                                         ValueCase{std::nan(""), "NaN"}));

TEST(MetricsText, WriterPutsHelpAndTypeBeforeSamplesAndBracesOnlyWithLabels) {
  TextWriter out;
  out.family("x_total", "counter", "Things.\nMore \\ things.");
  out.sample("x_total", {}, std::uint64_t{18446744073709551615u});
  out.sample("x_total", {{"a", "1"}, {"b", "q\"uote"}}, std::uint64_t{2});
  out.family("y", "gauge", "A gauge.");
  out.sample("y", {{"k", "v"}}, 0.25);
  out.sample("y", {}, std::int64_t{-7});
  EXPECT_EQ(std::move(out).take(),
            "# HELP x_total Things.\\nMore \\\\ things.\n"
            "# TYPE x_total counter\n"
            "x_total 18446744073709551615\n"
            "x_total{a=\"1\",b=\"q\\\"uote\"} 2\n"
            "# HELP y A gauge.\n"
            "# TYPE y gauge\n"
            "y{k=\"v\"} 0.25\n"
            "y -7\n");
}

TEST(MetricsHistogram, BucketsAreCumulativeWithInfSumAndCount) {
  Histogram h(std::vector<double>{0.125, 1, 10});
  for (double v : {0.0625, 0.125, 0.5, 100.0}) h.observe(v);  // 0.125 is in le="0.125": bounds are inclusive
  h.observe(std::nan(""));                                // ignored
  TextWriter out;
  out.family("d_seconds", "histogram", "Durations.");
  h.render(out, "d_seconds", {{"route", "/app"}});
  EXPECT_EQ(std::move(out).take(),
            "# HELP d_seconds Durations.\n"
            "# TYPE d_seconds histogram\n"
            "d_seconds_bucket{route=\"/app\",le=\"0.125\"} 2\n"
            "d_seconds_bucket{route=\"/app\",le=\"1\"} 3\n"
            "d_seconds_bucket{route=\"/app\",le=\"10\"} 3\n"
            "d_seconds_bucket{route=\"/app\",le=\"+Inf\"} 4\n"
            "d_seconds_sum{route=\"/app\"} 100.6875\n"
            "d_seconds_count{route=\"/app\"} 4\n");
}

TEST(MetricsHistogram, EmptyHistogramHasZeroBucketsAndCount) {
  Histogram h(std::vector<double>{1});
  TextWriter out;
  h.render(out, "h", {});
  EXPECT_EQ(std::move(out).take(), "h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n");
}

TEST(MetricsHistogram, RefusesBoundsThatAreNotAscendingAndFinite) {
  EXPECT_THROW(Histogram(std::vector<double>{1, 1}), std::invalid_argument);
  EXPECT_THROW(Histogram(std::vector<double>{2, 1}), std::invalid_argument);
  EXPECT_THROW(Histogram(std::vector<double>{1, std::numeric_limits<double>::infinity()}), std::invalid_argument);
}

// --- gatehouse's metrics ---

config::Config sample_config() {
  config::Config c;
  auto route = [](std::string host, std::string prefix) {
    config::RouteConfig r;
    r.host = std::move(host);
    r.path_prefix = std::move(prefix);
    return r;
  };
  c.routes = {route("", "/app"), route("example.org", "/"), route("", "/app"), route("", "/")};
  c.directories.resize(2);
  c.directories[0].name = "local";
  c.directories[1].name = "corp";
  c.oidc.resize(1);
  c.oidc[0].name = "sso";
  return c;
}

constexpr std::int64_t kStarted = 1'700'000'000;

class MetricsTest : public testing::Test {
 protected:
  Exposition scrape(const LiveState& live = {}) {
    auto e = read_exposition(metrics_.render(live));
    EXPECT_EQ(e.problems, std::vector<std::string>{});
    return e;
  }
  static std::string value(const Exposition& e, const std::string& series) {
    auto it = e.values.find(series);
    return it == e.values.end() ? "<absent>" : it->second;
  }

  config::Config config_ = sample_config();
  MetricsRegistry registry_{"0.1.0", kStarted};
  Metrics metrics_{registry_, config_};
};

TEST_F(MetricsTest, EveryFamilyIsTypedAndEverySeriesStartsAtZero) {
  auto e = scrape();
  EXPECT_EQ(e.types, (std::map<std::string, std::string>{
                         {"gatehouse_build_info", "gauge"},
                         {"gatehouse_http_requests_total", "counter"},
                         {"gatehouse_upstream_duration_seconds", "histogram"},
                         {"gatehouse_secret_injections_total", "counter"},
                         {"gatehouse_logins_total", "counter"},
                         {"gatehouse_lockouts_total", "counter"},
                         {"gatehouse_sessions_active", "gauge"},
                         {"gatehouse_directory_up", "gauge"},
                         {"gatehouse_provider_up", "gauge"},
                         {"gatehouse_config_reloads_total", "counter"},
                         {"gatehouse_config_last_reload_timestamp_seconds", "gauge"},
                         {"gatehouse_outbox_pending", "gauge"},
                         {"gatehouse_outbox_oldest_age_seconds", "gauge"},
                         {"gatehouse_notifications_total", "counter"},
                     }));
  EXPECT_EQ(value(e, "gatehouse_notifications_total{result=\"sent\"}"), "0");
  EXPECT_EQ(value(e, "gatehouse_notifications_total{result=\"failed\"}"), "0");
  EXPECT_EQ(value(e, "gatehouse_outbox_pending"), "<absent>");
  EXPECT_EQ(value(e, "gatehouse_build_info{version=\"0.1.0\"}"), "1");
  for (const char* route : {"/app", "example.org/", "/", "internal", "unmatched"})
    for (const char* code : {"2xx", "3xx", "4xx", "5xx"})
      EXPECT_EQ(value(e, std::string("gatehouse_http_requests_total{route=\"") + route + "\",code=\"" + code + "\"}"),
                "0");
  for (const char* source : {"local", "corp", "sso", ""})
    for (const char* outcome : {"success", "failure", "locked", "throttled", "unavailable"})
      EXPECT_EQ(value(e, std::string("gatehouse_logins_total{source=\"") + source + "\",outcome=\"" + outcome +
                             "\"}"),
                "0");
  EXPECT_EQ(value(e, "gatehouse_lockouts_total"), "0");
  EXPECT_EQ(value(e, "gatehouse_config_reloads_total{result=\"success\"}"), "0");
  EXPECT_EQ(value(e, "gatehouse_config_reloads_total{result=\"failure\"}"), "0");
  EXPECT_EQ(value(e, "gatehouse_config_last_reload_timestamp_seconds"), "1700000000");
  // Unknown sessions count: no sample rather than a made-up one.
  EXPECT_EQ(value(e, "gatehouse_sessions_active"), "<absent>");
  // Only configured routes have an upstream histogram; "/app" twice is one series.
  EXPECT_EQ(value(e, "gatehouse_upstream_duration_seconds_count{route=\"/app\"}"), "0");
  EXPECT_EQ(value(e, "gatehouse_upstream_duration_seconds_count{route=\"internal\"}"), "<absent>");
}

TEST_F(MetricsTest, RequestsAreCountedByRouteAndStatusClass) {
  metrics_.count_request(metrics_.route_slot(0), 200);
  metrics_.count_request(metrics_.route_slot(0), 204);
  metrics_.count_request(metrics_.route_slot(2), 302);  // the same id as route 0
  metrics_.count_request(metrics_.route_slot(1), 404);
  metrics_.count_request(metrics_.route_slot(3), 502);
  metrics_.count_request(metrics_.route_slot(3), 999);
  metrics_.count_request(metrics_.internal_slot(), 101);
  metrics_.count_request(metrics_.unmatched_slot(), 400);
  metrics_.count_request(metrics_.route_slot(99), 200);  // not a route: unmatched
  auto e = scrape();
  auto requests = [&](const char* route, const char* code) {
    return value(e, std::string("gatehouse_http_requests_total{route=\"") + route + "\",code=\"" + code + "\"}");
  };
  EXPECT_EQ(requests("/app", "2xx"), "2");
  EXPECT_EQ(requests("/app", "3xx"), "1");
  EXPECT_EQ(requests("example.org/", "4xx"), "1");
  EXPECT_EQ(requests("/", "5xx"), "2");
  EXPECT_EQ(requests("internal", "2xx"), "1");
  EXPECT_EQ(requests("unmatched", "4xx"), "1");
  EXPECT_EQ(requests("unmatched", "2xx"), "1");
}

TEST_F(MetricsTest, UpstreamDurationsGoToTheRoutesHistogram) {
  metrics_.observe_upstream(0, 3ms);
  metrics_.observe_upstream(2, 200ms);
  metrics_.observe_upstream(3, 90s);
  metrics_.observe_upstream(42, 1s);  // not a route: ignored
  auto e = scrape();
  EXPECT_EQ(value(e, "gatehouse_upstream_duration_seconds_bucket{route=\"/app\",le=\"0.005\"}"), "1");
  EXPECT_EQ(value(e, "gatehouse_upstream_duration_seconds_bucket{route=\"/app\",le=\"0.25\"}"), "2");
  EXPECT_EQ(value(e, "gatehouse_upstream_duration_seconds_bucket{route=\"/app\",le=\"+Inf\"}"), "2");
  EXPECT_EQ(value(e, "gatehouse_upstream_duration_seconds_count{route=\"/app\"}"), "2");
  EXPECT_DOUBLE_EQ(std::stod(value(e, "gatehouse_upstream_duration_seconds_sum{route=\"/app\"}")), 0.203);
  EXPECT_EQ(value(e, "gatehouse_upstream_duration_seconds_bucket{route=\"/\",le=\"60\"}"), "0");
  EXPECT_EQ(value(e, "gatehouse_upstream_duration_seconds_bucket{route=\"/\",le=\"+Inf\"}"), "1");
  EXPECT_EQ(value(e, "gatehouse_upstream_duration_seconds_count{route=\"example.org/\"}"), "0");
}

TEST_F(MetricsTest, LoginsAreCountedBySourceAndOutcome) {
  metrics_.count_login("local", LoginOutcome::success);
  metrics_.count_login("local", LoginOutcome::failure);
  metrics_.count_login("local", LoginOutcome::failure);
  metrics_.count_login("corp", LoginOutcome::unavailable);
  metrics_.count_login("sso", LoginOutcome::success);
  metrics_.count_login("", LoginOutcome::throttled);
  metrics_.count_login("", LoginOutcome::locked);
  metrics_.count_login("removed-directory", LoginOutcome::failure);  // unknown: counted without a source
  metrics_.count_lockout();
  auto e = scrape();
  auto logins = [&](const char* source, const char* outcome) {
    return value(e, std::string("gatehouse_logins_total{source=\"") + source + "\",outcome=\"" + outcome + "\"}");
  };
  EXPECT_EQ(logins("local", "success"), "1");
  EXPECT_EQ(logins("local", "failure"), "2");
  EXPECT_EQ(logins("corp", "unavailable"), "1");
  EXPECT_EQ(logins("sso", "success"), "1");
  EXPECT_EQ(logins("", "throttled"), "1");
  EXPECT_EQ(logins("", "locked"), "1");
  EXPECT_EQ(logins("", "failure"), "1");
  EXPECT_EQ(value(e, "gatehouse_lockouts_total"), "1");
}

TEST_F(MetricsTest, LiveStateGivesSessionsAndUpComponents) {
  LiveState live;
  live.sessions_active = 3;
  live.failing = {"store", "directory:corp", "provider:sso"};
  auto e = scrape(live);
  EXPECT_EQ(value(e, "gatehouse_sessions_active"), "3");
  EXPECT_EQ(value(e, "gatehouse_directory_up{directory=\"local\"}"), "1");
  EXPECT_EQ(value(e, "gatehouse_directory_up{directory=\"corp\"}"), "0");
  EXPECT_EQ(value(e, "gatehouse_provider_up{provider=\"sso\"}"), "0");
  EXPECT_EQ(value(e, "gatehouse_outbox_pending"), "<absent>");
}

TEST_F(MetricsTest, TheOutboxBacklogAndDeliveriesAreShown) {
  LiveState live;
  live.outbox_pending = 4;
  live.outbox_oldest_age = 90;
  registry_.count_notification(true);
  registry_.count_notification(false);
  registry_.count_notification(false);
  auto e = scrape(live);
  EXPECT_EQ(value(e, "gatehouse_outbox_pending"), "4");
  EXPECT_EQ(value(e, "gatehouse_outbox_oldest_age_seconds"), "90");
  EXPECT_EQ(value(e, "gatehouse_notifications_total{result=\"sent\"}"), "1");
  EXPECT_EQ(value(e, "gatehouse_notifications_total{result=\"failed\"}"), "2");
}

TEST_F(MetricsTest, ReloadsCountByResultAndOnlySuccessMovesTheTimestamp) {
  metrics_.count_reload(true, kStarted + 60);
  metrics_.count_reload(false, kStarted + 120);
  auto e = scrape();
  EXPECT_EQ(value(e, "gatehouse_config_reloads_total{result=\"success\"}"), "1");
  EXPECT_EQ(value(e, "gatehouse_config_reloads_total{result=\"failure\"}"), "1");
  EXPECT_EQ(value(e, "gatehouse_config_last_reload_timestamp_seconds"), "1700000060");
}

TEST_F(MetricsTest, AReloadKeepsTheCountsOfWhatStaysAndShowsOnlyTheNewConfiguration) {
  metrics_.count_request(metrics_.route_slot(0), 200);                // "/app"
  metrics_.count_request(metrics_.route_slot(1), 200);                // "example.org/", removed below
  metrics_.observe_upstream(0, 3ms);
  metrics_.count_login("corp", LoginOutcome::success);                // stays
  metrics_.count_login("local", LoginOutcome::failure);               // removed below
  metrics_.count_request(metrics_.internal_slot(), 200);

  config::Config next = sample_config();
  next.routes.erase(next.routes.begin() + 1);  // example.org/ goes
  next.routes[2].path_prefix = "/new";        // "/" becomes "/new"
  next.directories.erase(next.directories.begin());  // local goes
  next.oidc[0].name = "sso2";
  Metrics reloaded(registry_, next);
  reloaded.count_request(reloaded.route_slot(0), 500);  // "/app" again
  reloaded.count_login("corp", LoginOutcome::success);
  reloaded.count_reload(true, kStarted + 60);
  // A request that started before the reload still counts, into the same series.
  metrics_.count_request(metrics_.route_slot(0), 200);

  auto e = read_exposition(reloaded.render({}));
  EXPECT_EQ(e.problems, std::vector<std::string>{});
  EXPECT_EQ(value(e, "gatehouse_http_requests_total{route=\"/app\",code=\"2xx\"}"), "2");
  EXPECT_EQ(value(e, "gatehouse_http_requests_total{route=\"/app\",code=\"5xx\"}"), "1");
  EXPECT_EQ(value(e, "gatehouse_http_requests_total{route=\"internal\",code=\"2xx\"}"), "1");
  EXPECT_EQ(value(e, "gatehouse_http_requests_total{route=\"/new\",code=\"2xx\"}"), "0");
  EXPECT_EQ(value(e, "gatehouse_http_requests_total{route=\"example.org/\",code=\"2xx\"}"), "<absent>");
  EXPECT_EQ(value(e, "gatehouse_http_requests_total{route=\"/\",code=\"2xx\"}"), "<absent>");
  EXPECT_EQ(value(e, "gatehouse_upstream_duration_seconds_count{route=\"/app\"}"), "1");
  EXPECT_EQ(value(e, "gatehouse_logins_total{source=\"corp\",outcome=\"success\"}"), "2");
  EXPECT_EQ(value(e, "gatehouse_logins_total{source=\"local\",outcome=\"failure\"}"), "<absent>");
  EXPECT_EQ(value(e, "gatehouse_logins_total{source=\"sso2\",outcome=\"success\"}"), "0");
  EXPECT_EQ(value(e, "gatehouse_directory_up{directory=\"local\"}"), "<absent>");
  EXPECT_EQ(value(e, "gatehouse_provider_up{provider=\"sso2\"}"), "1");
  EXPECT_EQ(value(e, "gatehouse_config_reloads_total{result=\"success\"}"), "1");
  EXPECT_EQ(value(e, "gatehouse_config_last_reload_timestamp_seconds"), "1700000060");

  // A route that comes back continues where it was: counters never go back.
  Metrics again(registry_, sample_config());
  auto e2 = read_exposition(again.render({}));
  EXPECT_EQ(value(e2, "gatehouse_http_requests_total{route=\"example.org/\",code=\"2xx\"}"), "1");
}

}  // namespace
}  // namespace gatehouse::daemon
