#include "directory/directory.h"

namespace gatehouse::directory {

boost::asio::awaitable<Result<AuthOutcome>> Directory::authenticate_async(std::string username,
                                                                       const Secret& password) {
  co_return authenticate(username, password);
}

std::string_view to_string(AuthStatus s) {
  switch (s) {
    case AuthStatus::ok: return "ok";
    case AuthStatus::bad_credentials: return "bad_credentials";
    case AuthStatus::disabled: return "disabled";
    case AuthStatus::expired: return "expired";
    case AuthStatus::password_expired: return "password_expired";
    case AuthStatus::must_change_password: return "must_change_password";
    case AuthStatus::locked: return "locked";
  }
  return "unknown";
}

}  // namespace gatehouse::directory
