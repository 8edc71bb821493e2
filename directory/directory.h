#pragma once
// The Directory interface: is this password right for this user? A wrong password is
// an outcome, not an error; only infrastructure trouble (server down, timeout,
// protocol garbage) is an Error, so an outage never looks like a bad password.
#include <string>
#include <string_view>
#include <utility>  // before Asio: awaitable.hpp uses std::exchange without it
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "common/result.h"
#include "common/secret.h"

namespace gatehouse::directory {

// Outcomes other than ok and bad_credentials mean the password was right (or the
// directory would not say more), so the directory that gave them decides the login.
enum class AuthStatus {
  ok,
  bad_credentials,
  disabled,              // account disabled, or not permitted to log on now / from here
  expired,               // the account has expired
  password_expired,      // the password was right but has expired
  must_change_password,  // the password was right but must be changed first
  locked,                // locked by the directory itself
};
std::string_view to_string(AuthStatus s);

struct Identity {
  std::string username;
  std::string email;
  std::string display_name;
  std::vector<std::string> groups;
  std::string tenant;  // real party
  // The source vouches for the e-mail address (a directory's attribute; an OpenID
  // provider's email_verified claim). Delegations reach only verified addresses.
  bool email_verified = true;
};

struct AuthOutcome {
  AuthStatus status = AuthStatus::bad_credentials;
  Identity identity;   // filled when status == ok
  std::string detail;  // exact reason for the audit log (never shown to the user, no secrets)
};

class Directory {
 public:
  virtual ~Directory() = default;
  virtual const std::string& name() const = 0;
  virtual Result<AuthOutcome> authenticate(std::string_view username, const Secret& password) = 0;

  // True when authenticate_async() runs on the calling coroutine's executor without
  // blocking it (its I/O waits in the event loop), so callers may await it on their
  // I/O threads instead of hopping to a blocking pool.
  virtual bool asynchronous() const { return false; }
  // authenticate() as a coroutine, with the same results. `password` must stay alive
  // until the co_await finishes. The default runs authenticate() inline, blocking the
  // executor: callers use it only when asynchronous() is true.
  virtual boost::asio::awaitable<Result<AuthOutcome>> authenticate_async(std::string username,
                                                                         const Secret& password);
  // Readiness: can the directory answer right now? Cheap; called by /.gatehouse/readyz.
  virtual Status check() { return Ok{}; }
  // At shutdown, after the event loops stopped and before they are destroyed: finish
  // or drop background work that would complete into them.
  virtual void shutdown() {}
};

}  // namespace gatehouse::directory
