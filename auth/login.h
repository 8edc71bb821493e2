#pragma once
// The password login flow: the lockout policy first, then the directories in
// configured order, then a new session; every outcome goes to the audit trail.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>  // before Asio
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "auth/audit.h"
#include "auth/lockout.h"
#include "auth/session_manager.h"
#include "common/net.h"
#include "directory/directory.h"
#include "store/group_commit.h"

namespace gatehouse::auth {

enum class LoginStatus {
  success,
  failed,       // shown as the one generic message (a locked account too)
  unavailable,  // every directory that could answer is down: 503, never "wrong password"
  throttled,    // the client address failed too often: 429 with Retry-After
};

struct LoginResult {
  LoginStatus status = LoginStatus::failed;
  directory::AuthStatus outcome = directory::AuthStatus::bad_credentials;
  directory::Identity identity;  // on success: as the directory gave it
  NewSession session;     // on success
  std::string directory;  // which directory decided
  std::string detail;     // exact reason for the logs; never a secret
  std::int64_t retry_after = 0;  // throttled: seconds
  bool account_locked = false;   // failed: refused because the account is locked
  bool locked_now = false;       // failed: this attempt locked the account
};

class LoginService {
 public:
  LoginService(std::vector<std::shared_ptr<directory::Directory>> directories, SessionManager& sessions,
               Lockout& lockout, AuditSink& audit, store::GroupCommit& writer);

  // One login attempt from `client`. Directories that are asynchronous() are awaited on
  // the calling coroutine's executor; the others (password hashing) run on `blocking`.
  // The lockout check and everything a finished attempt writes (lockout, session, audit)
  // run on `writer`, so concurrent logins share write transactions and the event loop
  // never waits for the store.
  // Only a store failure while judging the attempt or creating the session is an Error.
  boost::asio::awaitable<Result<LoginResult>> login(std::string username, const Secret& password,
                                                    IpAddress client, boost::asio::thread_pool& blocking);

 private:
  // The directories in order; the first that does not say bad_credentials decides.
  boost::asio::awaitable<LoginResult> ask_directories(const std::string& username, const Secret& password,
                                                      boost::asio::thread_pool& blocking);
  void audit(AuditEventType type, const std::string& user, const IpAddress& client, const std::string& source,
             const std::string& detail);

  std::vector<std::shared_ptr<directory::Directory>> directories_;
  SessionManager& sessions_;
  Lockout& lockout_;
  AuditSink& audit_;
  store::GroupCommit& writer_;
};

// Trims surrounding whitespace; empty when the name is unusable (empty, too long,
// control characters).
std::string normalise_username(std::string_view raw);

}  // namespace gatehouse::auth
