#include "directory/ldap_client.h"

#include <fcntl.h>
#include <ldap.h>
#include <poll.h>
#include <sys/time.h>

#include <algorithm>
#include <exception>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/log.h"
#include "directory/ldap_text.h"

// Releases a reference to a TLS context. Exported by libldap (ldap_pvt.h is not
// installed); libldap hands out a counted reference from LDAP_OPT_X_TLS_CTX.
extern "C" void ldap_pvt_tls_ctx_free(void* ctx);

namespace gatehouse::directory::ldap {

using boost::system::error_code;

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

std::size_t index(Purpose purpose) { return static_cast<std::size_t>(purpose); }

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

// --- Waiting without blocking -----------------------------------------------------

enum class Wake { ready, timeout, failed };

// Resumes one suspended coroutine once, from whichever source gets there first: the
// socket turning readable, a timer, another thread releasing a connection. Sources may
// fire on any thread, before or after the coroutine starts waiting; the first delivery
// wins and later ones are no-ops. The coroutine resumes on its own executor, posted,
// never inside deliver() (which may run under the pool's lock). Sources hold the Wakeup
// by shared_ptr and touch nothing else, so a timer or socket wait that completes on
// another thread after the coroutine went on and destroyed its timer and descriptor
// is harmless.
class Wakeup {
 public:
  // True if this call delivered `w`.
  bool deliver(Wake w) {
    std::unique_ptr<Resumer> resumer;
    {
      std::lock_guard lock(mutex_);
      if (result_) return false;
      result_ = w;
      resumer = std::move(resumer_);
    }
    if (resumer) resumer->resume(w);
    return true;
  }

  // Completes with the first delivery, at once if there was one already. The caller
  // keeps the Wakeup alive until then.
  asio::awaitable<Wake> wait() {
    return asio::async_initiate<const asio::use_awaitable_t<>&, void(Wake)>(
        [this](auto handler) {
          using Handler = decltype(handler);
          std::unique_lock lock(mutex_);
          if (!result_) {
            resumer_ = std::make_unique<HandlerResumer<Handler>>(std::move(handler));
            return;
          }
          const Wake w = *result_;
          lock.unlock();
          HandlerResumer<Handler>(std::move(handler)).resume(w);
        },
        asio::use_awaitable);
  }

 private:
  struct Resumer {
    virtual ~Resumer() = default;
    virtual void resume(Wake w) = 0;
  };
  template <class Handler>
  struct HandlerResumer final : Resumer {
    explicit HandlerResumer(Handler h) : handler(std::move(h)) {}
    void resume(Wake w) override {
      auto ex = asio::get_associated_executor(handler);
      asio::post(ex, [h = std::move(handler), w]() mutable { std::move(h)(w); });
    }
    Handler handler;
  };

  std::mutex mutex_;
  std::optional<Wake> result_;
  std::unique_ptr<Resumer> resumer_;
};

namespace {

// Waits on the caller's executor until `wakeup` is delivered or `deadline` passes.
asio::awaitable<Wake> wait_until(std::shared_ptr<Wakeup> wakeup, Clock::time_point deadline) {
  asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
  timer.async_wait([wakeup](const error_code& ec) {
    if (!ec) wakeup->deliver(Wake::timeout);
  });
  co_return co_await wakeup->wait();
  // The timer's destructor cancels it if it is still pending.
}

// Waits on the caller's executor until libldap's socket `fd` is readable (or has an
// error or hang-up for libldap to find), or until `deadline`.
//
// The race this closes: Asio's epoll reactor registers descriptors edge-triggered,
// and a descriptor's async_wait does not look at the socket when it starts (it is not
// speculative): it learns of readiness only from an epoll event that arrives while the
// wait is queued. An answer that arrives after the caller's last ldap_result() but
// before the wait is queued (including one already there when the descriptor is
// registered) raises its edge too early; waiting for it would hang until the timeout.
// So the wait is queued first and the socket polled once afterwards, without blocking:
// data that came before the wait was queued shows in the poll, data that comes later
// raises an edge the queued wait sees. Either way `ready` is delivered (a wait still
// queued is cancelled when the descriptor is released) and the caller asks libldap
// again, which is always safe: ldap_result() with a zero timeout returns 0 when there
// is nothing to read.
//
// The descriptor borrows libldap's socket for the wait only: it is released (removed
// from epoll, the wait cancelled), never closed, also when the coroutine is destroyed
// while suspended. Handlers that complete on other threads meanwhile only touch the
// shared Wakeup.
asio::awaitable<Wake> wait_readable(int fd, Clock::time_point deadline) {
  auto ex = co_await asio::this_coro::executor;
  asio::posix::stream_descriptor socket(ex);
  error_code ec;
  socket.assign(fd, ec);  // registers it with the reactor
  if (ec) co_return Wake::failed;
  struct Borrowed {
    asio::posix::stream_descriptor& socket;
    ~Borrowed() {
      if (socket.is_open()) socket.release();
    }
  } borrowed{socket};

  auto wakeup = std::make_shared<Wakeup>();
  asio::steady_timer timer(ex, deadline);
  socket.async_wait(asio::posix::stream_descriptor::wait_read, [wakeup](const error_code& e) {
    // Aborted: released after another source won. Anything else, errors included: ask libldap.
    if (e != asio::error::operation_aborted) wakeup->deliver(Wake::ready);
  });
  timer.async_wait([wakeup](const error_code& e) {
    if (!e) wakeup->deliver(Wake::timeout);
  });
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) != 0) wakeup->deliver(Wake::ready);  // readable, hung up or poll failed
  co_return co_await wakeup->wait();
}

}  // namespace

void run_to_completion(asio::awaitable<void> op) {
  // One event loop per thread, reused (creating one costs several system calls); a
  // fresh one if this thread is already inside it.
  thread_local asio::io_context reused(1);
  std::optional<asio::io_context> own;
  asio::io_context& io = reused.get_executor().running_in_this_thread() ? own.emplace(1) : reused;
  io.restart();
  std::exception_ptr failed;
  asio::co_spawn(io, std::move(op), [&failed](std::exception_ptr e) { failed = std::move(e); });
  io.run();
  if (failed) std::rethrow_exception(failed);
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

// The socket is non-blocking: the unbind request is sent if there is room, and the
// TLS close_notify likewise; closing never waits for the server.
Connection::~Connection() { ldap_unbind_ext_s(ld_, nullptr, nullptr); }

Error Connection::failure(std::string_view what, int code) const {
  char* message = nullptr;
  ldap_get_option(ld_, LDAP_OPT_DIAGNOSTIC_MESSAGE, &message);
  std::string detail = take_string(message);
  std::string text = uri_ + ": " + std::string(what) + ": " + ldap_err2string(code);
  if (!detail.empty()) text += " (" + detail + ")";
  return make_error(std::string(is_transport(code) ? kUnavailable : kError), text);
}

int Connection::descriptor() const {
  int fd = -1;
  if (ldap_get_option(ld_, LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS) return -1;
  return fd;
}

bool Connection::buffered() const {
  Sockbuf* sb = nullptr;
  if (ldap_get_option(ld_, LDAP_OPT_SOCKBUF, &sb) != LDAP_OPT_SUCCESS || sb == nullptr) return false;
  return ber_sockbuf_ctrl(sb, LBER_SB_OPT_DATA_READY, nullptr) > 0;
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

  // Connect now (and do the ldaps:// handshake or StartTLS), blocking, rather than
  // inside the first operation.
  if (settings.start_tls) {
    int rc = ldap_start_tls_s(ld, nullptr, nullptr);
    if (rc != LDAP_SUCCESS) {
      Error e = c->failure("StartTLS", rc);
      // A refused certificate or a server without StartTLS is not going to get better
      // on the next try, but the next server may be configured differently: fail over.
      e.code = std::string(kUnavailable);
      return e;
    }
  } else if (int rc = ldap_connect(ld); rc != LDAP_SUCCESS) {
    int code = LDAP_SUCCESS;
    ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &code);
    return c->failure("connect", code != LDAP_SUCCESS ? code : rc);
  }

  // From here on every read and write is non-blocking (libldap keeps a partly read
  // message for the next call), so operations can wait in an event loop instead.
  const int fd = c->descriptor();
  const int flags = fd >= 0 ? ::fcntl(fd, F_GETFL) : -1;
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return c->failure("connect", LDAP_LOCAL_ERROR);

  // A root DSE read proves the server talks LDAP (StartTLS has proved it already).
  if (!settings.start_tls) {
    if (auto st = run_sync(c->ping()); !st) return st.error();
  }
  return c;
}

Connection::Reply::~Reply() {
  if (chain != nullptr) ldap_msgfree(chain);
}

asio::awaitable<Status> Connection::receive(int msgid, std::string_view what, Reply& reply) {
  const auto deadline = Clock::now() + timeout_;
  bool timed_out = false;
  bool polled = false;
  for (;;) {
    // A zero timeout: parse what has arrived, never wait.
    timeval now_only{0, 0};
    const int type = ldap_result(ld_, msgid, LDAP_MSG_ALL, &now_only, &reply.chain);
    if (type > 0) break;
    if (type < 0) {
      int code = LDAP_SERVER_DOWN;
      ldap_get_option(ld_, LDAP_OPT_RESULT_CODE, &code);
      co_return failure(what, code);
    }
    // 0: the answer is not complete yet.
    if (Clock::now() >= deadline) {
      timed_out = true;
      break;
    }
    // libldap reads at most one message per call: what it has buffered already (or
    // TLS has decrypted) would never make the socket readable again.
    if (buffered()) continue;
    const int fd = descriptor();
    if (fd < 0) co_return failure(what, LDAP_SERVER_DOWN);
    // On loopback or a fast LAN the rest of the answer has often arrived meanwhile (a
    // search's result right behind its entries): one poll then saves registering the
    // socket with the event loop. Once per wait, so a socket that stays readable
    // without libldap finding a message (an error it has not seen yet) still waits.
    if (!polled) {
      polled = true;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 0) > 0) continue;
    }
    polled = false;
    const Wake wake = co_await wait_readable(fd, deadline);
    if (wake == Wake::failed) co_return failure(what, LDAP_LOCAL_ERROR);
    if (wake == Wake::timeout) {
      timed_out = true;
      break;
    }
  }
  if (timed_out) {
    ldap_abandon_ext(ld_, msgid, nullptr, nullptr);
    co_return failure(what, LDAP_TIMEOUT);
  }
  char* diagnostic = nullptr;
  reply.code = LDAP_OTHER;
  int rc = ldap_parse_result(ld_, reply.chain, &reply.code, nullptr, &diagnostic, nullptr, nullptr, 0);
  reply.diagnostic = take_string(diagnostic);
  if (rc != LDAP_SUCCESS) co_return failure(what, rc);
  if (is_transport(reply.code)) co_return failure(what, reply.code);
  co_return Ok{};
}

asio::awaitable<Result<std::optional<BindRefusal>>> Connection::bind(std::string dn, const Secret& password) {
  if (password.empty())
    co_return std::optional<BindRefusal>(BindRefusal{LDAP_INVALID_CREDENTIALS, "empty password"});
  // Without a socket libldap would reconnect, blocking, inside the call.
  if (descriptor() < 0) co_return failure("bind", LDAP_SERVER_DOWN);
  berval cred;
  cred.bv_val = const_cast<char*>(password.reveal().data());
  cred.bv_len = password.size();
  int msgid = 0;
  int rc = ldap_sasl_bind(ld_, dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, &msgid);
  if (rc != LDAP_SUCCESS) co_return failure("bind", rc);
  Reply reply;
  auto st = co_await receive(msgid, "bind", reply);
  if (!st) co_return st.error();
  switch (reply.code) {
    case LDAP_SUCCESS:
      co_return std::optional<BindRefusal>();
    // Answers about the credentials or the account: the login fails.
    case LDAP_INVALID_CREDENTIALS:
    case LDAP_INAPPROPRIATE_AUTH:
    case LDAP_INVALID_DN_SYNTAX:
    case LDAP_NO_SUCH_OBJECT:
    case LDAP_INSUFFICIENT_ACCESS:
    case LDAP_CONSTRAINT_VIOLATION:  // e.g. a password policy's lockout
      co_return std::optional<BindRefusal>(BindRefusal{reply.code, std::move(reply.diagnostic)});
    default:
      break;
  }
  // "Use TLS", "unwilling to perform", protocol errors: the setup is wrong, and the
  // user must not be told their password is.
  std::string text = uri_ + ": bind: " + ldap_err2string(reply.code);
  if (!reply.diagnostic.empty()) text += " (" + reply.diagnostic + ")";
  co_return make_error(std::string(kError), text);
}

asio::awaitable<Result<std::vector<Entry>>> Connection::search(std::string base, Scope scope, std::string filter,
                                                               std::vector<std::string> attributes, int limit,
                                                               bool* truncated) {
  if (descriptor() < 0) co_return failure("search", LDAP_SERVER_DOWN);
  std::vector<char*> attrs;
  for (const auto& a : attributes) attrs.push_back(const_cast<char*>(a.c_str()));
  attrs.push_back(nullptr);
  timeval tv = to_timeval(timeout_);  // the server-side time limit
  int msgid = 0;
  int rc = ldap_search_ext(ld_, base.c_str(), scope == Scope::base ? LDAP_SCOPE_BASE : LDAP_SCOPE_SUBTREE,
                           filter.c_str(), attrs.data(), 0, nullptr, nullptr, &tv, limit, &msgid);
  if (rc != LDAP_SUCCESS) co_return failure("search", rc);
  Reply reply;
  auto st = co_await receive(msgid, "search", reply);
  if (!st) co_return st.error();
  const int code = reply.code;
  const std::string& diag = reply.diagnostic;
  if (truncated != nullptr) *truncated = code == LDAP_SIZELIMIT_EXCEEDED;
  if (code != LDAP_SUCCESS && code != LDAP_SIZELIMIT_EXCEEDED) {
    if (code == LDAP_NO_SUCH_OBJECT && scope == Scope::base) co_return std::vector<Entry>{};
    std::string text = uri_ + ": search under \"" + base + "\": " + ldap_err2string(code);
    if (!diag.empty()) text += " (" + diag + ")";
    co_return make_error(std::string(is_transport(code) ? kUnavailable : kError), text);
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
  co_return entries;
}

asio::awaitable<Status> Connection::ping() {
  std::vector<std::string> no_attributes = {"1.1"};  // named: GCC 12 rejects a braced list inside co_await
  auto r = co_await search("", Scope::base, "(objectClass=*)", std::move(no_attributes), 1);
  if (!r) co_return r.error();
  co_return Ok{};
}

// --- Pool -------------------------------------------------------------------------

// What acquire() does next.
struct Pool::Step {
  enum Kind { fail, leased, open, wait } kind = fail;
  std::optional<Error> error;        // fail
  std::optional<Lease> lease;        // leased
  std::size_t server = 0;            // open, wait
  std::shared_ptr<Wakeup> wakeup;    // wait: registered in servers_[server].waiting
};

Pool::Pool(std::string directory, std::vector<config::LdapUri> uris, ConnectionSettings settings,
           std::shared_ptr<TlsContext> tls, std::optional<Credentials> service, unsigned max_per_server,
           std::chrono::seconds retry_after)
    : directory_(std::move(directory)),
      settings_(std::move(settings)),
      tls_(std::move(tls)),
      service_(std::move(service)),
      max_per_server_(std::max(1u, max_per_server)),
      retry_after_(retry_after),
      // Enough threads to open every connection of a server at once (both purposes),
      // as the blocking pool used to: a hung server then costs one timeout, not a queue.
      opener_(std::clamp(2 * std::max(1u, max_per_server), 2u, 16u)) {
  for (auto& uri : uris) servers_.push_back(Server{std::move(uri), {}, {}, {}, {0, 0}, {}});
}

Pool::~Pool() { opener_.join(); }

Result<std::unique_ptr<Connection>> Pool::connect(std::size_t server, Purpose purpose) {
  const config::LdapUri& uri = servers_[server].uri;  // servers_ never changes size
  auto c = Connection::open(uri, settings_, uri.tls || settings_.start_tls ? tls_.get() : nullptr);
  if (!c) return c.error();
  if (purpose == Purpose::service && service_) {
    auto bound = run_sync((*c)->bind(service_->dn, service_->password));
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

asio::awaitable<Result<std::unique_ptr<Connection>>> Pool::open_connection(std::size_t server, Purpose purpose) {
  // Blocking: on opener_, resuming on the caller's executor afterwards.
  std::optional<Result<std::unique_ptr<Connection>>> out;
  co_await asio::co_spawn(
      opener_,
      [&]() -> asio::awaitable<void> {
        out.emplace(connect(server, purpose));
        co_return;
      },
      asio::use_awaitable);
  co_return std::move(*out);
}

Pool::Step Pool::next_step(Purpose purpose, const std::vector<bool>& tried, const std::string& errors) {
  const auto p = index(purpose);
  std::vector<Idle> expired;  // closed once the lock is released
  std::lock_guard lock(mutex_);
  const auto now = Clock::now();
  Step step;
  std::size_t chosen = servers_.size();
  for (std::size_t i = 0; i < servers_.size(); ++i) {
    if (!tried[i] && servers_[i].down_until <= now) {
      chosen = i;
      break;
    }
  }
  if (chosen == servers_.size()) {
    if (!errors.empty()) {
      step.error = make_error(std::string(kUnavailable), errors);
      return step;
    }
    // Every server is backing off after a failure: say why, without waiting.
    std::string why;
    for (const auto& s : servers_) {
      auto left = std::chrono::duration_cast<std::chrono::seconds>(s.down_until - now).count() + 1;
      why += (why.empty() ? "" : "; ") + s.last_error + " (retrying in " + std::to_string(left) + "s)";
    }
    step.error = make_error(std::string(kUnavailable), "no server of directory \"" + directory_ + "\" is reachable: " + why);
    return step;
  }
  Server& server = servers_[chosen];
  step.server = chosen;
  auto& idle = server.idle[p];
  while (!idle.empty()) {
    Idle item = std::move(idle.back());
    idle.pop_back();
    if (now - item.since <= kMaxIdle) {
      step.kind = Step::leased;
      step.lease = Lease{std::move(item.connection), chosen, true};
      return step;
    }
    --server.open[p];
    expired.push_back(std::move(item));
  }
  if (server.open[p] >= max_per_server_) {
    step.kind = Step::wait;
    step.wakeup = std::make_shared<Wakeup>();
    server.waiting[p].push_back(step.wakeup);
    return step;
  }
  ++server.open[p];
  step.kind = Step::open;
  return step;
}

asio::awaitable<Result<Pool::Lease>> Pool::acquire(Purpose purpose) {
  const auto p = index(purpose);
  const auto deadline = Clock::now() + settings_.timeout;
  std::string errors;
  std::vector<bool> tried(servers_.size(), false);
  for (;;) {
    Step step = next_step(purpose, tried, errors);
    if (step.kind == Step::fail) co_return std::move(*step.error);
    if (step.kind == Step::leased) co_return std::move(*step.lease);

    if (step.kind == Step::wait) {
      // All connections of this server and purpose are in use: wait for one to be
      // released or discarded (or the server to be marked down), then look again.
      const Wake wake = co_await wait_until(step.wakeup, deadline);
      if (wake == Wake::ready) continue;  // whoever woke us took us off the queue
      {
        std::lock_guard lock(mutex_);
        auto& q = servers_[step.server].waiting[p];
        q.erase(std::remove(q.begin(), q.end(), step.wakeup), q.end());
      }
      co_return make_error(std::string(kUnavailable),
                           "directory \"" + directory_ + "\": all " + std::to_string(max_per_server_) +
                               " connections busy for " + std::to_string(settings_.timeout.count()) + "s");
    }

    auto c = co_await open_connection(step.server, purpose);
    if (c) co_return Lease{std::move(c).value(), step.server, false};
    {
      std::lock_guard lock(mutex_);
      --servers_[step.server].open[p];
      wake_one(servers_[step.server], p);
    }
    if (c.error().code != kUnavailable) co_return c.error();
    tried[step.server] = true;
    errors += (errors.empty() ? "" : "; ") + c.error().message;
    mark_down(step.server, c.error().message);
  }
}

void Pool::wake_one(Server& server, std::size_t purpose) {
  auto& q = server.waiting[purpose];
  while (!q.empty()) {
    auto wakeup = std::move(q.front());
    q.erase(q.begin());
    if (wakeup->deliver(Wake::ready)) return;  // else it has timed out meanwhile: the next one
  }
}

void Pool::wake_all(Server& server) {
  for (auto& q : server.waiting) {
    for (auto& wakeup : q) wakeup->deliver(Wake::ready);
    q.clear();
  }
}

void Pool::release(Lease lease, Purpose purpose) {
  const auto p = index(purpose);
  std::lock_guard lock(mutex_);
  Server& server = servers_[lease.server];
  server.idle[p].push_back(Idle{std::move(lease.connection), Clock::now()});
  wake_one(server, p);
}

void Pool::discard(const Lease& lease, Purpose purpose, bool drop_idle) {
  const auto p = index(purpose);
  std::vector<Idle> closing;  // closed once the lock is released
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
  wake_all(server);
}

void Pool::mark_down(std::size_t index, const std::string& why) {
  bool first;
  {
    std::lock_guard lock(mutex_);
    Server& server = servers_[index];
    first = server.down_until <= Clock::now();
    server.down_until = Clock::now() + retry_after_;
    server.last_error = why;
    wake_all(server);  // waiting for it is pointless now: let them fail over
  }
  if (first)
    log::warning("directory.server_down", {{"directory", directory_}, {"server", servers_[index].uri.text},
                                           {"error", why}, {"retry_after", std::to_string(retry_after_.count()) + "s"}});
}

asio::awaitable<Status> Pool::run(Purpose purpose, Operation op) {
  bool retried_stale = false;
  std::string failures;
  for (std::size_t attempt = 0; attempt <= servers_.size() + 1; ++attempt) {
    auto lease = co_await acquire(purpose);
    if (!lease) {
      if (failures.empty()) co_return lease.error();
      co_return make_error(std::string(kUnavailable), failures + "; " + lease.error().message);
    }
    Status st = co_await op(*lease->connection);
    if (st || st.error().code != kUnavailable) {
      const bool recovered = !lease->reused && attempt > 0;
      const std::size_t server = lease->server;
      release(std::move(lease.value()), purpose);
      if (recovered)
        log::info("directory.failover", {{"directory", directory_}, {"server", servers_[server].uri.text}});
      co_return st;
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
  co_return make_error(std::string(kUnavailable), failures);
}

asio::awaitable<Status> Pool::check() {
  co_return co_await run(Purpose::service, [](Connection& c) { return c.ping(); });
}

}  // namespace gatehouse::directory::ldap
