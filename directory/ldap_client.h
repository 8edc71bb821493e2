#pragma once
// A small LDAP client over libldap for the directory kinds: connections with timeouts
// and TLS, and a pool that keeps them open, fails over between servers in order and
// backs off from a server that failed.
//
// Operations are coroutines that never block their thread: a request is sent with
// libldap's asynchronous calls and the answer awaited in the caller's event loop
// (libldap's socket waits in Asio's reactor, with the operation timeout on a timer).
// Only opening a connection (TCP connect, TLS handshake, StartTLS, the service
// account's bind) blocks; the pool does that on a small thread pool of its own and
// resumes the caller on its executor. run_sync() gives the synchronous API on top.
//
// Error codes: kUnavailable for transport trouble (server down, timeout, garbage on
// the wire): the connection is thrown away and the next server is tried. Anything
// else (no such base, insufficient access, the service account refused) is kError:
// the server answered, so trying another one would not help.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>  // before Asio: awaitable.hpp uses std::exchange without it
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "common/result.h"
#include "common/secret.h"
#include "config/config.h"

// libldap's own spellings, so that <ldap.h> stays out of this header.
typedef struct ldap LDAP;            // NOLINT
typedef struct ldapmsg LDAPMessage;  // NOLINT

namespace gatehouse::directory::ldap {

namespace asio = boost::asio;

inline constexpr std::string_view kUnavailable = "ldap.unavailable";
inline constexpr std::string_view kError = "ldap.error";

// libldap's name for a result code ("Invalid credentials").
std::string result_text(int code);

struct Entry {
  std::string dn;
  std::vector<std::pair<std::string, std::vector<std::string>>> attributes;
  // Attribute names compare case-insensitively; nullptr when absent.
  const std::vector<std::string>* values(std::string_view attribute) const;
  std::string first(std::string_view attribute) const;  // "" when absent
};

// What the server said when it refused a bind.
struct BindRefusal {
  int code = 0;  // LDAP result code, e.g. 49 invalidCredentials
  std::string diagnostic;
};

struct ConnectionSettings {
  std::chrono::seconds connect_timeout{3};
  std::chrono::seconds timeout{5};
  bool start_tls = false;
  bool tls_verify = true;
  std::string ca_file;
};

// The TLS context (trust anchors, verification mode), made once and shared by every
// connection, so a new connection costs a handshake but never re-reads the CA file.
class TlsContext {
 public:
  static Result<std::shared_ptr<TlsContext>> create(const ConnectionSettings& settings);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  void* get() const { return ctx_; }

 private:
  TlsContext() = default;
  void* ctx_ = nullptr;
};

enum class Scope { base, subtree };

class Connection {
 public:
  // Connects (TCP, then TLS for ldaps:// or StartTLS) within connect_timeout, and for
  // plain and ldaps:// proves with a root DSE read that the server talks LDAP. Blocks:
  // never call it on an event loop's thread.
  static Result<std::unique_ptr<Connection>> open(const config::LdapUri& uri,
                                                  const ConnectionSettings& settings,
                                                  const TlsContext* tls);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // The operations below run on the calling coroutine's executor and never block it;
  // each takes at most the operation timeout. One at a time per connection.

  // A refused bind (wrong password, no such entry, account refused) is a value;
  // transport trouble and answers that mean the setup is wrong (TLS required,
  // unwilling to perform) are errors. An empty password is refused here too: it would
  // be an anonymous bind. `password` must stay alive until the co_await finishes.
  asio::awaitable<Result<std::optional<BindRefusal>>> bind(std::string dn, const Secret& password);

  // At most `limit` entries (0: the server's limit); `truncated` (if given, alive until
  // the co_await finishes) tells whether there were more.
  asio::awaitable<Result<std::vector<Entry>>> search(std::string base, Scope scope, std::string filter,
                                                     std::vector<std::string> attributes, int limit,
                                                     bool* truncated = nullptr);

  // A cheap round trip (root DSE) to prove the server answers.
  asio::awaitable<Status> ping();

 private:
  // The outcome of one operation: the server's result code and message, and the
  // message chain (entries), freed with the Reply.
  struct Reply {
    Reply() = default;
    ~Reply();
    Reply(const Reply&) = delete;
    Reply& operator=(const Reply&) = delete;
    LDAPMessage* chain = nullptr;
    int code = 0;
    std::string diagnostic;
  };

  Connection(LDAP* ld, const config::LdapUri& uri, std::chrono::seconds timeout);
  Error failure(std::string_view what, int code) const;
  int descriptor() const;  // libldap's socket, -1 when it has none
  // Whether libldap (its read buffer, or TLS records already decrypted) holds data it
  // has read from the socket but not yet parsed: the socket may never become readable
  // for it again.
  bool buffered() const;
  // Waits up to the operation timeout for the result of `msgid`; a timeout abandons
  // the operation. Errors only for transport trouble or an unparseable answer.
  asio::awaitable<Status> receive(int msgid, std::string_view what, Reply& reply);
  LDAP* ld_;
  std::string uri_;
  std::chrono::seconds timeout_;
};

enum class Purpose {
  service,  // bound as the service account (or anonymous without one): searches
  user,     // for binding as users; whoever bound last
};

struct Credentials {
  std::string dn;
  Secret password;
};

class Wakeup;  // ldap_client.cc

class Pool {
 public:
  Pool(std::string directory, std::vector<config::LdapUri> uris, ConnectionSettings settings,
       std::shared_ptr<TlsContext> tls, std::optional<Credentials> service, unsigned max_per_server,
       std::chrono::seconds retry_after);
  // Waits for connections being opened; no operation may still be running.
  ~Pool();
  // Waits for connections being opened, so that none completes into an event loop that
  // is about to be destroyed. For the daemon's shutdown, after its event loops stopped.
  void shutdown() { opener_.join(); }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // An operation on a leased connection; it must be safe to repeat (see run()).
  using Operation = std::function<asio::awaitable<Status>(Connection&)>;

  // Runs `op` on a connection to the first server that is not backing off. On
  // transport trouble the connection is discarded and `op` runs again: once more on a
  // fresh connection to the same server if the failed one came from the pool (it may
  // simply have gone stale), then on the next server. Waiting for a free connection
  // (at most max_per_server per server and purpose) takes up to the operation timeout
  // and does not block the caller's thread; new connections are opened on the pool's
  // own threads.
  asio::awaitable<Status> run(Purpose purpose, Operation op);

  // run() for an operation that produces a value.
  template <class T>
  asio::awaitable<Result<T>> fetch(Purpose purpose, std::function<asio::awaitable<Result<T>>(Connection&)> op) {
    std::optional<T> out;
    auto st = co_await run(purpose, [&](Connection& c) -> asio::awaitable<Status> {
      auto r = co_await op(c);
      if (!r) co_return r.error();
      out = std::move(r).value();
      co_return Ok{};
    });
    if (!st) co_return st.error();
    co_return std::move(*out);
  }

  // Readiness: one round trip to the preferred server, or why none can be reached.
  asio::awaitable<Status> check();

 private:
  struct Idle {
    std::unique_ptr<Connection> connection;
    std::chrono::steady_clock::time_point since;
  };
  struct Server {
    config::LdapUri uri;
    std::chrono::steady_clock::time_point down_until{};
    std::string last_error;
    std::vector<Idle> idle[2];
    unsigned open[2] = {0, 0};
    // Callers waiting for a connection of each purpose to come free, oldest first.
    std::vector<std::shared_ptr<Wakeup>> waiting[2];
  };
  struct Lease {
    std::unique_ptr<Connection> connection;
    std::size_t server = 0;
    bool reused = false;
  };
  // What acquire() does next, decided under the lock.
  struct Step;

  asio::awaitable<Result<Lease>> acquire(Purpose purpose);
  Step next_step(Purpose purpose, const std::vector<bool>& tried, const std::string& errors);
  void release(Lease lease, Purpose purpose);
  void discard(const Lease& lease, Purpose purpose, bool drop_idle);
  void mark_down(std::size_t server, const std::string& why);
  // Under the lock: wake the oldest waiter of `server` and `purpose` (index), or all.
  void wake_one(Server& server, std::size_t purpose);
  void wake_all(Server& server);
  // Opens (and for the service purpose binds) a connection: connect() on opener_,
  // resuming the caller on its own executor.
  asio::awaitable<Result<std::unique_ptr<Connection>>> open_connection(std::size_t server, Purpose purpose);
  Result<std::unique_ptr<Connection>> connect(std::size_t server, Purpose purpose);  // blocking

  const std::string directory_;
  const ConnectionSettings settings_;
  const std::shared_ptr<TlsContext> tls_;
  const std::optional<Credentials> service_;
  const unsigned max_per_server_;
  const std::chrono::seconds retry_after_;
  std::mutex mutex_;
  std::vector<Server> servers_;
  asio::thread_pool opener_;  // last: joined first, while the rest is still there
};

// Runs `op` to completion on this thread (on a private event loop) and returns its
// result: the synchronous API (CLI, readiness, tests) over the asynchronous one.
// Blocks the thread; never call it from a coroutine.
void run_to_completion(asio::awaitable<void> op);

template <class T>
T run_sync(asio::awaitable<T> op) {
  std::optional<T> out;
  run_to_completion([](asio::awaitable<T> op, std::optional<T>& out) -> asio::awaitable<void> {
    out.emplace(co_await std::move(op));
  }(std::move(op), out));
  return std::move(*out);
}

}  // namespace gatehouse::directory::ldap
