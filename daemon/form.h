#pragma once
// application/x-www-form-urlencoded and query strings.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gatehouse::daemon {

using FormFields = std::vector<std::pair<std::string, std::string>>;

// Malformed escapes are kept literally; '+' means space.
FormFields parse_form(std::string_view text);
// First value of `name`, or empty.
std::string_view form_value(const FormFields& fields, std::string_view name);
// Overwrites every value (the form may have held a password).
void wipe_form(FormFields& fields);
// Percent-encodes everything but unreserved characters and '/'.
std::string url_encode(std::string_view text);

}  // namespace gatehouse::daemon
