#pragma once
// Metrics for /.gatehouse/metrics: counters and histograms updated on the request path
// with relaxed atomics only, rendered in the Prometheus text exposition format 0.0.4.
// Every label set is fixed when the registry is built from the configuration, so
// counting is an array index and an atomic add: no lock, no allocation.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace gatehouse::daemon {

// --- text exposition format ---------------------------------------------------------

struct Label {
  std::string_view name;
  std::string_view value;
};
using Labels = std::vector<Label>;

// Label values: backslash, double quote and line feed escaped.
std::string escape_label_value(std::string_view value);
// HELP text: backslash and line feed escaped.
std::string escape_help(std::string_view text);
// Shortest text that reads back as the same double; "+Inf", "-Inf", "NaN".
std::string format_value(double value);

// Builds one exposition: families in the order written, each with its # HELP and
// # TYPE lines before its samples.
class TextWriter {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, const Labels& labels, double value);
  // Counters stay exact beyond 2^53.
  void sample(std::string_view name, const Labels& labels, std::uint64_t value);
  void sample(std::string_view name, const Labels& labels, std::int64_t value);
  std::string take() && { return std::move(out_); }

 private:
  void begin_sample(std::string_view name, const Labels& labels);
  std::string out_;
};

// A histogram with fixed, ascending, finite upper bounds (a +Inf bucket is implicit).
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);  // NaN is ignored
  // NAME_bucket{…,le="…"} (cumulative, ending with le="+Inf"), NAME_sum, NAME_count.
  void render(TextWriter& out, std::string_view name, const Labels& labels) const;

 private:
  std::vector<double> bounds_;
  // Per bucket, not cumulative: one increment per observation. The last one is +Inf.
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

// --- gatehouse's metrics -----------------------------------------------------------

enum class LoginOutcome { success, failure, locked, throttled, unavailable };
inline constexpr std::size_t kLoginOutcomes = 5;

// What a scrape finds out at the time (on the blocking pool), beside the counters.
struct LiveState {
  std::optional<std::int64_t> sessions_active;  // nullopt: the store could not say
  std::optional<std::int64_t> outbox_pending;   // e-mails not yet delivered
  std::int64_t outbox_oldest_age = 0;           // seconds the oldest of them has waited
  // Readiness components that failed: "directory:NAME", "provider:NAME" (as in readyz).
  std::vector<std::string> failing;
};

// One route's series: responses by status class and the upstream latency.
struct RouteSeries {
  std::array<std::atomic<std::uint64_t>, 4> requests{};  // 2xx 3xx 4xx 5xx
  Histogram upstream;
  // inject_secret: the effective party's secret went upstream, or it had none (403).
  std::atomic<std::uint64_t> secret_injected{0};
  std::atomic<std::uint64_t> secret_missing{0};
  RouteSeries();
};
using LoginOutcomes = std::array<std::atomic<std::uint64_t>, kLoginOutcomes>;

// Where the counters live, for the daemon's lifetime. A reload builds a new Metrics
// view for the new configuration; a route or source that stays keeps its series, so
// counters never go back, and series of a removed one are no longer shown.
class MetricsRegistry {
 public:
  // `version` goes into gatehouse_build_info; `started_at` (Unix seconds) is the first
  // configuration's load time until a reload happens.
  MetricsRegistry(std::string version, std::int64_t started_at);
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  void count_lockout();
  // Notification e-mails: delivered, or an attempt that failed (retried later).
  void count_notification(bool sent);
  // For the reload that replaces the configuration: a success also sets the time.
  void count_reload(bool success, std::int64_t at);

 private:
  friend class Metrics;
  // Created on first use; never removed, so a Metrics view may keep the pointer.
  RouteSeries* route(const std::string& label);
  LoginOutcomes* source(const std::string& label);

  std::string version_;
  std::mutex mu_;  // the two maps; counting goes through pointers and needs no lock
  std::map<std::string, std::unique_ptr<RouteSeries>> routes_;
  std::map<std::string, std::unique_ptr<LoginOutcomes>> sources_;
  std::atomic<std::uint64_t> lockouts_{0};
  std::atomic<std::uint64_t> notifications_sent_{0};
  std::atomic<std::uint64_t> notifications_failed_{0};
  std::atomic<std::uint64_t> reloads_ok_{0};
  std::atomic<std::uint64_t> reloads_failed_{0};
  std::atomic<std::int64_t> last_reload_{0};
};

// The metrics of one configuration: its label sets, in its order, over the registry's
// series. Counting is an index, a pointer and an atomic add: no lock, no allocation.
class Metrics {
 public:
  // Upstream latency buckets, in seconds: Prometheus' defaults and the time-outs above.
  static const std::vector<double>& upstream_buckets();

  // Label sets from `config`: its routes (by RouteConfig::id()), directories and
  // providers.
  Metrics(MetricsRegistry& registry, const config::Config& config);
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Values of the route label: the configured routes by their position in
  // config.routes, then "internal" (/.gatehouse/…) and "unmatched" (no route, or
  // refused before routing).
  std::size_t route_slot(std::size_t route_index) const;
  std::size_t internal_slot() const { return internal_slot_; }
  std::size_t unmatched_slot() const { return internal_slot_ + 1; }

  void count_request(std::size_t slot, int status) const;
  void observe_upstream(std::size_t route_index, std::chrono::steady_clock::duration elapsed) const;
  void count_secret_injection(std::size_t route_index, bool injected) const;
  // `source`: a directory or provider name; "" (or an unknown name) when no directory
  // was asked (a throttled address, a locked account, an unusable user name).
  void count_login(std::string_view source, LoginOutcome outcome) const;
  void count_lockout() const { registry_.count_lockout(); }
  void count_reload(bool success, std::int64_t at) const { registry_.count_reload(success, at); }

  std::string render(const LiveState& live) const;

 private:
  std::size_t source_slot(std::string_view source) const;

  MetricsRegistry& registry_;
  std::vector<std::string> routes_;        // label value per slot
  std::vector<RouteSeries*> series_;       // per slot
  std::vector<std::size_t> route_slots_;   // config.routes index -> slot (same id, same slot)
  std::vector<bool> injects_;              // per slot: the route has inject_secret
  std::size_t internal_slot_ = 0;
  std::vector<std::string> directories_;
  std::vector<std::string> providers_;
  std::vector<std::string> sources_;       // directories, providers, then ""
  std::vector<LoginOutcomes*> logins_;     // per source
};

}  // namespace gatehouse::daemon
