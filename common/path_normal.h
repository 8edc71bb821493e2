#pragma once
// The one normal form of a URL path. Routing compares request paths in this form, and
// the configuration holds route prefixes to it, so both sides of a comparison agree;
// it lives below config and daemon so that both can use it.
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse {

// Normalises an absolute path ("/…", no query): percent-encoded unreserved characters
// decoded, other escapes kept (hex upper-cased), repeated '/' merged, dot segments
// removed (RFC 3986 5.2.4). nullopt for a path that does not start with '/', an encoded
// '/' or '\', a raw '\' or '#', a space, control or non-ASCII byte, an encoded NUL or
// control character, or a malformed escape. The result is a fixed point: normalising
// it again changes nothing.
std::optional<std::string> normalise_path(std::string_view path);

}  // namespace gatehouse
