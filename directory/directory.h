#pragma once
// The Directory interface: is this password right for this user? A wrong password is
// an outcome, not an error; only infrastructure trouble (server down, timeout,
// protocol garbage) is an Error, so an outage never looks like a bad password.
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/secret.h"

namespace gatehouse::directory {

enum class AuthStatus { ok, bad_credentials, disabled, expired, must_change_password, locked };
std::string_view to_string(AuthStatus s);

struct Identity {
  std::string username;
  std::string email;
  std::string display_name;
  std::vector<std::string> groups;
  std::string tenant;  // real party
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
};

}  // namespace gatehouse::directory
