#pragma once
// Plain, validated, immutable configuration objects. load_config() is the only way to
// make a Config from a file; everything it returns has passed validation.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.h"
#include "common/net.h"

namespace gatehouse::config {

using Seconds = std::chrono::seconds;

// The longest duration parse_duration() accepts: 100 years. Any configured duration
// added to the current time then still fits std::chrono's nanosecond clocks (about
// ±292 years around 1970) and 64-bit seconds, so no later sum can overflow. Each key
// has its own, much smaller, maximum on top of this (docs/configuration-limits.md).
inline constexpr Seconds kMaxDuration{36500LL * 86400};

// "90s", "15m", "12h", "7d" (also "0s"). No sign, no fractions, no spaces; an integer
// followed by exactly one unit. Returns nullopt on anything else and on anything longer
// than kMaxDuration (the arithmetic is checked, so a huge value never wraps around).
std::optional<Seconds> parse_duration(std::string_view text);
// True when `text` has the shape of a duration (digits and one unit), whether or not
// its value is in range: tells "not a duration" from "too long" in error messages.
bool looks_like_duration(std::string_view text);
std::string format_duration(Seconds d);  // 900s -> "15m"

// RFC 3339 date-time ("2024-05-01T10:00:00Z", "2024-05-01T12:00:00.5+02:00"; 'T' and
// 'Z' in either case) to seconds since the Unix epoch, fractions dropped. nullopt on
// anything else, including impossible dates such as February 30.
std::optional<std::int64_t> parse_rfc3339(std::string_view text);
std::string format_rfc3339(std::int64_t unix_seconds);  // UTC: "2024-05-01T10:00:00Z"

// An absolute http(s) URL split into parts. path is "" or starts with '/'.
struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // without brackets for IPv6
  std::uint16_t port = 0;  // after parse(): the explicit port, else 80 / 443 by scheme
  std::string path;
  std::string origin() const;  // scheme://host[:port], port omitted when default
  // Parses "http://host[:port][/path]"; no userinfo, query or fragment accepted.
  static std::optional<Url> parse(std::string_view text);
  bool is_loopback() const;
};

// "localhost", 127.0.0.0/8 or ::1.
bool is_loopback_host(std::string_view host);
// 127.0.0.1/32 and ::1/128.
std::vector<Cidr> loopback_networks();

struct ListenAddress {
  std::string host;  // "127.0.0.1", "::1", "0.0.0.0"
  std::uint16_t port = 0;
  // "127.0.0.1:8080", "[::1]:8443", ":8080" (all interfaces). Port 0 allowed (tests).
  static std::optional<ListenAddress> parse(std::string_view text);
};

struct ServerConfig {
  ListenAddress listen;
  Url public_url;
  std::string tls_cert_file;  // both empty or both set
  std::string tls_key_file;
  std::vector<Cidr> trusted_proxies;
  // Additions beyond CONTRACT.md:
  Seconds upstream_connect_timeout{5};     // [server] upstream_connect_timeout
  Seconds upstream_timeout{60};            // [server] upstream_timeout: 504 after this idle time
  std::uint64_t max_body_bytes = 1ull << 30;  // [server] max_body_bytes: 413 above
  std::uint32_t max_header_bytes = 16384;     // [server] max_header_bytes: 431 above
  unsigned threads = 0;                       // [server] threads: 0 = number of cores
  Seconds shutdown_timeout{10};               // [server] shutdown_timeout
  Seconds header_timeout{10};     // [server] header_timeout: a request's header, from its first byte: 408 after
  Seconds keepalive_timeout{75};  // [server] keepalive_timeout: an idle connection between requests is closed
};

struct StoreConfig {
  std::string backend = "sqlite";
  std::string path;
};

struct KeysConfig {
  std::string master_key_file;
  // Still accepted for opening sealed values during a master key change; a name without
  // a slash is a systemd credential ($CREDENTIALS_DIRECTORY/NAME).
  std::vector<std::string> previous_master_key_files;
};

struct SessionConfig {
  std::string cookie_name = "gatehouse_session";
  Seconds idle_timeout{30 * 60};
  Seconds absolute_timeout{12 * 3600};
  Seconds assertion_ttl{120};  // [session] assertion_ttl: lifetime of X-Gatehouse-Assertion
};

// [lockout]: failed logins counted per account and per client address within `window`.
struct LockoutConfig {
  std::int64_t max_failures = 5;  // per account; then locked
  Seconds window{15 * 60};
  Seconds lock_duration{0};           // 0s: until an admin unlocks or whitelists
  std::int64_t ip_max_failures = 50;  // per client address; then 429 until failures age out
};

struct AuditConfig {
  Seconds retention{180 * 86400};  // older records are pruned in the background
};

// [metrics]: who may scrape /.gatehouse/metrics, by the real client address (as
// decided with trusted_proxies). Empty: nobody.
struct MetricsConfig {
  std::vector<Cidr> allow = loopback_networks();
};

// [log]: the format and threshold of the log lines on stderr, and the access log.
struct LogConfig {
  log::Format format = log::Format::kv;
  log::Level level = log::Level::info;  // lines below this level are dropped
  bool access_log = false;              // one line per request
};

enum class DirectoryKind { local, ldap, active_directory };

// An ldap:// or ldaps:// server address.
struct LdapUri {
  std::string text;  // as written, for logs and libldap
  bool tls = false;  // ldaps://
  std::string host;
  std::uint16_t port = 0;  // explicit, else 389 / 636
  // "ldap://host[:port][/]" or "ldaps://…"; IPv6 in brackets. No DN, attributes or
  // extensions: those belong in user_base and friends.
  static std::optional<LdapUri> parse(std::string_view text);
  bool is_loopback() const;
};

// Settings of kind = "ldap" and kind = "active_directory". For active_directory the
// loader fills in AD defaults for every key not written.
struct LdapConfig {
  std::vector<LdapUri> uris;        // failover in order
  bool start_tls = false;
  std::string ca_file;              // "" = the system's trust store
  bool tls_verify = true;           // false only for labs; logged as a warning
  bool allow_plaintext = false;     // ldap:// without StartTLS to a non-loopback host
  std::string bind_dn;              // service account for search-then-bind
  std::string bind_password_file;
  std::string bind_template;        // direct bind: "uid={username},ou=people,dc=…"
  std::string user_base;
  std::string user_filter;          // {username} escaped per RFC 4515
  std::string username_attribute;   // canonical user name: uid / sAMAccountName
  std::string email_attribute = "mail";
  std::string display_name_attribute = "displayName";  // falls back to cn
  std::string group_base;           // "" = no group search
  std::string group_filter;         // {dn}, {username}
  std::string group_name_attribute = "cn";
  std::string member_of_attribute;  // groups from this attribute of the user entry
  bool nested_groups = true;        // follow groups that are members of groups
  Seconds group_cache_ttl{60};      // parents of a group are cached this long (0s: never)
  std::string tenant;               // real party of the directory's users…
  std::string tenant_attribute;     // …unless this attribute of the entry names it
  std::string domain;               // active_directory: NetBIOS name accepted in DOMAIN\user
  Seconds connect_timeout{3};
  Seconds timeout{5};               // each LDAP operation
  Seconds retry_after{30};          // a failed server is skipped this long
  unsigned pool_size = 8;           // open connections per server and purpose
};

struct DirectoryConfig {
  std::string name;
  DirectoryKind kind = DirectoryKind::local;
  int line = 0;  // where the table starts, for error messages at runtime
  LdapConfig ldap;  // kind ldap / active_directory
};

// One [[oidc]] provider: gatehouse is its relying party (authorization code + PKCE),
// and optionally accepts its access tokens as bearer JWTs.
struct OidcConfig {
  std::string name;   // a-z, 0-9, _ and -; unique among directories and providers
  int line = 0;
  std::string issuer;  // exactly as written: compared byte for byte with discovery and `iss`
  Url issuer_url;      // parsed: https, or http on a loopback host
  std::string display_name;  // the login page's button: "Sign in with …" (default: name)
  std::string client_id;
  std::string client_secret_file;
  std::vector<std::string> scopes{"openid", "email", "profile"};
  std::string username_claim = "preferred_username";
  std::string email_claim = "email";
  std::string name_claim = "name";
  std::string groups_claim = "groups";
  std::string tenant;        // real party of the provider's users…
  std::string tenant_claim;  // …unless this claim names it per user
  std::string bearer_audience;  // non-empty: bearer JWTs with this aud on protected routes
  std::vector<std::string> algorithms{"RS256", "PS256", "ES256", "EdDSA"};
  Seconds clock_skew{60};
  Seconds timeout{10};              // each HTTP request to the provider
  Seconds discovery_refresh{3600};  // discovery document and JWKS are re-read this often
  Seconds jwks_refetch_interval{30};  // an unknown kid refetches the JWKS at most this often
  std::string ca_file;  // "" = the system's trust store (https issuers)
  bool use_userinfo = true;  // merge the userinfo endpoint's claims when it is advertised
};

// [smtp]: notification and invitation e-mails, delivered with libcurl.
struct SmtpConfig {
  std::string url;            // "smtp://host[:port]" or "smtps://host[:port]"; "" = not configured
  bool starttls = true;       // smtp://: require STARTTLS (refuse to send in the clear)
  std::string from;           // "Name <addr@example.org>" or "addr@example.org"
  std::string username;       // "" = no login
  std::string password_file;  // with username
  std::string ca_file;        // "" = the system's trust store
  Seconds timeout{30};        // [smtp] timeout: one delivery attempt
  // Additions beyond CONTRACT.md, for tests and labs: loopback only, logged as a warning.
  bool tls_verify = true;
};

// [delegation]
struct DelegationConfig {
  Seconds default_duration{7 * 86400};
};

// [[tenant]]: a tenant the configuration declares (others come from `tenant add`).
struct TenantConfig {
  std::string name;          // a-z, 0-9, '.', '_' and '-' ; at most 64
  std::string display_name;  // default: name
  std::vector<std::string> superuser_groups;
  std::string language = "en";  // "en" | "nl" | "de" | "it"
  int line = 0;
};

// A route's inject_secret: the effective party's vault secret `secret` goes into the
// upstream request's `header`, as prefix + value + suffix (format "Bearer {}").
struct InjectSecret {
  std::string header;  // as written; compared case-insensitively
  std::string secret;
  std::string prefix;
  std::string suffix;
};

struct RouteConfig {
  std::string host;         // lower-cased, without port; "" = any host
  std::string path_prefix;  // starts with '/'
  Url upstream;
  bool is_public = false;   // TOML key "public"
  std::vector<std::string> allow_groups;
  std::vector<std::string> tenants;  // effective parties allowed; empty = any
  bool banner = true;                // delegation banner in text/html answers
  std::optional<InjectSecret> inject_secret;
  int line = 0;
  std::string id() const;   // stable name used as the assertion audience: host + path_prefix
};

struct Config {
  std::string file;  // path it was loaded from
  ServerConfig server;
  StoreConfig store;
  KeysConfig keys;
  SessionConfig session;
  LockoutConfig lockout;
  AuditConfig audit;
  MetricsConfig metrics;
  LogConfig log;
  std::vector<DirectoryConfig> directories;
  std::vector<OidcConfig> oidc;
  std::vector<RouteConfig> routes;
  SmtpConfig smtp;
  DelegationConfig delegation;
  std::vector<TenantConfig> tenants;
  const TenantConfig* find_tenant(std::string_view name) const;
};

struct ConfigError {
  std::string file;
  int line = 0;  // 1 when the error is about the file as a whole (unreadable, missing table)
  std::string message;
  std::string to_string() const;  // "FILE:LINE: message"
};

struct LoadResult {
  std::shared_ptr<const Config> config;  // null when errors is non-empty
  std::vector<ConfigError> errors;       // every error found, in file order
};

LoadResult load_config(const std::string& path);
LoadResult parse_config(std::string_view toml_text, const std::string& file_name_for_errors);

}  // namespace gatehouse::config
