#pragma once
// What one configuration makes: routes, directories, providers, policies and the
// services built on them. A reload builds a new Runtime beside the one in use and
// swaps it in; a request takes the Runtime current when it starts and keeps it to its
// end, so it never sees half of one configuration and half of another.
#include <memory>
#include <string>
#include <vector>

#include "auth/assertion_issuer.h"
#include "auth/audit.h"
#include "vault/system_keys.h"
#include "vault/vault.h"
#include "auth/lockout.h"
#include "auth/login.h"
#include "auth/oidc_login.h"
#include "auth/session_manager.h"
#include "common/clock.h"
#include "config/config.h"
#include "daemon/metrics.h"
#include "daemon/notifications.h"
#include "daemon/router.h"
#include "directory/directory.h"
#include "oidc/provider.h"
#include "store/group_commit.h"
#include "store/database.h"
#include "tenancy/principal_resolver.h"
#include "tenancy/tenancy.h"
#include "tenancy/usage_counter.h"

namespace gatehouse::daemon {

// A component that is not ready, for /.gatehouse/readyz.
struct NotReady {
  std::string component;  // "store", "directory:corp", "provider:sso"
  std::string message;
};

// What lives as long as the daemon and every Runtime shares: the store, the keys,
// the login writer and the metric series.
struct Foundation {
  std::shared_ptr<store::Database> db;
  const vault::SystemKeys& keys;
  vault::Vault& vault;
  const auth::AssertionSigner& signer;
  const Clock& clock;
  store::GroupCommit& writer;
  MetricsRegistry& metrics;
  tenancy::UsageCounter& usage;
  Notifications& notifications;
};

struct Runtime {
  // Builds everything `config` names. `previous` (a reload): the Runtime this one
  // replaces; what must outlive a configuration carries over from it (lockout attempts
  // in flight, OpenID states already used, provider keys already fetched). Errors: a
  // directory or provider that cannot be set up (an unreadable password or secret
  // file, a bad CA file), as "FILE:LINE: message" when the table's line is known.
  static Result<std::shared_ptr<Runtime>> build(std::shared_ptr<const config::Config> config,
                                                const Foundation& base, const Runtime* previous);
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  ~Runtime();

  // Store writable, directories and providers reachable. Blocks: run it on the
  // blocking pool.
  std::vector<NotReady> readiness() const;

  std::shared_ptr<const config::Config> config;
  std::shared_ptr<store::Database> db;
  std::vector<std::shared_ptr<directory::Directory>> directories;
  std::vector<std::shared_ptr<oidc::Provider>> providers;
  std::unique_ptr<auth::Audit> audit;
  std::unique_ptr<auth::SessionManager> sessions;
  std::unique_ptr<auth::Lockout> lockout;
  std::unique_ptr<auth::OidcLogin> oidc;
  std::unique_ptr<auth::LoginService> login;
  std::unique_ptr<auth::AssertionIssuer> assertions;
  std::unique_ptr<tenancy::Tenancy> tenancy;
  std::unique_ptr<tenancy::PrincipalResolver> principals;
  tenancy::UsageCounter& usage;
  Notifications& notifications;
  vault::Vault& vault;
  // Lower-cased names of every route's inject_secret header: a client's header of one
  // of these names is removed from every request, on every route.
  std::vector<std::string> injected_headers;
  Router router;
  Metrics metrics;
  bool secure_cookies = false;
  // The cookies' names: [session] cookie_name, with "__Host-" in front when cookies are
  // Secure; the CSRF binding's is the session cookie's + "_csrf".
  std::string session_cookie;
  std::string csrf_cookie;
  // Every cookie name gatehouse sets (a trailing '*': a family of names), prefixed or
  // not: an application's Set-Cookie may not set these, and the application never sees them.
  std::vector<std::string> own_cookies;

 private:
  Runtime(std::shared_ptr<const config::Config> config, const Foundation& base);
};

// Settings a reload cannot change (the listener, the worker threads, the store): one message per change, naming the running and the new value.
std::vector<std::string> restart_only_changes(const config::Config& running, const config::Config& next);

}  // namespace gatehouse::daemon
