#pragma once
// What the admin commands share: exit codes, error reporting, audit records, printing.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "auth/audit.h"
#include "common/result.h"

namespace gatehouse::daemon::cli {

constexpr int kOk = 0;
constexpr int kFailure = 1;
constexpr int kUsage = 2;

// Prints the error; a store error is bad input (2) when it names something the admin typed.
int store_error(const Error& e);
std::string join(const std::vector<std::string>& v, const char* sep);
// Control characters as \xNN: values typed into forms never drive the admin's terminal.
std::string printable(std::string_view s);
std::string time_or(std::int64_t t, const char* none);
// Who ran an admin command, for the audit trail: the sudo user behind root if any.
std::string admin_name();
// Admin actions are audited; the action itself has happened when this fails (exit 1).
int audited(auth::Audit& audit, const auth::AuditEvent& event);
auth::AuditEvent admin_event(auth::AuditEventType type, std::string user, std::string detail);

}  // namespace gatehouse::daemon::cli
