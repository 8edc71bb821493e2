// bench/ldap_login.cc — LDAP login benchmark: gatehouse logins/s against the raw
// search-then-bind rate of a minimal libldap client, in one run against the same slapd.
//
// Performance target (the issue for bench/ldap_login): a gatehouse login (POST
// /.gatehouse/login against a kind = "ldap" directory) should reach at least 0.8 of the
// rate at which a minimal synchronous libldap client on pooled connections can do the
// LDAP part of a login (search the user as the service account, bind as the user).
//
// One private slapd (tests/integration/slapd_server.h: the same fixture and data as the
// LDAP integration tests) serves both phases:
//   raw        CONCURRENCY threads, each with two libldap connections opened once (one
//              bound as the service account for searches, one for user binds). A login:
//              ldap_search_ext_s (uid=benchN) under ou=people for uid mail displayName cn
//              o, then ldap_sasl_bind_s as the DN found with the password (thread N logs in as benchN).
//   gatehouse  `gatehouse serve` (the Release binary this target was built with) with one
//              kind = "ldap" directory as a sysadmin would write it; CONCURRENCY client
//              threads, each on its own keep-alive HTTP connection, fetch the login form
//              once (CSRF cookie and token) and then POST username/password to
//              /.gatehouse/login in a loop; a login counts when the answer is 303.
// Each phase has WARMUP seconds of load that are not counted, then DURATION measured
// seconds. Printed per phase: logins/s, p50/p99 latency of one login, errors, LDAP
// operations per login (from slapd's stats log), CPU per login of slapd, gatehouse and
// this program, and the ratio gatehouse/raw.
//
// Environment (bench/README.md):
//   DURATION=10        measured seconds per phase
//   CONCURRENCY=16     client threads per phase
//   WARMUP=1           unmeasured seconds of load before each phase
//   GATEHOUSE_THREADS  [server] threads of gatehouse (unset: not written, gatehouse's default)
//   POOL_SIZE          pool_size of the directory (unset: not written, default 8)
//   LDAP_GROUPS=1      0: leave group_base out of the directory (no group searches)
//   LDAP_EXTRA         more lines for the [[directory]] table, e.g. 'timeout = "10s"'
//   RAW_GROUPS=0       1: the raw client also does gatehouse's nested group searches
//                      ((member=DN) under ou=groups, level by level), for comparison
//
// Exit status: 0 when both phases ran without errors (whether or not the target is
// met), 1 when a phase had errors or something could not be started, 2 for bad settings.
#include <ldap.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "integration/harness.h"
#include "integration/slapd_server.h"

namespace {

using namespace gatehouse::testing;
using Clock = std::chrono::steady_clock;

std::atomic<bool> g_interrupted{false};

void on_signal(int) { g_interrupted = true; }

// --- settings ------------------------------------------------------------------------

struct Settings {
  int duration = 10;
  int concurrency = 16;
  int warmup = 1;
  std::optional<int> gatehouse_threads;
  std::optional<int> pool_size;
  bool ldap_groups = true;
  std::string ldap_extra;
  bool raw_groups = false;
};

bool env_int(const char* name, int min, int max, std::optional<int>* out) {
  const char* v = getenv(name);
  if (v == nullptr || *v == '\0') return true;
  char* end = nullptr;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0' || n < min || n > max) {
    fprintf(stderr, "bench_ldap_login: %s must be a whole number from %d to %d (got '%s')\n", name, min, max, v);
    return false;
  }
  *out = static_cast<int>(n);
  return true;
}

bool env_int(const char* name, int min, int max, int* out) {
  std::optional<int> v;
  if (!env_int(name, min, max, &v)) return false;
  if (v) *out = *v;
  return true;
}

bool env_bool(const char* name, bool* out) {
  std::optional<int> v;
  if (!env_int(name, 0, 1, &v)) return false;
  if (v) *out = *v == 1;
  return true;
}

// --- measurement helpers -------------------------------------------------------------

// The three phases of a load run: load that is not counted, the measured window, stop.
enum class Phase { warmup, measure, stop };

struct Sample {
  long long ok = 0;
  std::vector<std::uint32_t> latencies_us;  // of successful logins in the window
  std::map<std::string, long long> errors;  // what went wrong -> how often (in the window)
};

struct Load {
  std::atomic<Phase> phase{Phase::warmup};
  std::mutex mu;
  std::vector<Sample> samples;
  void add(Sample s) {
    std::lock_guard lock(mu);
    samples.push_back(std::move(s));
  }
};

// utime + stime of a process, in clock ticks (all threads); -1 when it is gone.
long long cpu_ticks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::vector<std::string> f;
  size_t pos = close + 2;
  while (pos < text.size()) {
    size_t sp = text.find(' ', pos);
    if (sp == std::string::npos) sp = text.size();
    f.push_back(text.substr(pos, sp - pos));
    pos = sp + 1;
  }
  // After "pid (comm) ": f[0] is field 3 (state); utime and stime are fields 14 and 15.
  if (f.size() < 13) return -1;
  return std::stoll(f[11]) + std::stoll(f[12]);
}

// Busy and total clock ticks of the whole machine (interrupt time left out of busy).
std::pair<long long, long long> machine_ticks() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  long long user = 0, nice = 0, sys = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  in >> cpu >> user >> nice >> sys >> idle >> iowait >> irq >> softirq >> steal;
  return {user + nice + sys, user + nice + sys + idle + iowait + irq + softirq + steal};
}

long long file_size(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<long long>(st.st_size) : 0;
}

// What slapd's stats log says about a byte range of it (the measured window).
struct LdapOps {
  long long searches = 0;  // SRCH requests
  long long binds = 0;     // BIND requests
  long long accepts = 0;   // TCP connections accepted
};

LdapOps count_ops(const std::string& log_path, long long from, long long to) {
  LdapOps ops;
  std::ifstream in(log_path, std::ios::binary);
  in.seekg(from);
  std::string line;
  long long pos = from;
  while (pos < to && std::getline(in, line)) {
    pos += static_cast<long long>(line.size()) + 1;
    if (line.find(" SRCH base=") != std::string::npos) {
      ++ops.searches;
    } else if (line.find(" BIND dn=\"") != std::string::npos) {
      if (line.find("\" method=") != std::string::npos) ++ops.binds;  // the request, not the "mech=" line
    } else if (line.find(" ACCEPT from IP=") != std::string::npos) {
      ++ops.accepts;
    }
  }
  return ops;
}

std::uint32_t percentile(const std::vector<std::uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

struct Result {
  std::string name;
  double seconds = 0;
  long long ok = 0;
  double rate = 0;
  std::uint32_t p50 = 0, p99 = 0;
  long long errors = 0;
  std::map<std::string, long long> error_kinds;
  LdapOps ops;
  double slapd_cpu_us = 0;      // per login
  double gatehouse_cpu_us = 0;  // per login (0 in the raw phase)
  double client_cpu_us = 0;     // this program, per login
  double other_pct = 0;         // CPU of everything else, % of the machine
  long long client_connections = 0;
};

// Runs `worker` on `threads` threads through warm-up and the measured window and
// collects what they recorded. The CPU of `pids` (slapd, gatehouse) and this process
// and the ops in slapd's log are measured over the window.
template <typename Worker>
Result run_load(const std::string& name, const Settings& s, int threads, Worker worker, pid_t slapd_pid,
                pid_t gatehouse_pid, const std::string& slapd_log) {
  Load load;
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back([&, i] { worker(i, load); });

  auto sleep_until_or_interrupt = [](Clock::time_point t) {
    while (Clock::now() < t && !g_interrupted) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  };
  sleep_until_or_interrupt(Clock::now() + std::chrono::seconds(s.warmup));

  const long long ticks_per_s = sysconf(_SC_CLK_TCK);
  auto [m0_busy, m0_total] = machine_ticks();
  const long long slapd0 = cpu_ticks(slapd_pid);
  const long long gh0 = gatehouse_pid > 0 ? cpu_ticks(gatehouse_pid) : 0;
  const long long self0 = cpu_ticks(getpid());
  const long long log0 = file_size(slapd_log);
  const auto t0 = Clock::now();
  load.phase = Phase::measure;

  sleep_until_or_interrupt(t0 + std::chrono::seconds(s.duration));

  load.phase = Phase::stop;
  const auto t1 = Clock::now();
  const long long log1 = file_size(slapd_log);
  const long long slapd1 = cpu_ticks(slapd_pid);
  const long long gh1 = gatehouse_pid > 0 ? cpu_ticks(gatehouse_pid) : 0;
  const long long self1 = cpu_ticks(getpid());
  auto [m1_busy, m1_total] = machine_ticks();
  for (auto& t : pool) t.join();

  Result r;
  r.name = name;
  r.seconds = std::chrono::duration<double>(t1 - t0).count();
  std::vector<std::uint32_t> all;
  for (auto& sample : load.samples) {
    r.ok += sample.ok;
    all.insert(all.end(), sample.latencies_us.begin(), sample.latencies_us.end());
    for (auto& [k, v] : sample.errors) {
      r.error_kinds[k] += v;
      r.errors += v;
    }
  }
  std::sort(all.begin(), all.end());
  r.p50 = percentile(all, 0.50);
  r.p99 = percentile(all, 0.99);
  r.rate = r.seconds > 0 ? static_cast<double>(r.ok) / r.seconds : 0;
  r.ops = count_ops(slapd_log, log0, log1);
  auto per_login_us = [&](long long ticks) {
    return r.ok > 0 ? static_cast<double>(ticks) * 1e6 / static_cast<double>(ticks_per_s) / static_cast<double>(r.ok)
                    : 0.0;
  };
  r.slapd_cpu_us = per_login_us(slapd1 - slapd0);
  r.gatehouse_cpu_us = per_login_us(gh1 - gh0);
  r.client_cpu_us = per_login_us(self1 - self0);
  const long long ours = (slapd1 - slapd0) + (gh1 - gh0) + (self1 - self0);
  const long long total = m1_total - m0_total;
  r.other_pct = total > 0 ? std::max(0.0, 100.0 * static_cast<double>((m1_busy - m0_busy) - ours) /
                                              static_cast<double>(total))
                          : 0.0;
  return r;
}

// Records one attempt in `sample` when it both started and ended inside the window.
void record(Load& load, Sample& sample, Phase started, Clock::time_point t0, const std::string* error) {
  if (started != Phase::measure || load.phase.load() != Phase::measure) return;
  if (error != nullptr) {
    ++sample.errors[*error];
    return;
  }
  ++sample.ok;
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
  sample.latencies_us.push_back(static_cast<std::uint32_t>(std::min<long long>(us, UINT32_MAX)));
}

// --- raw phase: a minimal libldap client -----------------------------------------------

// RFC 4515 escaping of a filter value.
std::string escape_filter(const std::string& v) {
  std::string out;
  for (unsigned char c : v) {
    if (c == '*' || c == '(' || c == ')' || c == '\\' || c == 0) {
      char buf[4];
      snprintf(buf, sizeof buf, "\\%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

LDAP* open_ldap(const std::string& uri, std::string* error) {
  LDAP* ld = nullptr;
  int rc = ldap_initialize(&ld, uri.c_str());
  if (rc != LDAP_SUCCESS || ld == nullptr) {
    *error = "ldap_initialize: " + std::string(ldap_err2string(rc));
    return nullptr;
  }
  int version = LDAP_VERSION3;
  timeval network{5, 0};
  timeval operation{10, 0};
  ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
  ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
  ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &network);
  ldap_set_option(ld, LDAP_OPT_TIMEOUT, &operation);
  return ld;
}

int simple_bind(LDAP* ld, const std::string& dn, const std::string& password) {
  berval cred;
  cred.bv_val = const_cast<char*>(password.data());
  cred.bv_len = password.size();
  return ldap_sasl_bind_s(ld, dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, nullptr);
}

struct RawConnections {
  LDAP* service = nullptr;  // bound as the service account: searches
  LDAP* user = nullptr;     // user binds
  ~RawConnections() {
    if (service != nullptr) ldap_unbind_ext_s(service, nullptr, nullptr);
    if (user != nullptr) ldap_unbind_ext_s(user, nullptr, nullptr);
  }
};

// Each client thread logs in as its own user, as many people would: bench0, bench1, …
// (added to the fixture's data before the phases, all in developers -> engineering,
// like alice). One user for every thread would measure gatehouse's lockout instead: it
// lets at most max_failures attempts at one account reach the directory at a time.
constexpr const char* kBenchPassword = "bench-Password-1";
std::string bench_user(int thread) { return "bench" + std::to_string(thread); }

bool add_bench_users(SlapdServer& slapd, int count, std::string* error) {
  std::string ldif;
  const std::string people(ldap_fixture::kPeopleDn);
  for (int i = 0; i < count; ++i) {
    const std::string uid = bench_user(i);
    ldif += "dn: uid=" + uid + "," + people + "\nchangetype: add\nobjectClass: inetOrgPerson\nuid: " + uid +
            "\ncn: Bench User " + std::to_string(i) + "\nsn: User\ndisplayName: Bench User " + std::to_string(i) +
            "\nmail: " + uid + "@example.org\no: acme\nuserPassword: " + kBenchPassword + "\n\n";
  }
  ldif += "dn: cn=developers," + std::string(ldap_fixture::kGroupsDn) + "\nchangetype: modify\nadd: member\n";
  for (int i = 0; i < count; ++i) ldif += "member: uid=" + bench_user(i) + "," + people + "\n";
  return slapd.modify(ldif + "\n", error);
}

// One login: search (uid=USER), read the entry, bind as it; optionally the nested group
// searches gatehouse does. "" on success, else what failed.
std::string raw_login(RawConnections& c, const std::string& uid, bool with_groups) {
  static const char* attrs[] = {"uid", "mail", "displayName", "cn", "o", nullptr};
  static const std::string people(ldap_fixture::kPeopleDn);
  static const std::string groups(ldap_fixture::kGroupsDn);
  static const std::string password(kBenchPassword);
  const std::string user_filter = "(uid=" + uid + ")";
  timeval tv{10, 0};
  LDAPMessage* res = nullptr;
  int rc = ldap_search_ext_s(c.service, people.c_str(), LDAP_SCOPE_SUBTREE, user_filter.c_str(),
                             const_cast<char**>(attrs), 0, nullptr, nullptr, &tv, 2, &res);
  if (rc != LDAP_SUCCESS) {
    if (res != nullptr) ldap_msgfree(res);
    return "search: " + std::string(ldap_err2string(rc));
  }
  if (ldap_count_entries(c.service, res) != 1) {
    ldap_msgfree(res);
    return "search: not exactly one entry";
  }
  LDAPMessage* e = ldap_first_entry(c.service, res);
  char* dn_c = ldap_get_dn(c.service, e);
  std::string dn = dn_c != nullptr ? dn_c : "";
  if (dn_c != nullptr) ldap_memfree(dn_c);
  // Read the attributes as a real client would (values are not used).
  size_t bytes = 0;
  for (const char** a = attrs; *a != nullptr; ++a) {
    berval** vals = ldap_get_values_len(c.service, e, *a);
    if (vals == nullptr) continue;
    for (berval** v = vals; *v != nullptr; ++v) bytes += (*v)->bv_len;
    ldap_value_free_len(vals);
  }
  ldap_msgfree(res);
  if (dn.empty() || bytes == 0) return "search: entry without DN or attributes";

  rc = simple_bind(c.user, dn, password);
  if (rc != LDAP_SUCCESS) return "bind: " + std::string(ldap_err2string(rc));

  if (with_groups) {
    // As gatehouse's groups_of: (member=DN) level by level, until a level finds nothing.
    static const char* group_attrs[] = {"cn", nullptr};
    std::vector<std::string> frontier = {dn};
    int found = 0;
    for (int depth = 0; depth < 10 && !frontier.empty(); ++depth) {
      std::string filter;
      for (const auto& f : frontier) filter += "(member=" + escape_filter(f) + ")";
      if (frontier.size() > 1) filter = "(|" + filter + ")";
      std::vector<std::string> next;
      LDAPMessage* g = nullptr;
      rc = ldap_search_ext_s(c.service, groups.c_str(), LDAP_SCOPE_SUBTREE, filter.c_str(),
                             const_cast<char**>(group_attrs), 0, nullptr, nullptr, &tv, 0, &g);
      if (rc != LDAP_SUCCESS) {
        if (g != nullptr) ldap_msgfree(g);
        return "group search: " + std::string(ldap_err2string(rc));
      }
      for (LDAPMessage* ge = ldap_first_entry(c.service, g); ge != nullptr; ge = ldap_next_entry(c.service, ge)) {
        char* gdn = ldap_get_dn(c.service, ge);
        if (gdn != nullptr) {
          next.emplace_back(gdn);
          ldap_memfree(gdn);
        }
      }
      ldap_msgfree(g);
      found += static_cast<int>(next.size());
      frontier = std::move(next);
    }
    if (found != 2) return "group search: expected 2 groups, got " + std::to_string(found);
  }
  return "";
}

Result raw_phase(const Settings& s, const SlapdServer& slapd, const std::string& slapd_log, bool* setup_ok) {
  const std::string uri = slapd.ldap_uri();
  const std::string svc_dn = slapd.bind_dn();
  const std::string svc_pw(ldap_fixture::kServicePassword);
  std::atomic<int> setup_failures{0};
  std::mutex setup_mu;
  std::string setup_error;
  auto worker = [&](int thread, Load& load) {
    const std::string uid = bench_user(thread);
    RawConnections c;
    std::string error;
    c.service = open_ldap(uri, &error);
    if (c.service != nullptr) {
      int rc = simple_bind(c.service, svc_dn, svc_pw);
      if (rc != LDAP_SUCCESS) error = "service bind: " + std::string(ldap_err2string(rc));
    }
    if (error.empty()) c.user = open_ldap(uri, &error);
    if (!error.empty()) {
      ++setup_failures;
      std::lock_guard lock(setup_mu);
      setup_error = error;
      return;
    }
    Sample sample;
    sample.latencies_us.reserve(1 << 16);
    for (;;) {
      const Phase started = load.phase.load();
      if (started == Phase::stop || g_interrupted) break;
      const auto t0 = Clock::now();
      std::string failure = raw_login(c, uid, s.raw_groups);
      record(load, sample, started, t0, failure.empty() ? nullptr : &failure);
      if (!failure.empty() && started != Phase::measure) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    load.add(std::move(sample));
  };
  Result r = run_load("raw", s, s.concurrency, worker, slapd.pid(), -1, slapd_log);
  r.client_connections = 2LL * (s.concurrency - setup_failures.load());
  if (setup_failures > 0) {
    fprintf(stderr, "bench_ldap_login: raw phase: %d of %d threads could not connect: %s\n", setup_failures.load(),
            s.concurrency, setup_error.c_str());
    *setup_ok = false;
  }
  return r;
}

// --- gatehouse phase ---------------------------------------------------------------------

std::string directory_table(const Settings& s, const SlapdServer& slapd) {
  std::string t;
  t += "[[directory]]\n";
  t += "name = \"corp\"\n";
  t += "kind = \"ldap\"\n";
  t += "uri = \"" + slapd.ldap_uri() + "\"\n";
  t += "bind_dn = \"" + slapd.bind_dn() + "\"\n";
  t += "bind_password_file = \"" + slapd.bind_password_file() + "\"\n";
  t += "user_base = \"ou=people," + slapd.base_dn() + "\"\n";
  if (s.ldap_groups) t += "group_base = \"ou=groups," + slapd.base_dn() + "\"\n";
  t += "tenant = \"example\"\n";
  t += "tenant_attribute = \"o\"\n";
  if (s.pool_size) t += "pool_size = " + std::to_string(*s.pool_size) + "\n";
  if (!s.ldap_extra.empty()) t += s.ldap_extra + "\n";
  return t;
}

std::string gatehouse_config(const Settings& s, const TempDir& dir, const SlapdServer& slapd,
                             const std::string& upstream) {
  std::string conf = basic_config(dir, directory_table(s, slapd), upstream);
  if (s.gatehouse_threads) {
    const std::string head = "[server]\n";
    auto at = conf.find(head);
    if (at != std::string::npos)
      conf.insert(at + head.size(), "threads = " + std::to_string(*s.gatehouse_threads) + "\n");
  }
  return conf;
}

Result gatehouse_phase(const Settings& s, int port, pid_t gatehouse_pid, const SlapdServer& slapd,
                       const std::string& slapd_log, bool* setup_ok) {
  const std::string password(kBenchPassword);
  std::atomic<long long> connections{0};
  std::atomic<int> setup_failures{0};
  auto worker = [&](int thread, Load& load) {
    LoginForm form = fetch_login_form(port);
    if (form.csrf_cookie.empty() || form.token.empty()) {
      ++setup_failures;
      return;
    }
    httplib::Client client("127.0.0.1", port);
    client.set_keep_alive(true);
    // cpp-httplib writes a POST's header and body with separate send()s; without
    // TCP_NODELAY the body waits for the ACK of the header (Nagle), which the server
    // delays (delayed ACK, 40 ms on Linux): every login would take 40 ms more.
    // Browsers and curl set TCP_NODELAY too.
    client.set_tcp_nodelay(true);
    client.set_connection_timeout(5, 0);
    client.set_read_timeout(10, 0);
    client.set_write_timeout(10, 0);
    client.set_socket_options([&](socket_t) { ++connections; });
    const httplib::Headers headers = {{"Cookie", form.csrf_cookie}};
    const httplib::Params params = {{"username", bench_user(thread)}, {"password", password}, {"csrf", form.token}, {"rd", "/"}};
    Sample sample;
    sample.latencies_us.reserve(1 << 16);
    for (;;) {
      const Phase started = load.phase.load();
      if (started == Phase::stop || g_interrupted) break;
      const auto t0 = Clock::now();
      auto res = client.Post("/.gatehouse/login", headers, params);
      std::string failure;
      if (!res) {
        failure = "HTTP client: " + httplib::to_string(res.error());
      } else if (res->status != 303) {
        failure = "HTTP " + std::to_string(res->status);
      }
      record(load, sample, started, t0, failure.empty() ? nullptr : &failure);
      if (!failure.empty() && started != Phase::measure) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    load.add(std::move(sample));
  };
  Result r = run_load("gatehouse", s, s.concurrency, worker, slapd.pid(), gatehouse_pid, slapd_log);
  r.client_connections = connections.load();
  if (setup_failures > 0) {
    fprintf(stderr, "bench_ldap_login: gatehouse phase: %d of %d clients got no login form (CSRF cookie/token)\n",
            setup_failures.load(), s.concurrency);
    *setup_ok = false;
  }
  return r;
}

// --- report ------------------------------------------------------------------------------

std::string tail_lines(const std::string& text, int n) {
  size_t pos = text.size();
  for (int i = 0; i <= n && pos != std::string::npos && pos > 0; ++i) pos = text.rfind('\n', pos - 1);
  return pos == std::string::npos ? text : text.substr(pos + 1);
}

void print_row(const Result& r) {
  const double login = r.ok > 0 ? static_cast<double>(r.ok) : 1.0;
  printf("%-10s | %9.0f %8" PRIu32 " %8" PRIu32 " %7lld | %6.2f %6.2f %6.2f | %7.0f %9s %7.0f | %5.0f%%\n",
         r.name.c_str(), r.rate, r.p50, r.p99, r.errors, static_cast<double>(r.ops.searches) / login,
         static_cast<double>(r.ops.binds) / login, static_cast<double>(r.ops.searches + r.ops.binds) / login,
         r.slapd_cpu_us,
         r.name == "raw" ? "-" : std::to_string(static_cast<long long>(r.gatehouse_cpu_us + 0.5)).c_str(),
         r.client_cpu_us, r.other_pct);
}

}  // namespace

int main() {
  Settings s;
  if (!env_int("DURATION", 1, 3600, &s.duration) || !env_int("CONCURRENCY", 1, 1024, &s.concurrency) ||
      !env_int("WARMUP", 0, 600, &s.warmup) || !env_int("GATEHOUSE_THREADS", 0, 256, &s.gatehouse_threads) ||
      !env_int("POOL_SIZE", 1, 1024, &s.pool_size) || !env_bool("LDAP_GROUPS", &s.ldap_groups) ||
      !env_bool("RAW_GROUPS", &s.raw_groups))
    return 2;
  if (const char* extra = getenv("LDAP_EXTRA")) s.ldap_extra = extra;

  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  // slapd gets SIGKILL when the thread that started it ends: start it from main.
  SlapdServer slapd;
  std::string error;
  fprintf(stderr, "starting slapd ...\n");
  if (!slapd.start(&error)) {
    fprintf(stderr, "bench_ldap_login: slapd did not start: %s\n", error.c_str());
    return 1;
  }
  const std::string slapd_log = slapd.dir() + "/slapd.log";
  if (!add_bench_users(slapd, s.concurrency, &error)) {
    fprintf(stderr, "bench_ldap_login: adding the benchmark users failed: %s\n", error.c_str());
    return 1;
  }
  bool setup_ok = true;

  fprintf(stderr, "raw phase: %d threads, %d s warm-up + %d s ...\n", s.concurrency, s.warmup, s.duration);
  Result raw = raw_phase(s, slapd, slapd_log, &setup_ok);
  if (g_interrupted) return 130;

  TempDir dir;
  EchoUpstream upstream;  // the route's upstream; the benchmark never follows the redirect
  const std::string config_path = dir.file("gatehouse.toml");
  {
    std::ofstream out(config_path);
    out << gatehouse_config(s, dir, slapd, upstream.url());
  }
  CommandResult check = run_gatehouse({"config", "check", "--config", config_path});
  if (check.exit_code != 0) {
    fprintf(stderr, "bench_ldap_login: gatehouse config check failed (%d):\n%s%s\n", check.exit_code,
            check.out.c_str(), check.err.c_str());
    return 1;
  }
  Daemon daemon({"serve", "--config", config_path});
  if (!daemon.start()) {
    fprintf(stderr, "bench_ldap_login: gatehouse serve did not start; its log:\n%s\n",
            tail_lines(daemon.log(), 40).c_str());
    return 1;
  }
  // One login first: the configuration must work before it is measured.
  {
    auto res = post_login(daemon.port(), bench_user(0), kBenchPassword);
    if (!res || res->status != 303 || session_cookie(res).empty()) {
      fprintf(stderr, "bench_ldap_login: a first login as bench0 failed (%s); gatehouse's log:\n%s\n",
              res ? ("HTTP " + std::to_string(res->status)).c_str() : httplib::to_string(res.error()).c_str(),
              tail_lines(daemon.log(), 40).c_str());
      return 1;
    }
  }
  fprintf(stderr, "gatehouse phase: %d clients, %d s warm-up + %d s ...\n", s.concurrency, s.warmup, s.duration);
  Result gh = gatehouse_phase(s, daemon.port(), daemon.pid(), slapd, slapd_log, &setup_ok);
  const bool alive = kill(daemon.pid(), 0) == 0;
  const int gh_status = daemon.stop();
  if (g_interrupted) return 130;
  const std::string gh_log = daemon.log();

  // ------------------------------------------------------------------ report ----
  char when[64];
  time_t now = time(nullptr);
  strftime(when, sizeof when, "%Y-%m-%d %H:%M:%SZ", gmtime(&now));
  char host[256] = "?";
  gethostname(host, sizeof host - 1);
  const unsigned cores = std::thread::hardware_concurrency();
  std::string threads_text = s.gatehouse_threads ? std::to_string(*s.gatehouse_threads)
                                                 : "default (" + std::to_string(std::max(1u, cores)) + ")";
  printf("\ngatehouse LDAP login benchmark — %s on %s, %u cores\n", when, host, cores);
  printf("  slapd %s (tests/integration/slapd_server: mdb, stats log on), one server for both phases\n",
         slapd.ldap_uri().c_str());
  printf("  %d s measured per phase after %d s warm-up; %d concurrent clients\n", s.duration, s.warmup,
         s.concurrency);
  printf("  raw        %d threads x 2 libldap connections (service: search, user: bind), synchronous API;\n"
         "             search (uid=benchN, one user per thread) + bind as the DN found%s\n",
         s.concurrency, s.raw_groups ? " + nested group searches (RAW_GROUPS=1)" : "");
  printf("  gatehouse  %s serve, [server] threads %s (LDAP waits in their event loops);\n"
         "             directory: pool_size %s, group_base %s%s%s; %d keep-alive HTTP clients POST /.gatehouse/login\n",
         GATEHOUSE_BINARY, threads_text.c_str(),
         s.pool_size ? std::to_string(*s.pool_size).c_str() : "default (8)", s.ldap_groups ? "ou=groups" : "none",
         s.ldap_extra.empty() ? "" : ", extra: ", s.ldap_extra.c_str(), s.concurrency);
  printf("  load average: %.2f\n", [] {
    double l = 0;
    std::ifstream in("/proc/loadavg");
    in >> l;
    return l;
  }());
  printf("\n");
  // (µs is two bytes; printf pads by bytes, hence the wider fields for those headers)
  printf("%-10s | %9s %9s %9s %7s | %-20s | %-26s | %6s\n", "", "logins/s", "p50 µs", "p99 µs", "errors",
         "LDAP ops per login", "CPU µs per login", "other");
  printf("%-10s | %9s %8s %8s %7s | %6s %6s %6s | %7s %9s %7s | %6s\n", "", "", "", "", "", "search", "bind", "total",
         "slapd", "gatehouse", "client", "");
  printf("-----------+-------------------------------------+----------------------+---------------------------+-------\n");
  print_row(raw);
  print_row(gh);
  printf("(LDAP ops: requests in slapd's stats log during the measured window; CPU: user+system time of slapd,\n"
         " gatehouse and this client process during the window, per counted login; other = CPU of everything\n"
         " else, %% of the machine: more than a few %% means the run was disturbed)\n");
  printf("connections: raw %lld LDAP (opened before the window), gatehouse %lld HTTP; new LDAP connections in the "
         "windows: raw %lld, gatehouse %lld\n",
         raw.client_connections, gh.client_connections, raw.ops.accepts, gh.ops.accepts);
  // How many login writes shared a transaction (gatehouse logs it when it stops).
  if (auto at = gh_log.find("store.group_commit"); at != std::string::npos) {
    const auto end = gh_log.find('\n', at);
    printf("gatehouse %s\n", gh_log.substr(at, end == std::string::npos ? std::string::npos : end - at).c_str());
  }
  printf("\n");
  const double ratio = raw.rate > 0 ? gh.rate / raw.rate : 0;
  printf("ratio gatehouse/raw = %.2f (target >= 0.80): %s\n", ratio,
         ratio >= 0.80 ? "meets target" : "MISSES target");

  bool failed = !setup_ok;
  for (const Result* r : {&raw, &gh}) {
    if (r->errors == 0) continue;
    failed = true;
    printf("%s phase errors (%lld):\n", r->name.c_str(), r->errors);
    for (const auto& [k, v] : r->error_kinds) printf("  %6lld  %s\n", v, k.c_str());
  }
  if (raw.errors == 0 && gh.errors == 0) printf("errors: none (every counted gatehouse login answered 303)\n");
  if (raw.ok == 0 || gh.ok == 0) failed = true;
  if (!alive) {
    failed = true;
    printf("gatehouse EXITED during the run; its log ends:\n%s\n", tail_lines(gh_log, 40).c_str());
  } else if (gh_status != 0) {
    failed = true;
    printf("gatehouse exited with status %d on SIGTERM; its log ends:\n%s\n", gh_status,
           tail_lines(gh_log, 20).c_str());
  }
  int warnings = 0;
  std::string first;
  size_t pos = 0;
  while (pos < gh_log.size()) {
    size_t end = gh_log.find('\n', pos);
    if (end == std::string::npos) end = gh_log.size();
    std::string_view line(gh_log.data() + pos, end - pos);
    if (line.starts_with("level=warning") || line.starts_with("level=error")) {
      if (++warnings <= 10) first += "  " + std::string(line) + "\n";
    }
    pos = end + 1;
  }
  if (warnings > 0) printf("gatehouse logged %d warning/error line(s); first ones:\n%s", warnings, first.c_str());
  return failed ? 1 : 0;
}
