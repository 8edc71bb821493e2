#pragma once
// Pure rules for the identity headers; daemon/identity.cc applies them to a request.
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::auth {

// True for any header a client could use to impersonate: names that start with
// "X-Gatehouse-", compared case-insensitively with '_' read as '-'.
bool is_identity_header(std::string_view name);

// True for headers that claim where a request came from, which only gatehouse may
// tell the application: every X-Forwarded-*, Forwarded, X-Real-IP, True-Client-IP,
// Client-IP, X-Client-IP, X-Cluster-Client-IP, X-Original-URL, X-Rewrite-URL,
// X-Original-Host, X-Host, X-Originating-IP, X-Remote-IP, X-Remote-Addr,
// CF-Connecting-IP, Fastly-Client-IP; compared case-insensitively with '_' read as '-'.
bool is_forwarding_header(std::string_view name);

// Removes every cookie named `cookie_name` from a Cookie header value and returns what
// remains (possibly empty), however the header is written: names compared without
// regard to case or surrounding blanks and quotes, and pairs separated by ';' or by ','
// (RFC 2965's separator, which some application frameworks still split on). Other
// cookies keep their order and spelling.
std::string strip_cookie(std::string_view cookie_header, std::string_view cookie_name);
// The same for several names at once, in one pass.
std::string strip_cookies(std::string_view cookie_header, const std::vector<std::string>& cookie_names);

// Finds the value of cookie `name` in a Cookie header; empty if absent. When the name
// occurs more than once the first wins (as browsers send the most specific first).
std::string_view find_cookie(std::string_view cookie_header, std::string_view name);

// Every value of cookie `name` in a Cookie header, in order (exact name, ';'-separated,
// as browsers send them).
void find_cookie_values(std::string_view cookie_header, std::string_view name, std::vector<std::string>& out);

// True when a Set-Cookie value sets (or deletes) a cookie whose name is one of `names`,
// compared without regard to case, with or without a __Host- or __Secure- prefix; a
// name ending in '*' stands for every name that starts with the rest.
bool sets_cookie_of(std::string_view set_cookie, const std::vector<std::string>& names);

}  // namespace gatehouse::auth
