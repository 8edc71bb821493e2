#include "directory/directory.h"

namespace gatehouse::directory {

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
