#pragma once
// The password login flow: directories tried in configured order, then a new session.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/session_manager.h"
#include "directory/directory.h"

namespace gatehouse::auth {

enum class LoginStatus {
  success,
  failed,       // shown as the one generic message
  unavailable,  // every directory that could answer is down: 503, never "wrong password"
};

struct LoginResult {
  LoginStatus status = LoginStatus::failed;
  directory::AuthStatus outcome = directory::AuthStatus::bad_credentials;
  NewSession session;     // on success
  std::string directory;  // which directory decided
  std::string detail;     // exact reason for the logs; never a secret
};

class LoginService {
 public:
  LoginService(std::vector<std::shared_ptr<directory::Directory>> directories,
               SessionManager& sessions);

  // Only a store failure while creating the session is an Error.
  Result<LoginResult> login(std::string_view username, const Secret& password);

 private:
  std::vector<std::shared_ptr<directory::Directory>> directories_;
  SessionManager& sessions_;
};

// Trims surrounding whitespace; empty when the name is unusable (empty, too long,
// control characters).
std::string normalise_username(std::string_view raw);

}  // namespace gatehouse::auth
