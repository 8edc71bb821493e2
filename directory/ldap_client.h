#pragma once
// A small synchronous LDAP client over libldap for the directory kinds: connections
// with timeouts and TLS, and a pool that keeps them open, fails over between servers
// in order and backs off from a server that failed.
//
// Error codes: kUnavailable for transport trouble (server down, timeout, garbage on
// the wire): the connection is thrown away and the next server is tried. Anything
// else (no such base, insufficient access, the service account refused) is kError:
// the server answered, so trying another one would not help.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/secret.h"
#include "config/config.h"

// libldap's own spellings, so that <ldap.h> stays out of this header.
typedef struct ldap LDAP;            // NOLINT
typedef struct ldapmsg LDAPMessage;  // NOLINT

namespace gatehouse::directory::ldap {

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
  // Connects (TCP, then TLS for ldaps:// or StartTLS) within connect_timeout.
  static Result<std::unique_ptr<Connection>> open(const config::LdapUri& uri,
                                                  const ConnectionSettings& settings,
                                                  const TlsContext* tls);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // A refused bind (wrong password, no such entry, account refused) is a value;
  // transport trouble and answers that mean the setup is wrong (TLS required,
  // unwilling to perform) are errors. An empty password is refused here too: it would
  // be an anonymous bind.
  Result<std::optional<BindRefusal>> bind(const std::string& dn, const Secret& password);

  // At most `limit` entries (0: the server's limit); `truncated` tells whether there
  // were more.
  Result<std::vector<Entry>> search(const std::string& base, Scope scope, const std::string& filter,
                                    const std::vector<std::string>& attributes, int limit,
                                    bool* truncated = nullptr);

  // A cheap round trip (root DSE) to prove the server answers.
  Status ping();

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
  // Waits up to the operation timeout for the result of `msgid`; a timeout abandons
  // the operation. Errors only for transport trouble or an unparseable answer.
  Status await(int msgid, std::string_view what, Reply& reply);
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

class Pool {
 public:
  Pool(std::string directory, std::vector<config::LdapUri> uris, ConnectionSettings settings,
       std::shared_ptr<TlsContext> tls, std::optional<Credentials> service, unsigned max_per_server,
       std::chrono::seconds retry_after);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Runs `op` on a connection to the first server that is not backing off. On
  // transport trouble the connection is discarded and `op` runs again: once more on a
  // fresh connection to the same server if the failed one came from the pool (it may
  // simply have gone stale), then on the next server. `op` must be safe to repeat.
  Status run(Purpose purpose, const std::function<Status(Connection&)>& op);

  // run() for an operation that produces a value.
  template <class T>
  Result<T> fetch(Purpose purpose, const std::function<Result<T>(Connection&)>& op) {
    std::optional<T> out;
    auto st = run(purpose, [&](Connection& c) -> Status {
      auto r = op(c);
      if (!r) return r.error();
      out = std::move(r).value();
      return Ok{};
    });
    if (!st) return st.error();
    return std::move(*out);
  }

  // Readiness: one round trip to the preferred server, or why none can be reached.
  Status check();

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
  };
  struct Lease {
    std::unique_ptr<Connection> connection;
    std::size_t server = 0;
    bool reused = false;
  };

  Result<Lease> acquire(Purpose purpose);
  void release(Lease lease, Purpose purpose);
  void discard(const Lease& lease, Purpose purpose, bool drop_idle);
  void mark_down(std::size_t server, const std::string& why);
  Result<std::unique_ptr<Connection>> connect(std::size_t server, Purpose purpose);

  const std::string directory_;
  const ConnectionSettings settings_;
  const std::shared_ptr<TlsContext> tls_;
  const std::optional<Credentials> service_;
  const unsigned max_per_server_;
  const std::chrono::seconds retry_after_;
  std::mutex mutex_;
  std::condition_variable released_;
  std::vector<Server> servers_;
};

}  // namespace gatehouse::directory::ldap
