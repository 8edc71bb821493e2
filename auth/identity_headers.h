#pragma once
// Pure rules for the identity headers; daemon/identity.cc applies them to a request.
#include <string>
#include <string_view>

namespace gatehouse::auth {

// True for any header a client could use to impersonate: names that start with
// "X-Gatehouse-", compared case-insensitively with '_' read as '-'.
bool is_identity_header(std::string_view name);

// Removes every cookie named `cookie_name` from a Cookie header value and returns what
// remains (possibly empty). Other cookies keep their order and spelling.
std::string strip_cookie(std::string_view cookie_header, std::string_view cookie_name);

// Finds the value of cookie `name` in a Cookie header; empty if absent. When the name
// occurs more than once the first wins (as browsers send the most specific first).
std::string_view find_cookie(std::string_view cookie_header, std::string_view name);

}  // namespace gatehouse::auth
