#include "directory/ldap_client.h"

#include <ldap.h>
#include <sys/time.h>

#include <algorithm>

#include "common/log.h"
#include "directory/ldap_text.h"

// Releases a reference to a TLS context. Exported by libldap (ldap_pvt.h is not
// installed); libldap hands out a counted reference from LDAP_OPT_X_TLS_CTX.
extern "C" void ldap_pvt_tls_ctx_free(void* ctx);

namespace gatehouse::directory::ldap {

namespace {

using Clock = std::chrono::steady_clock;

// Idle connections older than this are closed instead of reused: servers and
// firewalls drop idle connections, and a fresh one is cheaper than a failed request.
constexpr std::chrono::seconds kMaxIdle{60};

timeval to_timeval(std::chrono::seconds s) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(s.count());
  return tv;
}

// Result codes that mean the connection or server is unusable, not that the server
// gave an answer.
bool is_transport(int code) {
  switch (code) {
    case LDAP_SERVER_DOWN:
    case LDAP_LOCAL_ERROR:
    case LDAP_ENCODING_ERROR:
    case LDAP_DECODING_ERROR:
    case LDAP_TIMEOUT:
    case LDAP_CONNECT_ERROR:
    case LDAP_BUSY:
    case LDAP_UNAVAILABLE:
    case LDAP_TIMELIMIT_EXCEEDED:
      return true;
    default:
      return false;
  }
}

std::string take_string(char* s) {
  std::string out = s != nullptr ? s : "";
  if (s != nullptr) ldap_memfree(s);
  return out;
}

}  // namespace

std::string result_text(int code) { return ldap_err2string(code); }

const std::vector<std::string>* Entry::values(std::string_view attribute) const {
  for (const auto& [name, values] : attributes)
    if (iequals(name, attribute)) return &values;
  return nullptr;
}

std::string Entry::first(std::string_view attribute) const {
  const auto* v = values(attribute);
  return v != nullptr && !v->empty() ? v->front() : std::string();
}

// --- TLS context ------------------------------------------------------------------

Result<std::shared_ptr<TlsContext>> TlsContext::create(const ConnectionSettings& settings) {
  // The context is built on a handle that never connects, then kept by reference.
  LDAP* ld = nullptr;
  if (ldap_initialize(&ld, "ldap://127.0.0.1") != LDAP_SUCCESS || ld == nullptr)
    return make_error(std::string(kError), "cannot initialise libldap");
  int require = settings.tls_verify ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER;
  int is_server = 0;
  bool ok = ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &require) == LDAP_OPT_SUCCESS;
  if (ok && !settings.ca_file.empty())
    ok = ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, settings.ca_file.c_str()) == LDAP_OPT_SUCCESS;
  if (ok) ok = ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &is_server) == LDAP_OPT_SUCCESS;
  std::shared_ptr<TlsContext> out(new TlsContext());
  if (ok) ok = ldap_get_option(ld, LDAP_OPT_X_TLS_CTX, &out->ctx_) == LDAP_OPT_SUCCESS && out->ctx_;
  std::string detail;
  if (!ok) {
    char* message = nullptr;
    ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &message);
    detail = take_string(message);
  }
  ldap_unbind_ext_s(ld, nullptr, nullptr);
  if (!ok) {
    return make_error(std::string(kError),
                      "cannot set up TLS" +
                          (settings.ca_file.empty() ? std::string() : " with ca_file \"" + settings.ca_file + "\"") +
                          (detail.empty() ? std::string() : ": " + detail));
  }
  return out;
}

TlsContext::~TlsContext() {
  if (ctx_ != nullptr) ldap_pvt_tls_ctx_free(ctx_);
}

// --- Connection -------------------------------------------------------------------

Connection::Connection(LDAP* ld, const config::LdapUri& uri, std::chrono::seconds timeout)
    : ld_(ld), uri_(uri.text), timeout_(timeout) {}

Connection::~Connection() { ldap_unbind_ext_s(ld_, nullptr, nullptr); }

Error Connection::failure(std::string_view what, int code) const {
  char* message = nullptr;
  ldap_get_option(ld_, LDAP_OPT_DIAGNOSTIC_MESSAGE, &message);
  std::string detail = take_string(message);
  std::string text = uri_ + ": " + std::string(what) + ": " + ldap_err2string(code);
  if (!detail.empty()) text += " (" + detail + ")";
  return make_error(std::string(is_transport(code) ? kUnavailable : kError), text);
}

Result<std::unique_ptr<Connection>> Connection::open(const config::LdapUri& uri,
                                                     const ConnectionSettings& settings,
                                                     const TlsContext* tls) {
  LDAP* ld = nullptr;
  if (ldap_initialize(&ld, uri.text.c_str()) != LDAP_SUCCESS || ld == nullptr)
    return make_error(std::string(kError), uri.text + ": libldap cannot use this address");
  std::unique_ptr<Connection> c(new Connection(ld, uri, settings.timeout));
  int version = LDAP_VERSION3;
  timeval network = to_timeval(settings.connect_timeout);
  timeval operation = to_timeval(settings.timeout);
  int require = settings.tls_verify ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER;
  bool ok = ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version) == LDAP_OPT_SUCCESS &&
            ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) == LDAP_OPT_SUCCESS &&
            ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &network) == LDAP_OPT_SUCCESS &&
            ldap_set_option(ld, LDAP_OPT_TIMEOUT, &operation) == LDAP_OPT_SUCCESS &&
            ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &require) == LDAP_OPT_SUCCESS;
  if (ok && tls != nullptr) ok = ldap_set_option(ld, LDAP_OPT_X_TLS_CTX, tls->get()) == LDAP_OPT_SUCCESS;
  if (!ok) return make_error(std::string(kError), uri.text + ": cannot set libldap options");

  // Connect now (and do the ldaps:// handshake) rather than inside the first operation:
  // a root DSE read opens the socket and proves the server talks LDAP.
  if (settings.start_tls) {
    int rc = ldap_start_tls_s(ld, nullptr, nullptr);
    if (rc != LDAP_SUCCESS) {
      Error e = c->failure("StartTLS", rc);
      // A refused certificate or a server without StartTLS is not going to get better
      // on the next try, but the next server may be configured differently: fail over.
      e.code = std::string(kUnavailable);
      return e;
    }
  } else if (auto st = c->ping(); !st) {
    return st.error();
  }
  return c;
}

Connection::Reply::~Reply() {
  if (chain != nullptr) ldap_msgfree(chain);
}

Status Connection::await(int msgid, std::string_view what, Reply& reply) {
  timeval tv = to_timeval(timeout_);
  int type = ldap_result(ld_, msgid, LDAP_MSG_ALL, &tv, &reply.chain);
  if (type == 0) {
    ldap_abandon_ext(ld_, msgid, nullptr, nullptr);
    return failure(what, LDAP_TIMEOUT);
  }
  if (type < 0) {
    int code = LDAP_SERVER_DOWN;
    ldap_get_option(ld_, LDAP_OPT_RESULT_CODE, &code);
    return failure(what, code);
  }
  char* diagnostic = nullptr;
  reply.code = LDAP_OTHER;
  int rc = ldap_parse_result(ld_, reply.chain, &reply.code, nullptr, &diagnostic, nullptr, nullptr, 0);
  reply.diagnostic = take_string(diagnostic);
  if (rc != LDAP_SUCCESS) return failure(what, rc);
  if (is_transport(reply.code)) return failure(what, reply.code);
  return Ok{};
}

Result<std::optional<BindRefusal>> Connection::bind(const std::string& dn, const Secret& password) {
  if (password.empty()) return std::optional<BindRefusal>(BindRefusal{LDAP_INVALID_CREDENTIALS, "empty password"});
  berval cred;
  cred.bv_val = const_cast<char*>(password.reveal().data());
  cred.bv_len = password.size();
  int msgid = 0;
  int rc = ldap_sasl_bind(ld_, dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, &msgid);
  if (rc != LDAP_SUCCESS) return failure("bind", rc);
  Reply reply;
  if (auto st = await(msgid, "bind", reply); !st) return st.error();
  switch (reply.code) {
    case LDAP_SUCCESS:
      return std::optional<BindRefusal>();
    // Answers about the credentials or the account: the login fails.
    case LDAP_INVALID_CREDENTIALS:
    case LDAP_INAPPROPRIATE_AUTH:
    case LDAP_INVALID_DN_SYNTAX:
    case LDAP_NO_SUCH_OBJECT:
    case LDAP_INSUFFICIENT_ACCESS:
    case LDAP_CONSTRAINT_VIOLATION:  // e.g. a password policy's lockout
      return std::optional<BindRefusal>(BindRefusal{reply.code, std::move(reply.diagnostic)});
    default: {
      // "Use TLS", "unwilling to perform", protocol errors: the setup is wrong, and the
      // user must not be told their password is.
      std::string text = uri_ + ": bind: " + ldap_err2string(reply.code);
      if (!reply.diagnostic.empty()) text += " (" + reply.diagnostic + ")";
      return make_error(std::string(kError), text);
    }
  }
}

Result<std::vector<Entry>> Connection::search(const std::string& base, Scope scope,
                                              const std::string& filter,
                                              const std::vector<std::string>& attributes,
                                              int limit, bool* truncated) {
  std::vector<char*> attrs;
  for (const auto& a : attributes) attrs.push_back(const_cast<char*>(a.c_str()));
  attrs.push_back(nullptr);
  timeval tv = to_timeval(timeout_);  // also the server-side time limit
  int msgid = 0;
  int rc = ldap_search_ext(ld_, base.c_str(), scope == Scope::base ? LDAP_SCOPE_BASE : LDAP_SCOPE_SUBTREE,
                           filter.c_str(), attrs.data(), 0, nullptr, nullptr, &tv, limit, &msgid);
  if (rc != LDAP_SUCCESS) return failure("search", rc);
  Reply reply;
  if (auto st = await(msgid, "search", reply); !st) return st.error();
  const int code = reply.code;
  const std::string& diag = reply.diagnostic;
  if (truncated != nullptr) *truncated = code == LDAP_SIZELIMIT_EXCEEDED;
  if (code != LDAP_SUCCESS && code != LDAP_SIZELIMIT_EXCEEDED) {
    if (code == LDAP_NO_SUCH_OBJECT && scope == Scope::base) return std::vector<Entry>{};
    std::string text = uri_ + ": search under \"" + base + "\": " + ldap_err2string(code);
    if (!diag.empty()) text += " (" + diag + ")";
    return make_error(std::string(is_transport(code) ? kUnavailable : kError), text);
  }

  std::vector<Entry> entries;
  for (LDAPMessage* e = ldap_first_entry(ld_, reply.chain); e != nullptr; e = ldap_next_entry(ld_, e)) {
    Entry entry;
    entry.dn = take_string(ldap_get_dn(ld_, e));
    BerElement* ber = nullptr;
    for (char* name = ldap_first_attribute(ld_, e, &ber); name != nullptr;
         name = ldap_next_attribute(ld_, e, ber)) {
      std::vector<std::string> values;
      if (berval** vals = ldap_get_values_len(ld_, e, name)) {
        for (int i = 0; vals[i] != nullptr; ++i) values.emplace_back(vals[i]->bv_val, vals[i]->bv_len);
        ldap_value_free_len(vals);
      }
      entry.attributes.emplace_back(name, std::move(values));
      ldap_memfree(name);
    }
    if (ber != nullptr) ber_free(ber, 0);
    entries.push_back(std::move(entry));
  }
  return entries;
}

Status Connection::ping() {
  auto r = search("", Scope::base, "(objectClass=*)", {"1.1"}, 1);
  if (!r) return r.error();
  return Ok{};
}

// --- Pool -------------------------------------------------------------------------

Pool::Pool(std::string directory, std::vector<config::LdapUri> uris, ConnectionSettings settings,
           std::shared_ptr<TlsContext> tls, std::optional<Credentials> service, unsigned max_per_server,
           std::chrono::seconds retry_after)
    : directory_(std::move(directory)),
      settings_(std::move(settings)),
      tls_(std::move(tls)),
      service_(std::move(service)),
      max_per_server_(std::max(1u, max_per_server)),
      retry_after_(retry_after) {
  for (auto& uri : uris) servers_.push_back(Server{std::move(uri), {}, {}, {}, {0, 0}});
}

Pool::~Pool() = default;

Result<std::unique_ptr<Connection>> Pool::connect(std::size_t server, Purpose purpose) {
  const config::LdapUri& uri = servers_[server].uri;  // servers_ never changes size
  auto c = Connection::open(uri, settings_, uri.tls || settings_.start_tls ? tls_.get() : nullptr);
  if (!c) return c.error();
  if (purpose == Purpose::service && service_) {
    auto bound = (*c)->bind(service_->dn, service_->password);
    if (!bound) return bound.error();
    if (bound->has_value()) {
      const BindRefusal& r = **bound;
      return make_error(std::string(kError),
                        uri.text + ": the service account \"" + service_->dn + "\" was refused: " +
                            ldap_err2string(r.code) + (r.diagnostic.empty() ? "" : " (" + r.diagnostic + ")"));
    }
  }
  return std::move(c).value();
}

Result<Pool::Lease> Pool::acquire(Purpose purpose) {
  const auto p = static_cast<std::size_t>(purpose);
  std::unique_lock lock(mutex_);
  const auto deadline = Clock::now() + settings_.timeout;
  std::string errors;
  std::vector<bool> tried(servers_.size(), false);
  for (;;) {
    const auto now = Clock::now();
    std::size_t chosen = servers_.size();
    for (std::size_t i = 0; i < servers_.size(); ++i) {
      if (!tried[i] && servers_[i].down_until <= now) {
        chosen = i;
        break;
      }
    }
    if (chosen == servers_.size()) {
      if (!errors.empty()) return make_error(std::string(kUnavailable), errors);
      // Every server is backing off after a failure: say why, without waiting.
      std::string why;
      for (const auto& s : servers_) {
        auto left = std::chrono::duration_cast<std::chrono::seconds>(s.down_until - now).count() + 1;
        why += (why.empty() ? "" : "; ") + s.last_error + " (retrying in " + std::to_string(left) + "s)";
      }
      return make_error(std::string(kUnavailable), "no server of directory \"" + directory_ + "\" is reachable: " + why);
    }
    Server& server = servers_[chosen];
    auto& idle = server.idle[p];
    while (!idle.empty()) {
      Idle item = std::move(idle.back());
      idle.pop_back();
      if (now - item.since <= kMaxIdle) return Lease{std::move(item.connection), chosen, true};
      --server.open[p];
      lock.unlock();
      item.connection.reset();  // closing may block briefly on the socket
      lock.lock();
    }
    if (server.open[p] >= max_per_server_) {
      if (released_.wait_until(lock, deadline) == std::cv_status::timeout)
        return make_error(std::string(kUnavailable),
                          "directory \"" + directory_ + "\": all " + std::to_string(max_per_server_) +
                              " connections busy for " + std::to_string(settings_.timeout.count()) + "s");
      continue;
    }
    ++server.open[p];
    lock.unlock();
    auto c = connect(chosen, purpose);
    lock.lock();
    if (c) return Lease{std::move(c).value(), chosen, false};
    --server.open[p];
    released_.notify_one();
    if (c.error().code != kUnavailable) return c.error();
    tried[chosen] = true;
    errors += (errors.empty() ? "" : "; ") + c.error().message;
    lock.unlock();
    mark_down(chosen, c.error().message);
    lock.lock();
  }
}

void Pool::release(Lease lease, Purpose purpose) {
  const auto p = static_cast<std::size_t>(purpose);
  std::lock_guard lock(mutex_);
  servers_[lease.server].idle[p].push_back(Idle{std::move(lease.connection), Clock::now()});
  released_.notify_one();
}

void Pool::discard(const Lease& lease, Purpose purpose, bool drop_idle) {
  const auto p = static_cast<std::size_t>(purpose);
  std::vector<Idle> closing;
  {
    std::lock_guard lock(mutex_);
    Server& server = servers_[lease.server];
    --server.open[p];
    if (drop_idle) {
      // The server probably restarted or went away: its other idle connections are as
      // stale as this one.
      for (auto& idle : server.idle) {
        server.open[&idle - server.idle] -= static_cast<unsigned>(idle.size());
        for (auto& item : idle) closing.push_back(std::move(item));
        idle.clear();
      }
    }
    released_.notify_all();
  }
}

void Pool::mark_down(std::size_t index, const std::string& why) {
  bool first;
  {
    std::lock_guard lock(mutex_);
    Server& server = servers_[index];
    first = server.down_until <= Clock::now();
    server.down_until = Clock::now() + retry_after_;
    server.last_error = why;
  }
  if (first)
    log::warning("directory.server_down", {{"directory", directory_}, {"server", servers_[index].uri.text},
                                           {"error", why}, {"retry_after", std::to_string(retry_after_.count()) + "s"}});
}

Status Pool::run(Purpose purpose, const std::function<Status(Connection&)>& op) {
  bool retried_stale = false;
  std::string failures;
  for (std::size_t attempt = 0; attempt <= servers_.size() + 1; ++attempt) {
    auto lease = acquire(purpose);
    if (!lease) {
      if (failures.empty()) return lease.error();
      return make_error(std::string(kUnavailable), failures + "; " + lease.error().message);
    }
    auto st = op(*lease->connection);
    if (st || st.error().code != kUnavailable) {
      const bool recovered = !lease->reused && attempt > 0;
      const std::size_t server = lease->server;
      release(std::move(lease.value()), purpose);
      if (recovered)
        log::info("directory.failover", {{"directory", directory_}, {"server", servers_[server].uri.text}});
      return st;
    }
    discard(*lease, purpose, lease->reused);
    lease->connection.reset();
    if (lease->reused && !retried_stale) {
      retried_stale = true;  // a pooled connection may just have been closed by the server
      continue;
    }
    failures += (failures.empty() ? "" : "; ") + st.error().message;
    mark_down(lease->server, st.error().message);
  }
  return make_error(std::string(kUnavailable), failures);
}

Status Pool::check() {
  return run(Purpose::service, [](Connection& c) { return c.ping(); });
}

}  // namespace gatehouse::directory::ldap
