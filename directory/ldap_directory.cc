#include "directory/ldap_directory.h"

#include <sodium.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "common/log.h"
#include "common/secret_file.h"
#include "directory/ldap_text.h"

namespace gatehouse::directory {

namespace {

constexpr int kMaxNestingDepth = 10;
constexpr std::size_t kMaxGroups = 1000;
// Groups whose parents are cached; beyond this the cache starts afresh.
constexpr std::size_t kMaxCachedGroups = 10000;

// userAccountControl bits (MS-ADTS 2.2.16).
constexpr unsigned long kUacAccountDisable = 0x2;
constexpr unsigned long kUacLockout = 0x10;

AuthOutcome outcome(AuthStatus status, std::string detail) {
  return AuthOutcome{status, {}, std::move(detail)};
}

// The password file holds the password alone; one trailing newline is an editor's,
// not part of it.
// The user filter for each name (escaped), OR-ed when there are several.
std::string user_filter_for(const std::string& filter_template, const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names)
    out += ldap::substitute(filter_template, {{"{username}", ldap::escape_filter_value(name)}});
  return names.size() == 1 ? out : "(|" + out + ")";
}

// DNs compare case-insensitively (for the attribute values gatehouse meets).
std::string dn_key(std::string dn) {
  std::transform(dn.begin(), dn.end(), dn.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return dn;
}

}  // namespace

// --- LdapDirectory ----------------------------------------------------------------

Result<std::shared_ptr<Directory>> LdapDirectory::create(const config::DirectoryConfig& config) {
  const config::LdapConfig& c = config.ldap;
  ldap::ConnectionSettings settings;
  settings.connect_timeout = c.connect_timeout;
  settings.timeout = c.timeout;
  settings.start_tls = c.start_tls;
  settings.tls_verify = c.tls_verify;
  settings.ca_file = c.ca_file;

  std::shared_ptr<ldap::TlsContext> tls;
  const bool uses_tls = c.start_tls || std::any_of(c.uris.begin(), c.uris.end(), [](const auto& u) { return u.tls; });
  if (uses_tls) {
    auto made = ldap::TlsContext::create(settings);
    if (!made) return make_error("directory.config", "directory \"" + config.name + "\": " + made.error().message);
    tls = std::move(made).value();
    if (!c.tls_verify)
      log::warning("directory.tls_unverified",
                   {{"directory", config.name},
                    {"detail", "tls_verify = false: the server's certificate is not checked; use only in a lab"}});
  }
  std::optional<ldap::Credentials> service;
  if (!c.bind_dn.empty()) {
    auto password = read_secret_file(c.bind_password_file);
    if (!password) return make_error("directory.config", "directory \"" + config.name + "\": bind_password_file " + password.error().message);
    service = ldap::Credentials{c.bind_dn, std::move(password).value()};
  }
  auto pool = std::make_unique<ldap::Pool>(config.name, c.uris, settings, tls, std::move(service), c.pool_size,
                                           c.retry_after);
  if (config.kind == config::DirectoryKind::active_directory)
    return std::shared_ptr<Directory>(new ActiveDirectory(config, std::move(pool)));
  return std::shared_ptr<Directory>(new LdapDirectory(config, std::move(pool)));
}

LdapDirectory::LdapDirectory(const config::DirectoryConfig& config, std::unique_ptr<ldap::Pool> pool)
    : name_(config.name), config_(config.ldap), pool_(std::move(pool)) {}

Status LdapDirectory::check() { return ldap::run_sync(pool_->check()); }

std::optional<std::vector<std::string>> LdapDirectory::lookup_names(std::string_view username,
                                                                     std::string*) const {
  return std::vector<std::string>{std::string(username)};
}

AuthOutcome LdapDirectory::refused(const ldap::BindRefusal& refusal) const {
  std::string detail = "bind refused: " + ldap::result_text(refusal.code);
  if (!refusal.diagnostic.empty()) detail += " (" + refusal.diagnostic + ")";
  return outcome(AuthStatus::bad_credentials, detail);
}

std::optional<AuthOutcome> LdapDirectory::account_state(const ldap::Entry&) const { return std::nullopt; }

std::vector<std::string> LdapDirectory::entry_attributes() const {
  std::vector<std::string> attrs = {config_.username_attribute, config_.email_attribute,
                                    config_.display_name_attribute, "cn"};
  if (!config_.member_of_attribute.empty()) attrs.push_back(config_.member_of_attribute);
  if (!config_.tenant_attribute.empty()) attrs.push_back(config_.tenant_attribute);
  return attrs;
}

Result<AuthOutcome> LdapDirectory::authenticate(std::string_view username, const Secret& password) {
  return ldap::run_sync(authenticate_async(std::string(username), password));
}

boost::asio::awaitable<Result<AuthOutcome>> LdapDirectory::authenticate_async(std::string username,
                                                                              const Secret& password) {
  // An empty password would be an unauthenticated bind, which LDAP servers accept.
  if (password.empty()) co_return outcome(AuthStatus::bad_credentials, "empty password");
  if (username.empty()) co_return outcome(AuthStatus::bad_credentials, "empty user name");
  if (!config_.bind_template.empty()) co_return co_await authenticate_direct(username, password);
  co_return co_await authenticate_search_then_bind(username, password);
}

LdapDirectory::Task<LdapDirectory::Found> LdapDirectory::find_user(const std::vector<std::string>& names) {
  const std::string filter = user_filter_for(config_.user_filter, names);
  const auto attrs = entry_attributes();
  bool truncated = false;
  auto searched = co_await pool_->fetch<std::vector<ldap::Entry>>(ldap::Purpose::service, [&](ldap::Connection& c) {
    return c.search(config_.user_base, ldap::Scope::subtree, filter, attrs, 2, &truncated);
  });
  if (!searched) co_return searched.error();
  std::vector<ldap::Entry>& entries = *searched;
  Found found;
  if (entries.empty()) {
    found.detail = "no such user";
  } else if (entries.size() > 1 || truncated) {
    // Binding as either could log in the wrong person: refuse, and tell the admin.
    found.detail = "more than one entry matches the user filter";
    log::warning("directory.ambiguous_user", {{"directory", name_}, {"first", entries[0].dn},
                                              {"second", entries.size() > 1 ? entries[1].dn : "?"}});
  } else {
    found.entry = std::move(entries[0]);
  }
  co_return found;
}

std::string LdapDirectory::decoy_dn() const {
  unsigned char random[8];
  randombytes_buf(random, sizeof random);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string dn = "cn=gatehouse-no-such-user-";
  for (unsigned char b : random) {
    dn += kHex[b >> 4];
    dn += kHex[b & 15];
  }
  return dn + "," + config_.user_base;
}

LdapDirectory::Task<AuthOutcome> LdapDirectory::authenticate_search_then_bind(std::string_view username,
                                                                              const Secret& password) {
  std::string detail;
  auto names = lookup_names(username, &detail);
  if (!names) co_return outcome(AuthStatus::bad_credentials, detail);
  auto found = co_await find_user(*names);
  if (!found) co_return found.error();
  if (!found->entry) {
    // An unknown user must cost what a wrong password costs, or the time to answer tells
    // a guesser which names exist: bind with the password as an entry that cannot exist
    // (its answer, invalid credentials, is ignored).
    co_await pool_->run(ldap::Purpose::user, [&](ldap::Connection& c) -> boost::asio::awaitable<Status> {
      (void)co_await c.bind(decoy_dn(), password);
      co_return Ok{};
    });
    co_return outcome(AuthStatus::bad_credentials, found->detail);
  }
  const ldap::Entry& entry = *found->entry;

  auto refusal = co_await pool_->fetch<std::optional<ldap::BindRefusal>>(
      ldap::Purpose::user, [&](ldap::Connection& c) { return c.bind(entry.dn, password); });
  if (!refusal) co_return refusal.error();
  if (*refusal) co_return refused(**refusal);
  if (auto state = account_state(entry)) co_return *state;

  auto groups = co_await pool_->fetch<std::vector<std::string>>(
      ldap::Purpose::service, [&](ldap::Connection& c) { return groups_of(c, entry, username); });
  if (!groups) co_return groups.error();
  co_return identity_of(entry, username, std::move(groups).value());
}

LdapDirectory::Task<AuthOutcome> LdapDirectory::authenticate_direct(std::string_view username,
                                                                    const Secret& password) {
  auto escaped = ldap::escape_dn_value(username);
  if (!escaped) co_return outcome(AuthStatus::bad_credentials, "user name cannot be part of a DN");
  const std::string dn = ldap::substitute(config_.bind_template, {{"{username}", *escaped}});
  const auto attrs = entry_attributes();
  std::optional<ldap::BindRefusal> refusal;
  std::optional<ldap::Entry> entry;
  std::vector<std::string> groups;
  // Without a service account the user's own connection reads the entry and groups.
  const bool own_connection = config_.bind_dn.empty();
  auto st = co_await pool_->run(ldap::Purpose::user, [&](ldap::Connection& c) -> boost::asio::awaitable<Status> {
    auto r = co_await c.bind(dn, password);
    if (!r) co_return r.error();
    refusal = std::move(r).value();
    if (refusal) co_return Ok{};
    auto e = co_await c.search(dn, ldap::Scope::base, "(objectClass=*)", attrs, 1);
    if (!e) co_return e.error();
    if (e->empty()) co_return Ok{};
    entry = std::move(e->front());
    if (own_connection) {
      auto g = co_await groups_of(c, *entry, username);
      if (!g) co_return g.error();
      groups = std::move(g).value();
    }
    co_return Ok{};
  });
  if (!st) co_return st.error();
  if (refusal) co_return refused(*refusal);
  if (!entry) co_return outcome(AuthStatus::bad_credentials, "bound, but the entry \"" + dn + "\" cannot be read");
  if (auto state = account_state(*entry)) co_return *state;
  if (!own_connection) {
    auto found = co_await pool_->fetch<std::vector<std::string>>(
        ldap::Purpose::service, [&](ldap::Connection& c) { return groups_of(c, *entry, username); });
    if (!found) co_return found.error();
    groups = std::move(found).value();
  }
  co_return identity_of(*entry, username, std::move(groups));
}

LdapDirectory::Task<std::vector<LdapDirectory::GroupRef>> LdapDirectory::groups_with_member(
    ldap::Connection& c, const std::string& member_dn, const std::string& username) {
  const std::string filter = ldap::substitute(
      config_.group_filter,
      {{"{dn}", ldap::escape_filter_value(member_dn)}, {"{username}", ldap::escape_filter_value(username)}});
  std::vector<std::string> attrs = {config_.group_name_attribute};  // named: GCC 12 rejects a braced list inside co_await
  auto r = co_await c.search(config_.group_base, ldap::Scope::subtree, filter, std::move(attrs), 0);
  if (!r) co_return r.error();
  std::vector<GroupRef> groups;
  for (auto& g : *r) {
    std::string name = g.first(config_.group_name_attribute);
    if (name.empty()) name = ldap::first_rdn_value(g.dn).value_or(g.dn);
    groups.push_back(GroupRef{std::move(g.dn), std::move(name)});
  }
  co_return groups;
}

LdapDirectory::Task<std::vector<LdapDirectory::GroupRef>> LdapDirectory::parents_of(
    ldap::Connection& c, const std::string& group_dn, const std::string& username) {
  // The parents of a group are the same for every user, so they are cached (unless the
  // filter names the user): a login then costs one group search, or none with memberOf.
  const bool cacheable = config_.group_filter.find("{username}") == std::string::npos &&
                         config_.group_cache_ttl.count() > 0;
  if (!cacheable) co_return co_await groups_with_member(c, group_dn, username);
  const std::string key = dn_key(group_dn);
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(parents_mutex_);
    if (auto it = parents_.find(key); it != parents_.end() && it->second.expires > now)
      co_return it->second.parents;
  }
  auto parents = co_await groups_with_member(c, group_dn, username);
  if (!parents) co_return parents.error();
  std::lock_guard lock(parents_mutex_);
  if (parents_.size() > kMaxCachedGroups) parents_.clear();
  parents_[key] = CachedParents{*parents, now + config_.group_cache_ttl};
  co_return parents;
}

std::string LdapDirectory::canonical_name(const ldap::Entry& entry, std::string_view typed) const {
  std::string name = entry.first(config_.username_attribute);
  return name.empty() ? std::string(typed) : name;
}

LdapDirectory::Task<std::vector<std::string>> LdapDirectory::groups_of(ldap::Connection& c,
                                                                       const ldap::Entry& entry,
                                                                       std::string_view username) {
  const std::string canonical = canonical_name(entry, username);

  // The user's own groups: from the entry's memberOf-style attribute when configured
  // (no round trip), else one search with the user's DN.
  std::vector<GroupRef> frontier;
  if (!config_.member_of_attribute.empty()) {
    if (const auto* dns = entry.values(config_.member_of_attribute))
      for (const auto& dn : *dns) frontier.push_back(GroupRef{dn, ldap::first_rdn_value(dn).value_or(dn)});
  } else if (!config_.group_base.empty()) {
    auto own = co_await groups_with_member(c, entry.dn, canonical);
    if (!own) co_return own.error();
    frontier = std::move(own).value();
  }

  std::set<std::string> names;
  std::set<std::string> seen;  // group DNs (dn_key): cycles end here
  for (const auto& g : frontier) {
    seen.insert(dn_key(g.dn));
    names.insert(g.name);
  }
  // Groups that are members of groups, level by level.
  const bool nested = config_.nested_groups && !config_.group_base.empty();
  for (int depth = 0; nested && !frontier.empty() && depth < kMaxNestingDepth && names.size() < kMaxGroups; ++depth) {
    std::vector<GroupRef> next;
    for (const auto& g : frontier) {
      auto parents = co_await parents_of(c, g.dn, canonical);
      if (!parents) co_return parents.error();
      for (auto& p : *parents) {
        if (!seen.insert(dn_key(p.dn)).second) continue;
        names.insert(p.name);
        next.push_back(std::move(p));
      }
    }
    frontier = std::move(next);
  }
  co_return std::vector<std::string>(names.begin(), names.end());
}

AuthOutcome LdapDirectory::identity_of(const ldap::Entry& entry, std::string_view typed,
                                       std::vector<std::string> groups) const {
  Identity id;
  id.username = canonical_name(entry, typed);
  id.email = entry.first(config_.email_attribute);
  id.display_name = entry.first(config_.display_name_attribute);
  if (id.display_name.empty()) id.display_name = entry.first("cn");
  id.groups = std::move(groups);
  if (!config_.tenant_attribute.empty()) id.tenant = entry.first(config_.tenant_attribute);
  if (id.tenant.empty()) id.tenant = config_.tenant;
  if (id.tenant.empty())
    return outcome(AuthStatus::disabled, "entry \"" + entry.dn + "\" has no " + config_.tenant_attribute +
                                             " attribute and the directory has no default tenant");
  return AuthOutcome{AuthStatus::ok, std::move(id), ""};
}

// --- ActiveDirectory --------------------------------------------------------------

std::optional<std::vector<std::string>> ActiveDirectory::lookup_names(std::string_view username,
                                                                      std::string* detail) const {
  // DOMAIN\user: the NetBIOS domain, if configured, must be this one.
  if (auto slash = username.find('\\'); slash != std::string_view::npos) {
    std::string_view domain = username.substr(0, slash);
    std::string_view user = username.substr(slash + 1);
    if (domain.empty() || user.empty() || user.find('\\') != std::string_view::npos) {
      *detail = "malformed DOMAIN\\user name";
      return std::nullopt;
    }
    if (!settings().domain.empty() && !ldap::iequals(domain, settings().domain)) {
      *detail = "domain \"" + std::string(domain) + "\" is not " + settings().domain;
      return std::nullopt;
    }
    return std::vector<std::string>{std::string(user)};
  }
  // user@suffix: a userPrincipalName; AD also accepts sAMAccountName@dns.domain
  // (the implicit UPN) when no explicit UPN says otherwise.
  if (auto at = username.rfind('@'); at != std::string_view::npos) {
    std::vector<std::string> names = {std::string(username)};
    std::string_view suffix = username.substr(at + 1);
    std::string domain = ldap::dns_domain_of(settings().user_base);
    if (at > 0 && !domain.empty() && ldap::iequals(suffix, domain)) names.emplace_back(username.substr(0, at));
    return names;
  }
  return std::vector<std::string>{std::string(username)};
}

AuthOutcome active_directory_refusal(const ldap::BindRefusal& refusal) {
  std::string detail = "bind refused: " + ldap::result_text(refusal.code);
  if (!refusal.diagnostic.empty()) detail += " (" + refusal.diagnostic + ")";
  if (refusal.code != 49) return outcome(AuthStatus::bad_credentials, detail);
  auto sub = ldap::ad_bind_subcode(refusal.diagnostic);
  if (!sub) return outcome(AuthStatus::bad_credentials, detail);
  switch (*sub) {
    case 0x525:
      return outcome(AuthStatus::bad_credentials, "no such user (AD 525)");
    case 0x52e:
      return outcome(AuthStatus::bad_credentials, "wrong password (AD 52e)");
    case 0x530:
      return outcome(AuthStatus::disabled, "not permitted to log on at this time (AD 530)");
    case 0x531:
      return outcome(AuthStatus::disabled, "not permitted to log on from this workstation (AD 531)");
    case 0x532:
      return outcome(AuthStatus::password_expired, "password expired (AD 532)");
    case 0x533:
      return outcome(AuthStatus::disabled, "account disabled (AD 533)");
    case 0x701:
      return outcome(AuthStatus::expired, "account expired (AD 701)");
    case 0x773:
      return outcome(AuthStatus::must_change_password, "password must be changed (AD 773)");
    case 0x775:
      return outcome(AuthStatus::locked, "account locked by Active Directory (AD 775)");
    default:
      return outcome(AuthStatus::bad_credentials, detail);
  }
}

AuthOutcome ActiveDirectory::refused(const ldap::BindRefusal& refusal) const {
  return active_directory_refusal(refusal);
}

std::optional<AuthOutcome> active_directory_account_state(const ldap::Entry& entry) {
  const std::string uac_text = entry.first("userAccountControl");
  if (uac_text.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  unsigned long uac = std::strtoul(uac_text.c_str(), &end, 10);
  if (errno != 0 || end == uac_text.c_str() || *end != '\0') return std::nullopt;
  if (uac & kUacAccountDisable) return outcome(AuthStatus::disabled, "account disabled (userAccountControl)");
  if (uac & kUacLockout) return outcome(AuthStatus::locked, "account locked (userAccountControl)");
  return std::nullopt;
}

std::optional<AuthOutcome> ActiveDirectory::account_state(const ldap::Entry& entry) const {
  return active_directory_account_state(entry);
}

std::vector<std::string> ActiveDirectory::entry_attributes() const {
  auto attrs = LdapDirectory::entry_attributes();
  attrs.push_back("userAccountControl");
  return attrs;
}

}  // namespace gatehouse::directory
