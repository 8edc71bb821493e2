#pragma once
// Metrics for /.gatehouse/metrics: counters and histograms updated on the request path
// with relaxed atomics only, rendered in the Prometheus text exposition format 0.0.4.
// Every label set is fixed when the registry is built from the configuration, so
// counting is an array index and an atomic add: no lock, no allocation.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
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
  // Readiness components that failed: "directory:NAME", "provider:NAME" (as in readyz).
  std::vector<std::string> failing;
};

class Metrics {
 public:
  // Upstream latency buckets, in seconds: Prometheus' defaults and the time-outs above.
  static const std::vector<double>& upstream_buckets();

  // Label sets from `config`: its routes (by RouteConfig::id()), directories and
  // providers. `version` goes into gatehouse_build_info; `started_at` (Unix seconds)
  // is the configuration's load time until a reload happens.
  Metrics(const config::Config& config, std::string version, std::int64_t started_at);
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Values of the route label: the configured routes by their position in
  // config.routes, then "internal" (/.gatehouse/…) and "unmatched" (no route, or
  // refused before routing).
  std::size_t route_slot(std::size_t route_index) const;
  std::size_t internal_slot() const { return internal_slot_; }
  std::size_t unmatched_slot() const { return internal_slot_ + 1; }

  void count_request(std::size_t slot, int status);
  void observe_upstream(std::size_t route_index, std::chrono::steady_clock::duration elapsed);
  // `source`: a directory or provider name; "" (or an unknown name) when no directory
  // was asked (a throttled address, a locked account, an unusable user name).
  void count_login(std::string_view source, LoginOutcome outcome);
  void count_lockout();
  // For the reload that replaces the configuration: a success also sets the time.
  void count_reload(bool success, std::int64_t at);

  std::string render(const LiveState& live) const;

 private:
  std::size_t source_slot(std::string_view source) const;

  using StatusClasses = std::array<std::atomic<std::uint64_t>, 4>;  // 2xx 3xx 4xx 5xx
  using Outcomes = std::array<std::atomic<std::uint64_t>, kLoginOutcomes>;

  std::string version_;
  std::vector<std::string> routes_;        // label value per slot
  std::vector<std::size_t> route_slots_;   // config.routes index -> slot (same id, same slot)
  std::size_t internal_slot_ = 0;
  std::vector<StatusClasses> requests_;    // per slot
  std::vector<std::unique_ptr<Histogram>> upstream_;  // per slot of a configured route
  std::vector<std::string> directories_;
  std::vector<std::string> providers_;
  std::vector<std::string> sources_;       // directories, providers, then ""
  std::vector<Outcomes> logins_;           // per source
  std::atomic<std::uint64_t> lockouts_{0};
  std::atomic<std::uint64_t> reloads_ok_{0};
  std::atomic<std::uint64_t> reloads_failed_{0};
  std::atomic<std::int64_t> last_reload_{0};
};

}  // namespace gatehouse::daemon
