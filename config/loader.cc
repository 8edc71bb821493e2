// load_config / parse_config: reads the TOML file and validates every table and key,
// collecting all errors (each with the line of the offending key or value) instead of
// stopping at the first.
#include <fcntl.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>
#include <variant>

#include "common/host_name.h"
#include "common/path_normal.h"
#include "common/secret_file.h"
#include "common/secret_name.h"
#include "common/text.h"
#include "config/config.h"

namespace gatehouse::config {

namespace {

constexpr std::string_view kNotYet = "is not supported by this build yet";

// Upper bounds of the keys that have no natural one (docs/configuration-limits.md).
// Generous for any real deployment, small enough that no arithmetic on them overflows.
namespace limits {
constexpr Seconds kUpstreamConnectTimeout{5 * 60};
constexpr Seconds kUpstreamTimeout{24 * 3600};
constexpr Seconds kShutdownTimeout{3600};
constexpr Seconds kHeaderTimeout{300};
constexpr Seconds kKeepaliveTimeout{3600};
constexpr Seconds kSessionTimeout{366 * 86400};
constexpr Seconds kLockoutDuration{366 * 86400};
constexpr Seconds kAuditRetention{3660 * 86400};
constexpr std::int64_t kMaxBodyBytes = std::int64_t{1} << 40;  // 1 TiB
constexpr std::int64_t kMaxFailures = 1'000'000;
constexpr Seconds kSmtpTimeout{10 * 60};
constexpr Seconds kDelegationDuration{3650 * 86400};
constexpr std::size_t kMaxDisplayName = 200;  // [[tenant]] display_name, in characters
}  // namespace limits

int line_of(const toml::source_region& source) {
  return source.begin.line > 0 ? static_cast<int>(source.begin.line) : 1;
}

// "a string", "an integer", … as used in "expected …, got …".
std::string type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "boolean";
    case toml::node_type::date:
      return "date";
    case toml::node_type::time:
      return "time";
    case toml::node_type::date_time:
      return "date-time";
    case toml::node_type::array:
      return "array";
    case toml::node_type::table:
      return "table";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// A value quoted for an error message; control characters and quotes escaped.
std::string quote(std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// RFC 6265 cookie-name = token (RFC 7230 tchar).
bool valid_cookie_name(std::string_view name) {
  static constexpr std::string_view punct = "!#$%&'*+-.^_`|~";
  if (name.empty()) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              punct.find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// A header gatehouse may fill with a tenant's secret: a token (RFC 9110), and none that
// frames the message, routes it, carries the client's cookies or gatehouse's own claims.
std::optional<std::string> injected_header_problem(std::string_view name) {
  if (!valid_cookie_name(name)) return quote(std::string(name)) + " is not a header name";
  // '_' read as '-': CGI-style servers give both spellings one variable.
  std::string l = lower(name);
  for (char& c : l)
    if (c == '_') c = '-';
  static constexpr std::string_view reserved[] = {
      "host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer",
      "proxy-connection", "proxy-authorization", "proxy-authenticate", "cookie", "set-cookie", "forwarded",
      "expect", "content-type", "content-encoding"};
  for (auto r : reserved)
    if (l == r) return quote(std::string(name)) + " is a header gatehouse or HTTP itself controls; use another one";
  if (l.rfind("x-forwarded-", 0) == 0 || l.rfind("x-gatehouse-", 0) == 0 || l == "x-real-ip")
    return quote(std::string(name)) + " is a header gatehouse sets itself; use another one";
  return std::nullopt;
}

bool valid_directory_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// A tenant (party) name: [[tenant]] name, route tenants, the tenant of a [[directory]]
// or [[oidc]]. Lower case, so that one party is never spelled two ways.
constexpr std::size_t kMaxTenantName = 64;
constexpr std::string_view kTenantNameRule = "use 1 to 64 characters a-z, 0-9, '.', '_' and '-'";
bool valid_tenant_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxTenantName) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}
std::string tenant_name_problem(std::string_view name) {
  return quote(name) + " is not a valid tenant name (" + std::string(kTenantNameRule) + ")";
}

// Characters (code points) of UTF-8 text, which toml++ has already validated.
std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

// C0 controls, DEL, and the C1 controls U+0080..U+009F (UTF-8 C2 80..C2 9F).
bool has_control_character(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto u = static_cast<unsigned char>(s[i]);
    if (u < 0x20 || u == 0x7f) return true;
    if (u == 0xC2 && i + 1 < s.size()) {
      auto next = static_cast<unsigned char>(s[i + 1]);
      if (next >= 0x80 && next <= 0x9f) return true;
    }
  }
  return false;
}

// [smtp] url: "smtp://host[:port][/]" or "smtps://…"; IPv6 in brackets. On success the
// host (lower-cased, IPv6 without brackets) and whether TLS starts with the first byte;
// otherwise what is wrong with it.
struct SmtpServer {
  bool tls = false;
  std::string host;
};
std::variant<SmtpServer, std::string> parse_smtp_url(std::string_view text) {
  const std::string shape = " is not an SMTP server address (write smtp://host[:port] or smtps://host[:port])";
  SmtpServer out;
  std::string_view rest;
  if (text.starts_with("smtp://")) {
    rest = text.substr(7);
  } else if (text.starts_with("smtps://")) {
    out.tls = true;
    rest = text.substr(8);
  } else {
    return quote(text) + shape;
  }
  const auto end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, end);
  const std::string_view after = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (authority.find('@') != std::string_view::npos)
    return quote(text) + " holds a user name or password: use username and password_file";
  if (after.find_first_of("?#") != std::string_view::npos)
    return quote(text) + " has a query or fragment; write smtp://host[:port] or smtps://host[:port]";
  if (!after.empty() && after != "/")
    return quote(text) + " has a path; write smtp://host[:port] or smtps://host[:port]";
  // The host and port follow the rules of every other URL of the configuration.
  auto url = Url::parse("http://" + std::string(authority));
  if (!url) return quote(text) + shape;
  out.host = url->host;
  return out;
}

// The local part and domain of "local@domain": a dot-atom (RFC 5322 atext and '.') and
// a DNS name. Quoted local parts and address literals are not accepted.
bool plausible_address(std::string_view address) {
  static constexpr std::string_view atext_punct = "!#$%&'*+-/=?^_`{|}~";
  const auto at = address.rfind('@');
  if (at == std::string_view::npos) return false;
  const auto local = address.substr(0, at);
  const auto domain = address.substr(at + 1);
  if (local.empty() || local.size() > 64 || local.front() == '.' || local.back() == '.' ||
      local.find("..") != std::string_view::npos)
    return false;
  for (char c : local) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              atext_punct.find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return domain.find('.') != std::string_view::npos ? is_dns_name(domain) : domain == "localhost";
}

// [smtp] from: "Name <local@domain>", "\"Name, Inc.\" <local@domain>", "<local@domain>" or
// "local@domain". nullopt when plausible, else what is wrong with it.
std::optional<std::string> from_problem(std::string_view from) {
  const std::string shape = " is not an e-mail address (write \"Name <local@domain>\" or \"local@domain\")";
  if (has_control_character(from)) return quote(from) + " contains a line break or another control character";
  const auto open = from.find('<');
  if (open == std::string_view::npos) {
    if (from.find(',') != std::string_view::npos)
      return quote(from) + " names more than one address (a comma outside the display name)";
    if (!plausible_address(from)) return quote(from) + shape;
    return std::nullopt;
  }
  // Display name, then the address in angle brackets, and nothing after them.
  if (from.back() != '>' || from.find('<', open + 1) != std::string_view::npos ||
      from.find('>') != from.size() - 1)
    return quote(from) + shape;
  const auto address = from.substr(open + 1, from.size() - open - 2);
  if (address.find(',') != std::string_view::npos)
    return quote(from) + " names more than one address (a comma outside the display name)";
  if (!plausible_address(address)) return quote(from) + shape;
  auto name = trim_blanks(from.substr(0, open));
  if (name.size() >= 2 && name.front() == '"' && name.back() == '"') name = name.substr(1, name.size() - 2);
  if (name.find_first_of("\"\\") != std::string_view::npos)
    return quote(from) + " has a display name with a '\"' or '\\' (write \"Name <local@domain>\")";
  return std::nullopt;
}

// An attribute description (RFC 4512 descr or numeric OID); empty allowed when optional.
bool valid_attribute_name(std::string_view name, bool may_be_empty) {
  if (name.empty()) return may_be_empty;
  if (name.size() > 128) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// Empty: any host. Otherwise the rule a request's Host is held to: a route host it
// refuses could never match.
bool valid_route_host(std::string_view host) { return host.empty() || is_dns_name(host); }

std::string strip_trailing_slashes(std::string_view prefix) {
  while (prefix.size() > 1 && prefix.back() == '/') prefix.remove_suffix(1);
  return std::string(prefix);
}

// Routing compares the normal form of a request path (common/path_normal.h) with the
// route prefixes, so a prefix written in any other form could never match and its
// requests would fall through to another route. Such a prefix is refused, naming the
// form to write, rather than silently rewritten: what the file says is what routes.
// Trailing slashes are the one thing dropped silently ("/app/" routes as "/app").
std::optional<std::string> prefix_problem(std::string_view prefix) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string ascii;  // raw non-ASCII bytes percent-encoded, as a browser sends them
  for (char c : prefix) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      ascii += '%';
      ascii += hex[u >> 4];
      ascii += hex[u & 15];
    } else {
      ascii += c;
    }
  }
  const auto normal = normalise_path(ascii);
  if (!normal)
    return quote(prefix) +
           " can never match: requests whose path holds an encoded \"/\" or \"\\\" (%2F, %5C), a "
           "\"\\\", a control character or a malformed %-escape are refused with 400";
  const std::string want = strip_trailing_slashes(*normal);
  if (want == strip_trailing_slashes(prefix)) return std::nullopt;
  return quote(prefix) + " can never match: requests are routed by their normalised path; write " +
         quote(want);
}

// nullopt when `path` is a readable regular file, else what is wrong with it.
std::optional<std::string> file_problem(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) return "missing file " + quote(path);
    return "cannot read file " + quote(path) + ": " + std::strerror(err);
  }
  struct stat st {};
  bool is_dir = ::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
  ::close(fd);
  if (is_dir) return quote(path) + " is a directory, not a file";
  return std::nullopt;
}

// Whether this process may `mode` (R_OK, W_OK, X_OK) `path`, by its effective ids: what
// `serve` would find, when `config check` runs as the user the service runs as.
std::optional<std::string> access_problem(const std::string& path, int mode) {
  if (::faccessat(AT_FDCWD, path.c_str(), mode, AT_EACCESS) == 0) return std::nullopt;
  return std::string(std::strerror(errno));
}

// The directory a file named by the configuration is (to be) created in; "." for a
// bare file name.
std::string parent_of(const std::string& path) {
  std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

// nullopt when new files can be created in `dir`, else what is wrong with it.
std::optional<std::string> directory_problem(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return "missing directory " + quote(dir);
    return "cannot use directory " + quote(dir) + ": " + std::strerror(errno);
  }
  if (!S_ISDIR(st.st_mode)) return quote(dir) + " is not a directory";
  if (auto problem = access_problem(dir, W_OK | X_OK))
    return "cannot create files in directory " + quote(dir) + ": " + *problem;
  return std::nullopt;
}

// `serve` opens the SQLite database read-write, creating it when absent, and keeps its
// -wal and -shm files beside it: the directory must be writable either way.
std::optional<std::string> store_path_problem(const std::string& path) {
  if (path == ":memory:") return std::nullopt;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return quote(path) + " is a directory, not a file";
    if (!S_ISREG(st.st_mode)) return quote(path) + " is not a regular file";
    if (auto problem = access_problem(path, R_OK | W_OK)) return "cannot write " + quote(path) + ": " + *problem;
  } else if (errno != ENOENT && errno != ENOTDIR && errno != EACCES) {
    return "cannot use " + quote(path) + ": " + std::strerror(errno);
  }
  return directory_problem(parent_of(path));
}

// A secret file (a password, a client secret) as `serve` reads it: readable, not empty.
std::optional<std::string> secret_file_problem(const std::string& path) {
  if (auto problem = file_problem(path)) return problem;
  auto secret = read_secret_file(path);
  if (!secret) return quote(path) + " is empty";
  return std::nullopt;
}

class Errors {
 public:
  explicit Errors(std::string file) : file_(std::move(file)) {}
  void add(int line, std::string message) {
    list_.push_back(ConfigError{file_, line, std::move(message)});
  }
  bool empty() const { return list_.empty(); }
  std::vector<ConfigError> sorted() && {
    std::stable_sort(list_.begin(), list_.end(),
                     [](const ConfigError& a, const ConfigError& b) { return a.line < b.line; });
    return std::move(list_);
  }

 private:
  std::string file_;
  std::vector<ConfigError> list_;
};

struct StringAt {
  std::string value;
  int line = 1;
};

// One TOML table ([server], one [[route]] entry, …) with typed, error-reporting getters.
// Every getter returns nullopt when the key is absent or has been reported as wrong.
class Section {
 public:
  // `table` may be null (table absent): then every key is absent and "missing" errors
  // point at line 1.
  Section(Errors& errors, std::string name, const toml::table* table)
      : errors_(errors),
        label_("[" + name + "]"),
        table_(table),
        line_(table ? line_of(table->source()) : 1) {}

  const std::string& label() const { return label_; }
  int line() const { return line_; }

  const toml::node* get(std::string_view key) const { return table_ ? table_->get(key) : nullptr; }
  bool has(std::string_view key) const { return get(key) != nullptr; }
  int line(std::string_view key) const {
    const auto* node = get(key);
    return node ? line_of(node->source()) : line_;
  }

  // "[server] listen: MESSAGE" at the line of the key's value.
  void fail(std::string_view key, const std::string& message) { fail_at(line(key), key, message); }
  void fail_at(int line, std::string_view key, const std::string& message) {
    errors_.add(line, label_ + " " + std::string(key) + ": " + message);
  }
  void missing(std::string_view key) {
    errors_.add(line_, label_ + " " + std::string(key) + ": missing");
  }

  void check_keys(std::initializer_list<std::string_view> allowed) {
    if (!table_) return;
    for (auto&& [key, value] : *table_) {
      (void)value;
      if (std::find(allowed.begin(), allowed.end(), key.str()) == allowed.end())
        errors_.add(line_of(key.source()), "unknown key " + quote(key.str()) + " in " + label_);
    }
  }

  std::optional<std::string> string(std::string_view key, bool required = false) {
    const auto* node = get(key);
    if (!node) {
      if (required) missing(key);
      return std::nullopt;
    }
    if (const auto* s = node->as_string()) return s->get();
    fail(key, "expected a string, got " + type_name(*node));
    return std::nullopt;
  }

  std::optional<std::int64_t> integer(std::string_view key) {
    const auto* node = get(key);
    if (!node) return std::nullopt;
    if (const auto* i = node->as_integer()) return i->get();
    fail(key, "expected an integer, got " + type_name(*node));
    return std::nullopt;
  }

  // An integer in min..max (inclusive). Every integer key has an upper bound.
  std::optional<std::int64_t> integer_between(std::string_view key, std::int64_t min,
                                              std::int64_t max) {
    auto value = integer(key);
    if (!value) return std::nullopt;
    if (*value < min || *value > max) {
      fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                    ", got " + std::to_string(*value));
      return std::nullopt;
    }
    return value;
  }

  std::optional<bool> boolean(std::string_view key) {
    const auto* node = get(key);
    if (!node) return std::nullopt;
    if (const auto* b = node->as_boolean()) return b->get();
    fail(key, "expected a boolean (true or false), got " + type_name(*node));
    return std::nullopt;
  }

  // A duration in min..max (inclusive). Every duration key has an upper bound, so no
  // configured value can overflow the time arithmetic it later takes part in.
  std::optional<Seconds> duration_between(std::string_view key, Seconds min, Seconds max) {
    const auto* node = get(key);
    if (!node) return std::nullopt;
    const auto* s = node->as_string();
    if (!s) {
      fail(key, "expected a duration string such as \"15m\", got " + type_name(*node));
      return std::nullopt;
    }
    const std::string range = "must be between " + format_duration(min) + " and " + format_duration(max);
    auto d = parse_duration(s->get());
    if (!d) {
      if (looks_like_duration(s->get()))  // well formed, but beyond kMaxDuration
        fail(key, range + ", got " + quote(s->get()));
      else
        fail(key, quote(s->get()) + " is not a duration (write 90s, 15m, 12h or 7d)");
      return std::nullopt;
    }
    if (*d < min || *d > max) {
      fail(key, range + ", got " + format_duration(*d));
      return std::nullopt;
    }
    return d;
  }

  // An array of strings, each with its own line. Wrong elements are reported and left
  // out; nullopt only when the key is absent or not an array.
  std::optional<std::vector<StringAt>> strings(std::string_view key) {
    const auto* node = get(key);
    if (!node) return std::nullopt;
    const auto* array = node->as_array();
    if (!array) {
      fail(key, "expected an array of strings, got " + type_name(*node));
      return std::nullopt;
    }
    std::vector<StringAt> out;
    for (std::size_t i = 0; i < array->size(); ++i) {
      const auto& element = (*array)[i];
      int element_line = line_of(element.source());
      if (const auto* s = element.as_string()) {
        out.push_back({s->get(), element_line});
      } else {
        fail_at(element_line, std::string(key) + "[" + std::to_string(i) + "]",
                "expected a string, got " + type_name(element));
      }
    }
    return out;
  }

 private:
  Errors& errors_;
  std::string label_;
  const toml::table* table_;
  int line_;
};

class Loader {
 public:
  Loader(const toml::table& root, const std::string& file) : root_(root), errors_(file) {
    config_->file = file;
  }

  LoadResult run() && {
    check_top_level();
    if (!skip_server_) server();
    if (!skip_store_) store();
    if (!skip_keys_) keys();
    if (!skip_session_) session();
    if (!skip_lockout_) lockout();
    if (!skip_audit_) audit();
    if (!skip_metrics_) metrics();
    if (!skip_log_) logging();
    if (!skip_smtp_) smtp();
    if (!skip_delegation_) delegation();
    tenants();
    directories();
    providers();
    if (!skip_directories_ && !skip_oidc_ && tables("directory").empty() && tables("oidc").empty())
      errors_.add(1, "no [[directory]] or [[oidc]] configured: nobody could sign in");
    routes();
    LoadResult result;
    if (errors_.empty()) {
      result.config = std::move(config_);
    } else {
      result.errors = std::move(errors_).sorted();
    }
    return result;
  }

 private:
  const toml::table* table(std::string_view key) const {
    const auto* node = root_.get(key);
    return node ? node->as_table() : nullptr;
  }

  // Tables of an array of tables; empty when absent or wrong (reported in check_top_level).
  std::vector<const toml::table*> tables(std::string_view key) const {
    std::vector<const toml::table*> out;
    const auto* node = root_.get(key);
    const auto* array = node ? node->as_array() : nullptr;
    if (!array) return out;
    for (const auto& element : *array)
      if (const auto* t = element.as_table()) out.push_back(t);
    return out;
  }

  void check_top_level() {
    for (auto&& [key, value] : root_) {
      const std::string name(key.str());
      int line = line_of(value.source());
      if (name == "server" || name == "store" || name == "keys" || name == "session" ||
          name == "lockout" || name == "audit" || name == "metrics" || name == "log" ||
          name == "smtp" || name == "delegation") {
        if (!value.is_table()) {
          errors_.add(line,
                      name + ": expected a table (write [" + name + "]), got " + type_name(value));
          if (name == "server") skip_server_ = true;
          if (name == "store") skip_store_ = true;
          if (name == "keys") skip_keys_ = true;
          if (name == "session") skip_session_ = true;
          if (name == "lockout") skip_lockout_ = true;
          if (name == "audit") skip_audit_ = true;
          if (name == "metrics") skip_metrics_ = true;
          if (name == "log") skip_log_ = true;
          if (name == "smtp") skip_smtp_ = true;
          if (name == "delegation") skip_delegation_ = true;
        }
      } else if (name == "directory" || name == "route" || name == "oidc" || name == "tenant") {
        const auto* array = value.as_array();
        bool ok = array != nullptr;
        if (array)
          for (const auto& element : *array) ok = ok && element.is_table();
        if (!ok) {
          errors_.add(line, name + ": expected an array of tables (write [[" + name + "]]), got " +
                                type_name(value));
          if (name == "directory") skip_directories_ = true;
          if (name == "route") skip_routes_ = true;
          if (name == "oidc") skip_oidc_ = true;
          if (name == "tenant") skip_tenants_ = true;
        }
      } else if (value.is_table()) {
        errors_.add(line_of(key.source()), "unknown table [" + name + "]");
      } else if (value.is_array_of_tables()) {
        errors_.add(line_of(key.source()), "unknown table [[" + name + "]]");
      } else {
        errors_.add(line_of(key.source()), "unknown key " + quote(name) + " at top level");
      }
    }
  }

  void server() {
    ServerConfig& c = config_->server;
    Section s(errors_, "server", table("server"));
    s.check_keys({"listen", "public_url", "tls_cert_file", "tls_key_file", "trusted_proxies",
                  "upstream_connect_timeout", "upstream_timeout", "shutdown_timeout",
                  "header_timeout", "keepalive_timeout", "max_body_bytes", "max_header_bytes", "threads"});

    if (auto v = s.string("listen", true)) {
      if (auto address = ListenAddress::parse(*v)) {
        c.listen = *address;
      } else {
        s.fail("listen", quote(*v) +
                             " is not an IP address and port (write 127.0.0.1:8080, "
                             "[::1]:8443 or :8080)");
      }
    }

    if (auto v = s.string("public_url", true)) {
      auto url = Url::parse(*v);
      if (!url) {
        s.fail("public_url", quote(*v) + " is not an http:// or https:// URL");
      } else if (!url->path.empty() && url->path != "/") {
        s.fail("public_url", quote(*v) +
                                 " has a path; gatehouse must be served at the root of its "
                                 "host (write " +
                                 url->origin() + ")");
      } else {
        url->path.clear();
        c.public_url = *url;
      }
    }

    auto cert = s.string("tls_cert_file").value_or("");
    auto key = s.string("tls_key_file").value_or("");
    if (!cert.empty() && key.empty()) {
      s.fail("tls_cert_file", "is set but tls_key_file is not (give both or neither)");
    } else if (cert.empty() && !key.empty()) {
      s.fail("tls_key_file", "is set but tls_cert_file is not (give both or neither)");
    } else if (!cert.empty()) {
      auto cert_problem = file_problem(cert);
      auto key_problem = file_problem(key);
      if (cert_problem) s.fail("tls_cert_file", *cert_problem);
      if (key_problem) s.fail("tls_key_file", *key_problem);
      if (!cert_problem && !key_problem)
        s.fail("tls_cert_file",
               "a TLS listener is not supported by this build yet; terminate TLS in front of "
               "gatehouse and list that proxy in trusted_proxies");
    }

    if (auto list = s.strings("trusted_proxies")) {
      for (const auto& item : *list) {
        if (auto cidr = Cidr::parse(item.value)) {
          c.trusted_proxies.push_back(*cidr);
        } else {
          s.fail_at(item.line, "trusted_proxies",
                    quote(item.value) + " is not an IP address or CIDR network");
        }
      }
    }

    if (auto d = s.duration_between("upstream_connect_timeout", Seconds(1), limits::kUpstreamConnectTimeout))
      c.upstream_connect_timeout = *d;
    if (auto d = s.duration_between("upstream_timeout", Seconds(1), limits::kUpstreamTimeout))
      c.upstream_timeout = *d;
    if (auto d = s.duration_between("shutdown_timeout", Seconds(1), limits::kShutdownTimeout))
      c.shutdown_timeout = *d;
    if (auto d = s.duration_between("header_timeout", Seconds(1), limits::kHeaderTimeout)) c.header_timeout = *d;
    if (auto d = s.duration_between("keepalive_timeout", Seconds(1), limits::kKeepaliveTimeout))
      c.keepalive_timeout = *d;

    if (auto v = s.integer_between("max_body_bytes", 1, limits::kMaxBodyBytes))
      c.max_body_bytes = static_cast<std::uint64_t>(*v);
    if (auto v = s.integer_between("max_header_bytes", 1024, 1048576))
      c.max_header_bytes = static_cast<std::uint32_t>(*v);
    if (auto v = s.integer_between("threads", 0, 256)) c.threads = static_cast<unsigned>(*v);
  }

  void store() {
    StoreConfig& c = config_->store;
    Section s(errors_, "store", table("store"));
    s.check_keys({"backend", "path"});
    if (auto v = s.string("backend")) {
      if (*v == "sqlite") {
        c.backend = *v;
      } else if (*v == "postgresql") {
        errors_.add(s.line("backend"), "[store] backend " + quote(*v) + " " + std::string(kNotYet));
      } else {
        errors_.add(s.line("backend"),
                    "[store] backend " + quote(*v) + " is not one of sqlite, postgresql");
      }
    }
    if (auto v = s.string("path", true)) {
      if (v->empty()) {
        s.fail("path", "must not be empty");
      } else if (auto problem = store_path_problem(*v)) {
        s.fail("path", *problem);
      } else {
        c.path = *v;
      }
    }
  }

  void keys() {
    KeysConfig& c = config_->keys;
    Section s(errors_, "keys", table("keys"));
    s.check_keys({"master_key_file", "previous_master_key_files"});
    if (auto previous = s.strings("previous_master_key_files")) {
      for (const auto& p : *previous) {
        if (p.value.empty()) {
          s.fail_at(p.line, "previous_master_key_files", "\"\" is not a file");
        } else if (p.value.find('/') == std::string::npos) {
          c.previous_master_key_files.push_back(p.value);  // a credential, read at startup
        } else if (auto problem = master_key_file_problem(p.value, false)) {
          s.fail_at(p.line, "previous_master_key_files", *problem);
        } else {
          c.previous_master_key_files.push_back(p.value);
        }
      }
    }
    auto v = s.string("master_key_file");
    if (!v || v->empty()) return;  // empty: $CREDENTIALS_DIRECTORY at runtime
    if (auto problem = master_key_file_problem(*v, true)) {
      s.fail("master_key_file", *problem);
      return;
    }
    c.master_key_file = *v;
  }

  // The current key may be missing (serve and `keys init` create it); a previous one not.
  static std::optional<std::string> master_key_file_problem(const std::string& file, bool may_create) {
    const std::string* v = &file;
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path path(*v);
    if (fs::is_directory(path, ec)) return quote(*v) + " is a directory, not a file";
    if (fs::exists(path, ec)) {
      // serve reads it: 32 raw bytes, or 64 hexadecimal digits and a line end.
      if (auto problem = file_problem(*v)) return problem;
      const auto size = fs::file_size(path, ec);
      if (!ec && size != 32 && (size < 64 || size > 66))
        return quote(*v) + " has " + std::to_string(size) +
               " bytes; a master key is 32 raw bytes or 64 hexadecimal digits";
      return std::nullopt;
    }
    if (!may_create) return "missing file " + quote(*v);
    if (auto problem = directory_problem(parent_of(*v)))
      return "missing file " + quote(*v) + ", and it cannot be created: " + *problem;
    return std::nullopt;
  }

  void session() {
    SessionConfig& c = config_->session;
    Section s(errors_, "session", table("session"));
    s.check_keys({"cookie_name", "idle_timeout", "absolute_timeout", "assertion_ttl"});
    if (auto v = s.string("cookie_name")) {
      if (valid_cookie_name(*v)) {
        c.cookie_name = *v;
      } else {
        s.fail("cookie_name", quote(*v) +
                                  " is not a valid cookie name (use letters, digits and "
                                  "!#$%&'*+-.^_`|~)");
      }
    }
    auto idle = s.duration_between("idle_timeout", Seconds(1), limits::kSessionTimeout);
    auto absolute = s.duration_between("absolute_timeout", Seconds(1), limits::kSessionTimeout);
    if (idle) c.idle_timeout = *idle;
    if (absolute) c.absolute_timeout = *absolute;
    bool idle_ok = idle || !s.has("idle_timeout");
    bool absolute_ok = absolute || !s.has("absolute_timeout");
    if (idle_ok && absolute_ok && c.idle_timeout > c.absolute_timeout) {
      if (s.has("idle_timeout")) {
        s.fail("idle_timeout", format_duration(c.idle_timeout) +
                                   " is longer than absolute_timeout (" +
                                   format_duration(c.absolute_timeout) + ")");
      } else {
        s.fail("absolute_timeout", format_duration(c.absolute_timeout) +
                                       " is shorter than idle_timeout (" +
                                       format_duration(c.idle_timeout) + ")");
      }
    }
    if (auto d = s.duration_between("assertion_ttl", Seconds(10), Seconds(3600)))
      c.assertion_ttl = *d;
  }

  void lockout() {
    LockoutConfig& c = config_->lockout;
    Section s(errors_, "lockout", table("lockout"));
    s.check_keys({"max_failures", "window", "lock_duration", "ip_max_failures"});
    if (auto v = s.integer_between("max_failures", 1, limits::kMaxFailures)) c.max_failures = *v;
    if (auto d = s.duration_between("window", Seconds(1), limits::kLockoutDuration)) c.window = *d;
    if (auto d = s.duration_between("lock_duration", Seconds(0), limits::kLockoutDuration))
      c.lock_duration = *d;
    if (auto v = s.integer_between("ip_max_failures", 1, limits::kMaxFailures)) c.ip_max_failures = *v;
  }

  void audit() {
    AuditConfig& c = config_->audit;
    Section s(errors_, "audit", table("audit"));
    s.check_keys({"retention"});
    if (auto d = s.duration_between("retention", Seconds(1), limits::kAuditRetention)) c.retention = *d;
  }

  void metrics() {
    MetricsConfig& c = config_->metrics;
    Section s(errors_, "metrics", table("metrics"));
    s.check_keys({"allow"});
    auto list = s.strings("allow");
    if (!list) return;
    c.allow.clear();
    for (const auto& item : *list) {
      if (auto cidr = Cidr::parse(item.value)) {
        c.allow.push_back(*cidr);
      } else {
        s.fail_at(item.line, "allow", quote(item.value) + " is not an IP address or CIDR network");
      }
    }
  }

  void logging() {  // [log]
    LogConfig& c = config_->log;
    Section s(errors_, "log", table("log"));
    s.check_keys({"format", "level", "access_log"});
    if (auto v = s.string("format")) {
      if (auto f = log::parse_format(*v)) {
        c.format = *f;
      } else {
        s.fail("format", quote(*v) + " is not one of kv, json");
      }
    }
    if (auto v = s.string("level")) {
      if (auto l = log::parse_level(*v)) {
        c.level = *l;
      } else {
        s.fail("level", quote(*v) + " is not one of debug, info, warning, error");
      }
    }
    if (auto v = s.boolean("access_log")) c.access_log = *v;
  }

  void smtp() {  // [smtp]
    SmtpConfig& c = config_->smtp;
    Section s(errors_, "smtp", table("smtp"));
    s.check_keys({"url", "starttls", "from", "username", "password_file", "ca_file", "timeout", "tls_verify"});

    std::optional<SmtpServer> server;  // set when url names a server
    bool url_ok = true;
    if (auto v = s.string("url")) {
      if (!v->empty()) {
        auto parsed = parse_smtp_url(*v);
        if (auto* problem = std::get_if<std::string>(&parsed)) {
          s.fail("url", *problem);
          url_ok = false;
        } else {
          server = std::get<SmtpServer>(std::move(parsed));
          c.url = *v;
        }
      }
    } else if (s.has("url")) {
      url_ok = false;
    }

    if (auto v = s.boolean("starttls")) {
      c.starttls = *v;
      if (*v && server && server->tls)
        s.fail("starttls", "is for smtp:// servers; " + quote(c.url) + " already uses TLS");
    }

    if (auto v = s.string("from")) {
      if (v->empty()) {
        if (server) s.fail("from", "must not be empty: url is set");
      } else if (auto problem = from_problem(*v)) {
        s.fail("from", *problem);
      } else {
        c.from = *v;
      }
    } else if (!s.has("from") && server) {
      s.fail_at(s.line(), "from", "missing (required with url: every e-mail needs a sender)");
    }

    const auto username = s.string("username");
    const auto password_file = s.string("password_file");
    const bool has_username = username && !username->empty();
    const bool has_password_file = password_file && !password_file->empty();
    if (has_username && has_control_character(*username)) {
      s.fail("username", quote(*username) + " contains a control character");
    } else if (has_username && !has_password_file) {
      s.fail("username", "is set but password_file is not");
    } else if (has_username) {
      c.username = *username;
    }
    if (has_password_file && !has_username) {
      if (username || !s.has("username")) s.fail("password_file", "is set but username is not");
    } else if (has_password_file) {
      if (auto problem = secret_file_problem(*password_file)) s.fail("password_file", *problem);
      else c.password_file = *password_file;
    }

    if (auto v = s.string("ca_file"); v && !v->empty()) {
      if (auto problem = file_problem(*v)) s.fail("ca_file", *problem); else c.ca_file = *v;
    }

    if (auto d = s.duration_between("timeout", Seconds(1), limits::kSmtpTimeout)) c.timeout = *d;

    if (auto v = s.boolean("tls_verify")) {
      if (!*v && url_ok && !(server && is_loopback_host(server->host))) {
        s.fail("tls_verify",
               "false is only allowed for an SMTP server on this machine (localhost, 127.0.0.0/8 or ::1)" +
                   std::string(server ? ", not " + quote(server->host) : ""));
      } else {
        c.tls_verify = *v;
      }
    }
  }

  void delegation() {  // [delegation]
    DelegationConfig& c = config_->delegation;
    Section s(errors_, "delegation", table("delegation"));
    s.check_keys({"default_duration"});
    if (auto d = s.duration_between("default_duration", Seconds(60), limits::kDelegationDuration))
      c.default_duration = *d;
  }

  void tenants() {  // [[tenant]]
    if (skip_tenants_) return;
    std::map<std::string, int> names;  // name -> line of its table
    for (const auto* t : tables("tenant")) {
      Section s(errors_, "tenant", t);
      s.check_keys({"name", "display_name", "superuser_groups", "language"});
      TenantConfig c;
      c.line = s.line();
      bool ok = true;

      if (auto v = s.string("name", true)) {
        if (!valid_tenant_name(*v)) {
          s.fail("name", tenant_name_problem(*v));
          ok = false;
        } else if (auto [it, inserted] = names.emplace(*v, c.line); !inserted) {
          s.fail("name", quote(*v) + " is already used by the [[tenant]] at line " + std::to_string(it->second));
          ok = false;
        } else {
          c.name = *v;
        }
      } else {
        ok = false;
      }

      if (auto v = s.string("display_name")) {
        if (utf8_length(*v) > limits::kMaxDisplayName) {
          s.fail("display_name", "is " + std::to_string(utf8_length(*v)) + " characters long; at most " +
                                     std::to_string(limits::kMaxDisplayName) + " are allowed");
          ok = false;
        } else if (has_control_character(*v)) {
          s.fail("display_name", quote(*v) + " contains a control character");
          ok = false;
        } else {
          c.display_name = *v;
        }
      } else if (s.has("display_name")) {
        ok = false;
      }
      if (c.display_name.empty()) c.display_name = c.name;

      if (auto groups = s.strings("superuser_groups")) {
        for (const auto& g : *groups) {
          if (g.value.empty()) {
            s.fail_at(g.line, "superuser_groups", "\"\" is not a group name");
            ok = false;
          } else {
            c.superuser_groups.push_back(g.value);
          }
        }
      } else if (s.has("superuser_groups")) {
        ok = false;
      }

      if (auto v = s.string("language")) {
        if (*v == "en" || *v == "nl" || *v == "de" || *v == "it") {
          c.language = *v;
        } else {
          s.fail("language", quote(*v) + " is not one of en, nl, de, it");
          ok = false;
        }
      } else if (s.has("language")) {
        ok = false;
      }

      if (ok) config_->tenants.push_back(std::move(c));
    }
  }

  void directories() {
    if (skip_directories_) return;
    auto list = tables("directory");
    std::map<std::string, int>& names = login_names_;  // name -> line of its table
    for (const auto* t : list) {
      Section s(errors_, "directory", t);
      DirectoryConfig d;
      d.line = s.line();
      bool ok = true;
      auto name = s.string("name", true);
      if (!name) {
        ok = false;
      } else if (!valid_directory_name(*name)) {
        s.fail("name", quote(*name) + " is not a valid name (use a-z, 0-9, _ and -)");
        ok = false;
      } else if (auto [it, inserted] = names.emplace(*name, d.line); !inserted) {
        s.fail("name", quote(*name) + " is already used by the [[directory]] at line " +
                           std::to_string(it->second));
        ok = false;
      } else {
        d.name = *name;
      }
      auto kind = s.string("kind", true);
      if (!kind) {
        ok = false;
      } else if (*kind == "local") {
        d.kind = DirectoryKind::local;
        s.check_keys({"name", "kind"});
      } else if (*kind == "ldap" || *kind == "active_directory") {
        d.kind = *kind == "ldap" ? DirectoryKind::ldap : DirectoryKind::active_directory;
        ok = ldap_directory(s, d) && ok;
      } else {
        errors_.add(s.line("kind"), "[directory] kind " + quote(*kind) +
                                        " is not one of local, ldap, active_directory");
        ok = false;
      }
      if (ok) config_->directories.push_back(std::move(d));
    }
  }

  // The keys of kind = "ldap" and "active_directory"; AD gets defaults that make
  // uri, bind_dn, bind_password_file and user_base enough.
  bool ldap_directory(Section& s, DirectoryConfig& d) {
    const bool ad = d.kind == DirectoryKind::active_directory;
    LdapConfig& c = d.ldap;
    if (ad) {
      s.check_keys({"name", "kind", "uri", "start_tls", "ca_file", "tls_verify", "allow_plaintext",
                    "bind_dn", "bind_password_file", "user_base", "user_filter",
                    "username_attribute", "email_attribute", "display_name_attribute",
                    "group_base", "group_filter", "group_name_attribute", "member_of_attribute",
                    "nested_groups", "group_cache_ttl", "tenant", "tenant_attribute", "domain", "connect_timeout",
                    "timeout", "retry_after", "pool_size"});
      c.user_filter =
          "(&(objectCategory=person)(objectClass=user)"
          "(|(sAMAccountName={username})(userPrincipalName={username})))";
      c.username_attribute = "sAMAccountName";
      c.group_filter = "(member:1.2.840.113556.1.4.1941:={dn})";  // in-chain: nested groups
      c.nested_groups = false;  // the server already follows the chain
    } else {
      s.check_keys({"name", "kind", "uri", "start_tls", "ca_file", "tls_verify", "allow_plaintext",
                    "bind_dn", "bind_password_file", "bind_template", "user_base", "user_filter",
                    "username_attribute", "email_attribute", "display_name_attribute",
                    "group_base", "group_filter", "group_name_attribute", "member_of_attribute",
                    "nested_groups", "group_cache_ttl", "tenant", "tenant_attribute", "connect_timeout", "timeout",
                    "retry_after", "pool_size"});
      c.user_filter = "(uid={username})";
      c.username_attribute = "uid";
      c.group_filter = "(member={dn})";
    }
    bool ok = true;
    auto fail = [&](std::string_view key, const std::string& message) {
      s.fail(key, message);
      ok = false;
    };
    // A wrongly typed value is reported by the getter; it makes the table unusable too.
    auto get_string = [&](std::string_view key, std::string& out) {
      if (!s.has(key)) return;
      if (auto v = s.string(key)) out = *v; else ok = false;
    };
    auto get_bool = [&](std::string_view key, bool& out) {
      if (!s.has(key)) return;
      if (auto v = s.boolean(key)) out = *v; else ok = false;
    };

    // uri: one string or an array of them, failover in order.
    std::vector<StringAt> uris;
    if (const auto* node = s.get("uri"); !node) {
      s.missing("uri");
      ok = false;
    } else if (node->is_string()) {
      uris.push_back({*s.string("uri"), s.line("uri")});
    } else if (auto list = s.strings("uri")) {
      uris = std::move(*list);
      if (uris.empty()) fail("uri", "must name at least one server");
    } else {
      ok = false;
    }
    for (const auto& u : uris) {
      if (auto uri = LdapUri::parse(u.value)) {
        c.uris.push_back(std::move(*uri));
      } else {
        s.fail_at(u.line, "uri",
                  quote(u.value) + " is not an LDAP server address (write ldap://host[:port] "
                                   "or ldaps://host[:port])");
        ok = false;
      }
    }
    get_bool("start_tls", c.start_tls);
    get_bool("tls_verify", c.tls_verify);
    get_bool("allow_plaintext", c.allow_plaintext);
    for (const auto& uri : c.uris) {
      if (uri.tls && c.start_tls) {
        fail("start_tls", "is for ldap:// servers; " + quote(uri.text) + " already uses TLS");
        break;
      }
      if (!uri.tls && !c.start_tls && !c.allow_plaintext && !uri.is_loopback()) {
        s.fail_at(s.line("uri"), "uri",
                  quote(uri.text) + " would carry passwords unencrypted: use ldaps://, "
                                    "start_tls = true, or allow_plaintext = true");
        ok = false;
        break;
      }
    }
    get_string("ca_file", c.ca_file);
    if (!c.ca_file.empty())
      if (auto problem = file_problem(c.ca_file)) fail("ca_file", *problem);

    get_string("bind_dn", c.bind_dn);
    get_string("bind_password_file", c.bind_password_file);
    if (!ad) get_string("bind_template", c.bind_template);
    if (!c.bind_dn.empty() && c.bind_password_file.empty()) {
      fail("bind_dn", "is set but bind_password_file is not");
    } else if (c.bind_dn.empty() && !c.bind_password_file.empty()) {
      fail("bind_password_file", "is set but bind_dn is not");
    } else if (!c.bind_password_file.empty()) {
      if (auto problem = secret_file_problem(c.bind_password_file)) fail("bind_password_file", *problem);
    }
    if (c.bind_dn.empty() && c.bind_template.empty()) {
      errors_.add(s.line(), "[directory] " + quote(d.name) +
                                ": set bind_dn and bind_password_file (search, then bind as the "
                                "user)" + (ad ? "" : ", or bind_template (bind directly)"));
      ok = false;
    }
    if (!c.bind_template.empty() && c.bind_template.find("{username}") == std::string::npos)
      fail("bind_template", "must contain {username}");

    get_string("user_base", c.user_base);
    if (c.user_base.empty() && c.bind_template.empty()) {
      if (s.has("user_base")) fail("user_base", "must not be empty"); else { s.missing("user_base"); ok = false; }
    }
    get_string("user_filter", c.user_filter);
    if (c.user_filter.find("{username}") == std::string::npos)
      fail("user_filter", "must contain {username}");
    else if (c.user_filter.front() != '(' || c.user_filter.back() != ')')
      fail("user_filter", quote(c.user_filter) + " is not an LDAP filter (it must be in parentheses)");

    get_string("username_attribute", c.username_attribute);
    get_string("email_attribute", c.email_attribute);
    get_string("display_name_attribute", c.display_name_attribute);
    get_string("group_base", c.group_base);
    if (ad && !s.has("group_base")) c.group_base = c.user_base;
    get_string("group_filter", c.group_filter);
    get_string("group_name_attribute", c.group_name_attribute);
    get_string("member_of_attribute", c.member_of_attribute);
    get_bool("nested_groups", c.nested_groups);
    if (!c.group_base.empty() &&
        (c.group_filter.empty() || c.group_filter.front() != '(' || c.group_filter.back() != ')'))
      fail("group_filter", quote(c.group_filter) + " is not an LDAP filter (it must be in parentheses)");
    get_string("tenant", c.tenant);
    if (!c.tenant.empty() && !valid_tenant_name(c.tenant)) fail("tenant", tenant_name_problem(c.tenant));
    get_string("tenant_attribute", c.tenant_attribute);
    const std::pair<std::string_view, const std::string*> attributes[] = {
        {"username_attribute", &c.username_attribute}, {"email_attribute", &c.email_attribute},
        {"display_name_attribute", &c.display_name_attribute},
        {"group_name_attribute", &c.group_name_attribute},
        {"member_of_attribute", &c.member_of_attribute}, {"tenant_attribute", &c.tenant_attribute}};
    for (const auto& [key, value] : attributes) {
      const bool optional = key == "member_of_attribute" || key == "tenant_attribute";
      if (!valid_attribute_name(*value, optional))
        fail(key, quote(*value) + " is not an LDAP attribute name");
    }
    if (c.tenant.empty() && c.tenant_attribute.empty()) {
      errors_.add(s.line(), "[directory] " + quote(d.name) +
                                ": set tenant (the organisation of its users) or tenant_attribute");
      ok = false;
    }
    if (ad) get_string("domain", c.domain);

    auto get_duration = [&](std::string_view key, Seconds min, Seconds max, Seconds& out) {
      if (!s.has(key)) return;
      if (auto v = s.duration_between(key, min, max)) out = *v; else ok = false;
    };
    get_duration("connect_timeout", Seconds(1), Seconds(60), c.connect_timeout);
    get_duration("timeout", Seconds(1), Seconds(300), c.timeout);
    get_duration("retry_after", Seconds(1), Seconds(3600), c.retry_after);
    get_duration("group_cache_ttl", Seconds(0), Seconds(3600), c.group_cache_ttl);
    if (s.has("pool_size")) {
      if (auto v = s.integer_between("pool_size", 1, 256)) c.pool_size = static_cast<unsigned>(*v); else ok = false;
    }
    return ok;
  }

  void providers() {
    if (skip_oidc_) return;
    for (const auto* t : tables("oidc")) {
      Section s(errors_, "oidc", t);
      s.check_keys({"name", "display_name", "issuer", "client_id", "client_secret_file", "scopes",
                    "username_claim", "email_claim", "name_claim", "groups_claim", "tenant", "tenant_claim",
                    "bearer_audience", "algorithms", "clock_skew", "timeout", "discovery_refresh",
                    "jwks_refetch_interval", "ca_file", "use_userinfo"});
      OidcConfig c;
      c.line = s.line();
      bool ok = true;
      auto fail = [&](std::string_view key, const std::string& message) {
        s.fail(key, message);
        ok = false;
      };
      auto get_string = [&](std::string_view key, std::string& out, bool required = false) {
        if (!s.has(key)) {
          if (required) {
            s.missing(key);
            ok = false;
          }
          return;
        }
        if (auto v = s.string(key)) out = *v; else ok = false;
      };

      get_string("name", c.name, true);
      if (s.has("name") && ok) {
        if (!valid_directory_name(c.name)) {
          fail("name", quote(c.name) + " is not a valid name (use a-z, 0-9, _ and -)");
        } else if (auto [it, inserted] = login_names_.emplace(c.name, c.line); !inserted) {
          fail("name", quote(c.name) + " is already used by the [[directory]] or [[oidc]] at line " +
                           std::to_string(it->second));
        }
      }
      get_string("display_name", c.display_name);
      if (c.display_name.empty()) c.display_name = c.name;

      get_string("issuer", c.issuer, true);
      if (!c.issuer.empty()) {
        auto url = Url::parse(c.issuer);
        if (!url) {
          fail("issuer", quote(c.issuer) + " is not an https:// URL (no query or fragment)");
        } else if (url->scheme != "https" && !url->is_loopback()) {
          fail("issuer", quote(c.issuer) + " must use https (http only for a provider on this machine)");
        } else {
          c.issuer_url = *url;
        }
      } else if (s.has("issuer")) {
        fail("issuer", "must not be empty");
      }

      get_string("client_id", c.client_id, true);
      if (s.has("client_id") && c.client_id.empty()) fail("client_id", "must not be empty");
      get_string("client_secret_file", c.client_secret_file, true);
      if (!c.client_secret_file.empty()) {
        if (auto problem = secret_file_problem(c.client_secret_file)) fail("client_secret_file", *problem);
      }

      if (s.has("scopes")) {
        if (auto list = s.strings("scopes")) {
          c.scopes.clear();
          for (const auto& scope : *list) {
            if (scope.value.empty() || scope.value.find_first_of(" \t\r\n\"\\") != std::string::npos) {
              s.fail_at(scope.line, "scopes", quote(scope.value) + " is not a scope name");
              ok = false;
            } else {
              c.scopes.push_back(scope.value);
            }
          }
          if (std::find(c.scopes.begin(), c.scopes.end(), "openid") == c.scopes.end())
            fail("scopes", "must include \"openid\"");
        } else {
          ok = false;
        }
      }

      get_string("username_claim", c.username_claim);
      get_string("email_claim", c.email_claim);
      get_string("name_claim", c.name_claim);
      get_string("groups_claim", c.groups_claim);
      if (c.username_claim.empty()) fail("username_claim", "must not be empty (\"sub\" is always there)");
      get_string("tenant", c.tenant);
      if (!c.tenant.empty() && !valid_tenant_name(c.tenant)) fail("tenant", tenant_name_problem(c.tenant));
      get_string("tenant_claim", c.tenant_claim);
      if (c.tenant.empty() && c.tenant_claim.empty()) {
        errors_.add(s.line(), "[oidc] " + quote(c.name) +
                                  ": set tenant (the organisation of its users) or tenant_claim");
        ok = false;
      }
      get_string("bearer_audience", c.bearer_audience);

      if (s.has("algorithms")) {
        if (auto list = s.strings("algorithms")) {
          c.algorithms.clear();
          for (const auto& alg : *list) {
            if (alg.value == "RS256" || alg.value == "PS256" || alg.value == "ES256" || alg.value == "EdDSA") {
              c.algorithms.push_back(alg.value);
            } else {
              s.fail_at(alg.line, "algorithms",
                        quote(alg.value) + " is not accepted (choose from RS256, PS256, ES256, EdDSA; "
                                           "never none or HS*)");
              ok = false;
            }
          }
          if (list->empty()) fail("algorithms", "must name at least one algorithm");
        } else {
          ok = false;
        }
      }

      auto get_duration = [&](std::string_view key, Seconds min, Seconds max, Seconds& out) {
        if (!s.has(key)) return;
        if (auto v = s.duration_between(key, min, max)) out = *v; else ok = false;
      };
      get_duration("clock_skew", Seconds(0), Seconds(600), c.clock_skew);
      get_duration("timeout", Seconds(1), Seconds(120), c.timeout);
      get_duration("discovery_refresh", Seconds(60), Seconds(7 * 86400), c.discovery_refresh);
      get_duration("jwks_refetch_interval", Seconds(1), Seconds(3600), c.jwks_refetch_interval);
      get_string("ca_file", c.ca_file);
      if (!c.ca_file.empty())
        if (auto problem = file_problem(c.ca_file)) fail("ca_file", *problem);
      if (s.has("use_userinfo")) {
        if (auto v = s.boolean("use_userinfo")) c.use_userinfo = *v; else ok = false;
      }
      if (ok) config_->oidc.push_back(std::move(c));
    }
  }

  void routes() {
    if (skip_routes_) return;
    auto list = tables("route");
    if (list.empty()) {
      errors_.add(1, "no [[route]] configured");
      return;
    }
    std::map<std::pair<std::string, std::string>, int> seen;  // (host, prefix) -> line
    for (const auto* t : list) {
      Section s(errors_, "route", t);
      s.check_keys({"host", "path_prefix", "upstream", "public", "allow_groups", "inject_secret", "tenants",
                    "banner"});
      RouteConfig r;
      r.line = s.line();
      bool ok = true;


      bool host_ok = true;
      if (auto v = s.string("host")) {
        if (valid_route_host(*v)) {
          r.host = lower(*v);
        } else {
          s.fail("host", quote(*v) + " is not a host name (write it without scheme, port or path)");
          host_ok = false;
        }
      } else if (s.has("host")) {
        host_ok = false;
      }

      bool prefix_ok = false;
      if (auto v = s.string("path_prefix", true)) {
        if (v->empty() || v->front() != '/') {
          s.fail("path_prefix", quote(*v) + " does not start with \"/\"");
        } else if (v->find_first_of(" \t\r\n?#") != std::string::npos) {
          s.fail("path_prefix", quote(*v) + " contains a space, \"?\" or \"#\"");
        } else if (auto problem = prefix_problem(*v)) {
          s.fail("path_prefix", *problem);
        } else {
          r.path_prefix = strip_trailing_slashes(*v);
          prefix_ok = true;
        }
      }

      if (auto v = s.string("upstream", true)) {
        auto url = Url::parse(*v);
        if (!url) {
          s.fail("upstream", quote(*v) + " is not an http:// or https:// URL");
          ok = false;
        } else if (url->scheme == "https") {
          s.fail("upstream", quote(*v) + " uses https, which " + std::string(kNotYet));
          ok = false;
        } else {
          r.upstream = *url;
        }
      } else {
        ok = false;
      }

      if (auto v = s.boolean("public")) r.is_public = *v;

      if (auto groups = s.strings("allow_groups")) {
        for (const auto& g : *groups) {
          if (g.value.empty()) {
            s.fail_at(g.line, "allow_groups", "\"\" is not a group name");
            ok = false;
          } else {
            r.allow_groups.push_back(g.value);
          }
        }
        if (r.is_public && !groups->empty()) {
          s.fail("allow_groups",
                 "a public route admits everyone; remove allow_groups or set public = false");
          ok = false;
        }
      }

      // Tenants added with `gatehouse tenant add` count too: no [[tenant]] table needed.
      if (auto tenants = s.strings("tenants")) {
        for (const auto& t : *tenants) {
          if (!valid_tenant_name(t.value)) {
            s.fail_at(t.line, "tenants", tenant_name_problem(t.value));
            ok = false;
          } else {
            r.tenants.push_back(t.value);
          }
        }
        if (r.is_public && !tenants->empty()) {
          s.fail("tenants",
                 "a public route admits everyone, with no signed-in party to check; remove tenants or "
                 "set public = false");
          ok = false;
        }
      } else if (s.has("tenants")) {
        ok = false;
      }

      if (auto v = s.boolean("banner")) r.banner = *v; else if (s.has("banner")) ok = false;

      if (const auto* node = s.get("inject_secret")) {
        if (!inject_secret(s, *node, r)) ok = false;
        if (r.is_public && r.inject_secret) {
          s.fail("inject_secret",
                 "a public route has no signed-in party whose secret could be injected; set public = false");
          ok = false;
        }
      }

      if (host_ok && prefix_ok) {
        auto [it, inserted] = seen.emplace(std::pair{r.host, r.path_prefix}, r.line);
        if (!inserted) {
          errors_.add(r.line, "[route] duplicate route " + quote(r.id()) +
                                  " (first defined at line " + std::to_string(it->second) + ")");
          ok = false;
        }
      }
      if (ok && host_ok && prefix_ok) config_->routes.push_back(std::move(r));
    }
  }

  // inject_secret = { header = "Authorization", secret = "api-token", format = "Bearer {}" }
  bool inject_secret(Section& route, const toml::node& node, RouteConfig& r) {
    const auto* table = node.as_table();
    if (table == nullptr) {
      route.fail("inject_secret", "expected a table such as { header = \"Authorization\", secret = \"api-token\", "
                                  "format = \"Bearer {}\" }, got " + type_name(node));
      return false;
    }
    Section s(errors_, "route inject_secret", table);
    s.check_keys({"header", "secret", "format"});
    bool ok = true;
    InjectSecret inject;
    if (auto v = s.string("header", true)) {
      if (auto problem = injected_header_problem(*v)) {
        s.fail("header", *problem);
        ok = false;
      } else {
        inject.header = *v;
      }
    } else {
      ok = false;
    }
    if (auto v = s.string("secret", true)) {
      if (!valid_secret_name(*v)) {
        s.fail("secret", quote(*v) + " is not a secret name (1 to 64 letters, digits, '.', '_' or '-', starting "
                                     "with a letter or digit)");
        ok = false;
      } else {
        inject.secret = *v;
      }
    } else {
      ok = false;
    }
    std::string format = "{}";
    if (auto v = s.string("format")) {
      format = *v;
    } else if (s.has("format")) {
      ok = false;
    }
    const auto at = format.find("{}");
    if (at == std::string::npos || format.find("{}", at + 2) != std::string::npos) {
      s.fail("format", quote(format) + " must contain \"{}\" (where the value goes) exactly once");
      ok = false;
    } else if (format.size() > 256 || std::any_of(format.begin(), format.end(), [](char c) {
                 return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f;
               })) {
      s.fail("format", "must be at most 256 characters without control characters");
      ok = false;
    } else {
      inject.prefix = format.substr(0, at);
      inject.suffix = format.substr(at + 2);
    }
    if (ok) r.inject_secret = std::move(inject);
    return ok;
  }

  const toml::table& root_;
  Errors errors_;
  std::shared_ptr<Config> config_ = std::make_shared<Config>();
  bool skip_server_ = false, skip_store_ = false, skip_keys_ = false, skip_session_ = false;
  bool skip_lockout_ = false, skip_audit_ = false, skip_metrics_ = false, skip_log_ = false;
  bool skip_directories_ = false, skip_routes_ = false, skip_oidc_ = false;
  bool skip_smtp_ = false, skip_delegation_ = false, skip_tenants_ = false;
  std::map<std::string, int> login_names_;  // directory and provider names -> line
};

}  // namespace

LoadResult parse_config(std::string_view toml_text, const std::string& file_name_for_errors) {
  toml::table root;
  try {
    root = toml::parse(toml_text, std::string_view(file_name_for_errors));
  } catch (const toml::parse_error& e) {
    LoadResult result;
    result.errors.push_back(
        ConfigError{file_name_for_errors, line_of(e.source()), std::string(e.description())});
    return result;
  }
  return Loader(root, file_name_for_errors).run();
}

LoadResult load_config(const std::string& path) {
  auto fail = [&](int err) {
    LoadResult result;
    result.errors.push_back(
        ConfigError{path, 1, std::string("cannot read file: ") + std::strerror(err)});
    return result;
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(errno);
  std::string text;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return fail(err);
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return parse_config(text, path);
}

}  // namespace gatehouse::config
