#include "daemon/cli_common.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "config/config.h"

namespace gatehouse::daemon::cli {

int store_error(const Error& e) {
  std::cerr << "gatehouse: " << e.message << "\n";
  if (e.code == "store.no_tenant" || e.code == "store.not_found") return kUsage;
  return kFailure;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

// Values typed into the login form end up in the lockout and audit tables; never let
// one of them drive the administrator's terminal.
std::string printable(std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  return out;
}

std::string time_or(std::int64_t t, const char* none) {
  return t == 0 ? std::string(none) : config::format_rfc3339(t);
}

std::string admin_name() {
  std::string name;
  if (const passwd* pw = ::getpwuid(::geteuid()); pw && pw->pw_name)
    name = pw->pw_name;
  else
    name = "uid " + std::to_string(::geteuid());
  if (const char* sudo = std::getenv("SUDO_USER"); sudo && *sudo)
    name = std::string(sudo) + " via sudo";
  return name;
}

int audited(auth::Audit& audit, const auth::AuditEvent& event) {
  if (auto s = audit.record(event); !s) {
    std::cerr << "gatehouse: done, but the audit record could not be written: " << s.error().message
              << "\n";
    return kFailure;
  }
  return kOk;
}

auth::AuditEvent admin_event(auth::AuditEventType type, std::string user, std::string detail) {
  auth::AuditEvent e;
  e.type = type;
  e.user = std::move(user);
  e.source = "cli";
  e.detail = std::move(detail);
  return e;
}

}  // namespace gatehouse::daemon::cli
