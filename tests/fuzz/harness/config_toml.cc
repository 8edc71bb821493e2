// A whole configuration file through the loader (config/config.h): parse_config, the
// entry point that load_config and `gatehouse config check` use after reading the file.
// Properties: exactly one of config and errors; every error names the file, a line within
// the text (1 for the file as a whole) and has a message.
// And (issue 17): every duration of an accepted config can be added to the current
// time in nanoseconds without overflow (finding 11: lock_duration = "106751991167300d"),
// and every route's path_prefix is already in the normal form of request paths
// (finding 12: "/%7Eadmin" and "/api/./internal" can never match).
#include <algorithm>
#include <chrono>
#include <vector>

#include "config/config.h"
#include "common/path_normal.h"
#include "fuzz.h"

namespace {

using namespace gatehouse::config;

std::vector<Seconds> durations(const Config& c) {
  std::vector<Seconds> out = {c.server.upstream_connect_timeout, c.server.upstream_timeout, c.server.shutdown_timeout,
                              c.session.idle_timeout, c.session.absolute_timeout, c.session.assertion_ttl,
                              c.lockout.window, c.lockout.lock_duration, c.audit.retention,
                              c.smtp.timeout, c.delegation.default_duration};
  for (const auto& d : c.directories) {
    const auto& l = d.ldap;
    out.insert(out.end(), {l.group_cache_ttl, l.connect_timeout, l.timeout, l.retry_after});
  }
  for (const auto& o : c.oidc)
    out.insert(out.end(), {o.clock_skew, o.timeout, o.discovery_refresh, o.jwks_refetch_interval});
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = gatehouse::fuzz::as_text(data, size);
  static const std::string file = "fuzz.toml";
  LoadResult result = parse_config(text, file);
  FUZZ_CHECK((result.config == nullptr) == !result.errors.empty(), text);
  const long lines = 1 + std::count(text.begin(), text.end(), '\n');
  for (const auto& e : result.errors) {
    FUZZ_CHECK(e.file == file, e.to_string());
    FUZZ_CHECK(e.line >= 1 && e.line <= lines, e.to_string());
    FUZZ_CHECK(!e.message.empty(), e.to_string());
  }

  if (result.config) {
    using std::chrono::nanoseconds;
    const auto now = std::chrono::duration_cast<Seconds>(std::chrono::system_clock::now().time_since_epoch());
    const auto room = std::chrono::duration_cast<Seconds>(nanoseconds::max()) - now;
    for (Seconds d : durations(*result.config)) FUZZ_CHECK(d >= Seconds(0) && d <= room, format_duration(d));
    for (const auto& r : result.config->routes) {
      auto normal = gatehouse::normalise_path(r.path_prefix);
      FUZZ_CHECK(normal && *normal == r.path_prefix, r.path_prefix);
    }
  }
  return 0;
}
