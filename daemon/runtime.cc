#include "daemon/runtime.h"

#include "common/log.h"
#include "common/secret_file.h"
#include "directory/ldap_directory.h"
#include "directory/local_directory.h"
#include "oidc/http_client.h"

namespace gatehouse::daemon {

namespace {

// "FILE:LINE: message" for a table of the configuration file.
Error table_error(const config::Config& config, int line, std::string code, const std::string& message) {
  return make_error(std::move(code), config.file + ":" + std::to_string(line) + ": " + message);
}

}  // namespace

Runtime::Runtime(std::shared_ptr<const config::Config> cfg, const Foundation& base)
    : config(std::move(cfg)),
      db(base.db),
      usage(base.usage),
      notifications(base.notifications),
      vault(base.vault),
      router(config),
      metrics(base.metrics, *config),
      secure_cookies(config->server.public_url.scheme == "https" || !config->server.tls_cert_file.empty()) {
  // Over https, the __Host- prefix: the browser then accepts the cookie only with Secure,
  // Path=/ and no Domain, so a sibling subdomain cannot toss one in (RFC 6265bis 4.1.3.2).
  const std::string& name = config->session.cookie_name;
  const bool prefixed = name.starts_with("__Host-") || name.starts_with("__Secure-");
  session_cookie = secure_cookies && !prefixed ? "__Host-" + name : name;
  csrf_cookie = session_cookie + "_csrf";
  own_cookies = {session_cookie, csrf_cookie};
  for (const auto& route : config->routes) {
    if (!route.inject_secret) continue;
    std::string name = route.inject_secret->header;
    for (char& c : name)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (std::find(injected_headers.begin(), injected_headers.end(), name) == injected_headers.end())
      injected_headers.push_back(std::move(name));
  }
  if (session_cookie != name) own_cookies.insert(own_cookies.end(), {name, name + "_csrf"});
  own_cookies.push_back(std::string(auth::kOidcFlowCookiePrefix) + "*");
}

Runtime::~Runtime() {
  // Connections being opened must not complete into a pool that is going away.
  for (const auto& d : directories) d->shutdown();
}

Result<std::shared_ptr<Runtime>> Runtime::build(std::shared_ptr<const config::Config> config,
                                                const Foundation& base, const Runtime* previous) {
  std::shared_ptr<Runtime> rt(new Runtime(config, base));
  for (const auto& d : config->directories) {
    switch (d.kind) {
      case config::DirectoryKind::local:
        rt->directories.push_back(std::make_shared<directory::LocalDirectory>(d.name, *base.db));
        break;
      case config::DirectoryKind::ldap:
      case config::DirectoryKind::active_directory: {
        auto made = directory::LdapDirectory::create(d);
        if (!made)
          return table_error(*config, d.line, made.error().code,
                             "directory \"" + d.name + "\": " + made.error().message);
        rt->directories.push_back(std::move(made).value());
        break;
      }
    }
  }

  // OpenID providers: discovery and keys are fetched when first needed (or kept from
  // the previous configuration), so a provider that is down does not keep gatehouse
  // from starting or reloading.
  for (const auto& o : config->oidc) {
    auto secret = read_secret_file(o.client_secret_file);
    if (!secret)
      return table_error(*config, o.line, "oidc.config",
                         "provider \"" + o.name + "\": client_secret_file " + secret.error().message);
    const std::string redirect_uri = config->server.public_url.origin() + "/.gatehouse/oidc/" + o.name + "/callback";
    auto provider = std::make_shared<oidc::Provider>(
        o, redirect_uri, std::move(secret).value(),
        std::make_shared<oidc::CurlHttpClient>(oidc::CurlOptions{o.ca_file}), base.clock);
    if (previous != nullptr)
      for (const auto& old : previous->providers)
        if (old->name() == o.name) provider->adopt_cache(*old);
    rt->providers.push_back(std::move(provider));
  }

  rt->audit = std::make_unique<auth::Audit>(config->audit, *base.db, base.clock);
  rt->sessions = std::make_unique<auth::SessionManager>(
      *base.db, base.clock, auth::SessionCodec(base.keys.session_cookie),
      config->session);
  rt->sessions->on_expired([audit = rt->audit.get()](const store::SessionRecord& r, std::string_view why) {
    (void)audit->record(auth::AuditEvent{auth::AuditEventType::session_expired, r.user, std::nullopt, r.source, "",
                                         std::string(why)});
  });
  rt->tenancy = std::make_unique<tenancy::Tenancy>(config, *base.db, *base.db, *base.db, base.clock, *rt->audit);
  if (auto st = rt->tenancy->sync_configured_tenants(); !st)
    return make_error("store.io", "cannot record the [[tenant]] tables in the store: " + st.error().message);
  rt->principals = std::make_unique<tenancy::PrincipalResolver>(*rt->tenancy, *base.db, base.clock);
  rt->sessions->on_signed_in([t = rt->tenancy.get()](const store::SessionRecord& r, const directory::Identity& id) {
    if (auto st = t->record_sign_in({r.source, r.user}, id); !st)
      log::warning("tenancy.sign_in_not_recorded", {{"user", r.user}, {"error", st.error().message}});
  });
  rt->lockout = previous != nullptr ? std::make_unique<auth::Lockout>(config->lockout, *previous->lockout)
                                    : std::make_unique<auth::Lockout>(config->lockout, *base.db, base.clock);
  const auto& flow_key = base.keys.oidc_flow;
  const auto& token_key = base.keys.oidc_tokens;
  rt->oidc = previous != nullptr
                 ? std::make_unique<auth::OidcLogin>(rt->providers, *rt->sessions, *rt->audit, flow_key, token_key,
                                                     base.clock, *previous->oidc)
                 : std::make_unique<auth::OidcLogin>(rt->providers, *rt->sessions, *rt->audit, flow_key, token_key,
                                                     base.clock);
  rt->login = std::make_unique<auth::LoginService>(rt->directories, *rt->sessions, *rt->lockout, *rt->audit,
                                                   base.writer);
  rt->assertions = std::make_unique<auth::AssertionIssuer>(base.signer, base.clock, config->server.public_url.origin(),
                                                           config->session.assertion_ttl.count());
  return rt;
}

std::vector<NotReady> Runtime::readiness() const {
  std::vector<NotReady> failing;
  if (auto st = db->check_writable(); !st) failing.push_back({"store", st.error().message});
  for (const auto& d : directories)
    if (auto st = d->check(); !st) failing.push_back({"directory:" + d->name(), st.error().message});
  for (const auto& p : providers)
    if (auto st = p->check(); !st) failing.push_back({"provider:" + p->name(), st.error().message});
  return failing;
}

std::vector<std::string> restart_only_changes(const config::Config& running, const config::Config& next) {
  std::vector<std::string> out;
  auto changed = [&](const std::string& key, const std::string& was, const std::string& now) {
    if (was != now)
      out.push_back(next.file + ": " + key + " changed from \"" + was + "\" to \"" + now +
                    "\": a reload cannot apply this; restart gatehouse");
  };
  auto listen = [](const config::ListenAddress& a) {
    return (a.host.find(':') != std::string::npos ? "[" + a.host + "]" : a.host) + ":" + std::to_string(a.port);
  };
  changed("[server] listen", listen(running.server.listen), listen(next.server.listen));
  changed("[server] threads", std::to_string(running.server.threads), std::to_string(next.server.threads));
  changed("[store] backend", running.store.backend, next.store.backend);
  changed("[store] path", running.store.path, next.store.path);
  return out;
}

}  // namespace gatehouse::daemon
