#include "auth/login.h"

namespace gatehouse::auth {

std::string normalise_username(std::string_view raw) {
  while (!raw.empty() && (raw.front() == ' ' || raw.front() == '\t')) raw.remove_prefix(1);
  while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t')) raw.remove_suffix(1);
  if (raw.empty() || raw.size() > 256) return {};
  for (unsigned char c : raw)
    if (c < 0x20 || c == 0x7f) return {};
  return std::string(raw);
}

LoginService::LoginService(std::vector<std::shared_ptr<directory::Directory>> directories,
                           SessionManager& sessions)
    : directories_(std::move(directories)), sessions_(sessions) {}

Result<LoginResult> LoginService::login(std::string_view raw_username, const Secret& password) {
  LoginResult result;
  const std::string username = normalise_username(raw_username);
  if (username.empty()) {
    result.detail = "unusable user name";
    return result;
  }
  if (password.empty()) {
    // An empty password would be an unauthenticated bind in LDAP; refuse it everywhere.
    result.detail = "empty password";
    return result;
  }
  bool infrastructure_failed = false;
  std::string infrastructure_detail;
  for (const auto& dir : directories_) {
    auto outcome = dir->authenticate(username, password);
    if (!outcome) {
      infrastructure_failed = true;
      infrastructure_detail = dir->name() + ": " + outcome.error().message;
      continue;
    }
    if (outcome->status == directory::AuthStatus::bad_credentials) {
      result.directory = dir->name();
      result.detail = outcome->detail;
      continue;
    }
    // The password was right for this directory: it decides, whatever the outcome.
    result.directory = dir->name();
    result.outcome = outcome->status;
    result.detail = outcome->detail;
    if (outcome->status != directory::AuthStatus::ok) {
      result.status = LoginStatus::failed;
      return result;
    }
    auto session = sessions_.create(outcome->identity, dir->name());
    if (!session) return session.error();
    result.status = LoginStatus::success;
    result.session = std::move(session.value());
    return result;
  }
  if (infrastructure_failed) {
    result.status = LoginStatus::unavailable;
    result.detail = infrastructure_detail;
  }
  return result;
}

}  // namespace gatehouse::auth
