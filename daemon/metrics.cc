#include "daemon/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace gatehouse::daemon {

namespace {

constexpr std::array<std::string_view, 4> kStatusClasses = {"2xx", "3xx", "4xx", "5xx"};
constexpr std::array<std::string_view, kLoginOutcomes> kOutcomes = {"success", "failure", "locked", "throttled",
                                                                    "unavailable"};

// 1xx (never final here) counts with 2xx; anything past 5xx with 5xx.
std::size_t status_class(int status) { return static_cast<std::size_t>(std::clamp(status / 100, 2, 5) - 2); }

void add(std::atomic<std::uint64_t>& counter) { counter.fetch_add(1, std::memory_order_relaxed); }
std::uint64_t load(const std::atomic<std::uint64_t>& counter) { return counter.load(std::memory_order_relaxed); }

Labels with(Labels labels, Label extra) {
  labels.push_back(extra);
  return labels;
}

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_help(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Whole numbers as integers: a timestamp reads 1700000000, not 1.7e+09.
  if (std::trunc(value) == value && std::fabs(value) < 9007199254740992.0)
    return std::to_string(static_cast<std::int64_t>(value));
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  return std::string(buf, end);
}

void TextWriter::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += escape_help(help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void TextWriter::begin_sample(std::string_view name, const Labels& labels) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out_ += ',';
      out_ += labels[i].name;
      out_ += "=\"";
      out_ += escape_label_value(labels[i].value);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
}

void TextWriter::sample(std::string_view name, const Labels& labels, double value) {
  begin_sample(name, labels);
  out_ += format_value(value);
  out_ += '\n';
}

void TextWriter::sample(std::string_view name, const Labels& labels, std::uint64_t value) {
  begin_sample(name, labels);
  out_ += std::to_string(value);
  out_ += '\n';
}

void TextWriter::sample(std::string_view name, const Labels& labels, std::int64_t value) {
  begin_sample(name, labels);
  out_ += std::to_string(value);
  out_ += '\n';
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || (i > 0 && bounds_[i] <= bounds_[i - 1]))
      throw std::invalid_argument("histogram bounds must be finite and ascending");
  }
  for (std::size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double value) {
  if (std::isnan(value)) return;
  // The first bucket whose upper bound is >= value ("le": less or equal).
  const auto i = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  add(counts_[i]);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

void Histogram::render(TextWriter& out, std::string_view name, const Labels& labels) const {
  const std::string bucket = std::string(name) + "_bucket";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += load(counts_[i]);
    const std::string le = format_value(bounds_[i]);
    out.sample(bucket, with(labels, {"le", le}), cumulative);
  }
  cumulative += load(counts_[bounds_.size()]);
  out.sample(bucket, with(labels, {"le", "+Inf"}), cumulative);
  out.sample(std::string(name) + "_sum", labels, sum_.load(std::memory_order_relaxed));
  // The count is the +Inf bucket, so the two always agree within one scrape.
  out.sample(std::string(name) + "_count", labels, cumulative);
}

const std::vector<double>& Metrics::upstream_buckets() {
  static const std::vector<double> buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                              1,     2.5,  5,     10,   30,  60};
  return buckets;
}

RouteSeries::RouteSeries() : upstream(Metrics::upstream_buckets()) {}

MetricsRegistry::MetricsRegistry(std::string version, std::int64_t started_at)
    : version_(std::move(version)), last_reload_(started_at) {}

RouteSeries* MetricsRegistry::route(const std::string& label) {
  std::lock_guard lock(mu_);
  auto& slot = routes_[label];
  if (!slot) slot = std::make_unique<RouteSeries>();
  return slot.get();
}

LoginOutcomes* MetricsRegistry::source(const std::string& label) {
  std::lock_guard lock(mu_);
  auto& slot = sources_[label];
  if (!slot) slot = std::make_unique<LoginOutcomes>();
  return slot.get();
}

void MetricsRegistry::count_lockout() { add(lockouts_); }

void MetricsRegistry::count_notification(bool sent) { add(sent ? notifications_sent_ : notifications_failed_); }

void MetricsRegistry::count_reload(bool success, std::int64_t at) {
  if (success) {
    add(reloads_ok_);
    last_reload_.store(at, std::memory_order_relaxed);
  } else {
    add(reloads_failed_);
  }
}

Metrics::Metrics(MetricsRegistry& registry, const config::Config& config) : registry_(registry) {
  for (const auto& route : config.routes) {
    // Two routes with one id would be two series with one label set: they share one.
    const std::string id = route.id();
    auto it = std::find(routes_.begin(), routes_.end(), id);
    route_slots_.push_back(static_cast<std::size_t>(it - routes_.begin()));
    if (it == routes_.end()) routes_.push_back(id);
  }
  internal_slot_ = routes_.size();
  // Route ids start with a host or '/', so these two never collide with one.
  routes_.push_back("internal");
  routes_.push_back("unmatched");
  for (const auto& label : routes_) series_.push_back(registry_.route(label));
  injects_.assign(routes_.size(), false);
  for (std::size_t i = 0; i < config.routes.size(); ++i)
    if (config.routes[i].inject_secret) injects_[route_slots_[i]] = true;

  for (const auto& d : config.directories) directories_.push_back(d.name);
  for (const auto& o : config.oidc) providers_.push_back(o.name);
  sources_ = directories_;
  sources_.insert(sources_.end(), providers_.begin(), providers_.end());
  sources_.push_back("");
  for (const auto& label : sources_) logins_.push_back(registry_.source(label));
}

std::size_t Metrics::route_slot(std::size_t route_index) const {
  return route_index < route_slots_.size() ? route_slots_[route_index] : unmatched_slot();
}

std::size_t Metrics::source_slot(std::string_view source) const {
  // A handful of names: a scan is as fast as a hash and needs no allocation.
  for (std::size_t i = 0; i + 1 < sources_.size(); ++i)
    if (sources_[i] == source) return i;
  return sources_.size() - 1;
}

void Metrics::count_request(std::size_t slot, int status) const {
  if (slot >= series_.size()) slot = unmatched_slot();
  add(series_[slot]->requests[status_class(status)]);
}

void Metrics::observe_upstream(std::size_t route_index, std::chrono::steady_clock::duration elapsed) const {
  if (route_index >= route_slots_.size()) return;
  series_[route_slots_[route_index]]->upstream.observe(std::chrono::duration<double>(elapsed).count());
}

void Metrics::count_secret_injection(std::size_t route_index, bool injected) const {
  if (route_index >= route_slots_.size()) return;
  RouteSeries& s = *series_[route_slots_[route_index]];
  add(injected ? s.secret_injected : s.secret_missing);
}

void Metrics::count_login(std::string_view source, LoginOutcome outcome) const {
  add((*logins_[source_slot(source)])[static_cast<std::size_t>(outcome)]);
}

std::string Metrics::render(const LiveState& live) const {
  TextWriter out;
  out.family("gatehouse_build_info", "gauge", "Version of the running gatehouse; always 1.");
  out.sample("gatehouse_build_info", {{"version", registry_.version_}}, 1.0);

  out.family("gatehouse_http_requests_total", "counter",
             "HTTP responses by route and status class; route is the route id, \"internal\" for "
             "/.gatehouse/ endpoints, \"unmatched\" when no route applied.");
  for (std::size_t slot = 0; slot < routes_.size(); ++slot)
    for (std::size_t k = 0; k < kStatusClasses.size(); ++k)
      out.sample("gatehouse_http_requests_total", {{"route", routes_[slot]}, {"code", kStatusClasses[k]}},
                 load(series_[slot]->requests[k]));

  out.family("gatehouse_upstream_duration_seconds", "histogram",
             "Time from starting to forward a request (connection included) until the upstream's "
             "response header arrived.");
  for (std::size_t slot = 0; slot < internal_slot_; ++slot)
    series_[slot]->upstream.render(out, "gatehouse_upstream_duration_seconds", {{"route", routes_[slot]}});

  out.family("gatehouse_secret_injections_total", "counter",
             "Requests on routes with inject_secret: outcome \"injected\" (the effective party's secret "
             "went upstream) or \"missing\" (the party has no such secret; answered 403).");
  for (std::size_t slot = 0; slot < internal_slot_; ++slot) {
    if (!injects_[slot]) continue;
    out.sample("gatehouse_secret_injections_total", {{"route", routes_[slot]}, {"outcome", "injected"}},
               load(series_[slot]->secret_injected));
    out.sample("gatehouse_secret_injections_total", {{"route", routes_[slot]}, {"outcome", "missing"}},
               load(series_[slot]->secret_missing));
  }

  out.family("gatehouse_logins_total", "counter",
             "Login attempts by directory or provider and outcome; source is empty when no "
             "directory was asked.");
  for (std::size_t s = 0; s < sources_.size(); ++s)
    for (std::size_t k = 0; k < kOutcomes.size(); ++k)
      out.sample("gatehouse_logins_total", {{"source", sources_[s]}, {"outcome", kOutcomes[k]}},
                 load((*logins_[s])[k]));

  out.family("gatehouse_lockouts_total", "counter", "Accounts locked after too many failed logins.");
  out.sample("gatehouse_lockouts_total", {}, load(registry_.lockouts_));

  out.family("gatehouse_sessions_active", "gauge", "Sessions that have not expired.");
  if (live.sessions_active) out.sample("gatehouse_sessions_active", {}, *live.sessions_active);

  out.family("gatehouse_outbox_pending", "gauge", "Notification e-mails waiting to be delivered.");
  if (live.outbox_pending) out.sample("gatehouse_outbox_pending", {}, *live.outbox_pending);
  out.family("gatehouse_outbox_oldest_age_seconds", "gauge", "How long the oldest waiting e-mail has waited.");
  if (live.outbox_pending) out.sample("gatehouse_outbox_oldest_age_seconds", {}, live.outbox_oldest_age);
  out.family("gatehouse_notifications_total", "counter", "Notification e-mail delivery attempts by result.");
  out.sample("gatehouse_notifications_total", {{"result", "sent"}}, load(registry_.notifications_sent_));
  out.sample("gatehouse_notifications_total", {{"result", "failed"}}, load(registry_.notifications_failed_));

  auto up = [&](const std::string& component) {
    return std::find(live.failing.begin(), live.failing.end(), component) == live.failing.end() ? 1.0 : 0.0;
  };
  out.family("gatehouse_directory_up", "gauge", "1 when the directory answered the readiness check, else 0.");
  for (const auto& d : directories_) out.sample("gatehouse_directory_up", {{"directory", d}}, up("directory:" + d));
  out.family("gatehouse_provider_up", "gauge", "1 when the OpenID provider answered the readiness check, else 0.");
  for (const auto& p : providers_) out.sample("gatehouse_provider_up", {{"provider", p}}, up("provider:" + p));

  out.family("gatehouse_config_reloads_total", "counter", "Configuration reloads by result.");
  out.sample("gatehouse_config_reloads_total", {{"result", "success"}}, load(registry_.reloads_ok_));
  out.sample("gatehouse_config_reloads_total", {{"result", "failure"}}, load(registry_.reloads_failed_));
  out.family("gatehouse_config_last_reload_timestamp_seconds", "gauge",
             "Unix time the configuration in use was loaded.");
  out.sample("gatehouse_config_last_reload_timestamp_seconds", {}, registry_.last_reload_.load(std::memory_order_relaxed));
  return std::move(out).take();
}

}  // namespace gatehouse::daemon
