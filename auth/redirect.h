#pragma once
#include <string>
#include <string_view>

namespace gatehouse::auth {

// `rd` (already percent-decoded once from the query string) is honoured only as a
// same-origin absolute path: "/x?y". Everything else — "//host", "/\host", encoded
// slashes or backslashes ("%2f%2f", "%5c"), schemes ("https:", "javascript:"),
// control characters, empty or oversized values — falls back to "/". The path of an
// accepted value is returned in the normal form of request paths (common/path_normal.h:
// "/a/../b" -> "/b", "/..//evil" -> "/evil"); one that has none falls back to "/".
std::string safe_redirect(std::string_view rd);
bool is_safe_redirect(std::string_view rd);

}  // namespace gatehouse::auth
