#pragma once
// Request hygiene: the one normal form of a path that routing and the upstream both see.
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::daemon {

struct Target {
  std::string path;   // normalised
  std::string query;  // without '?', unchanged; empty if none
};

// Splits an origin-form ("/a?b") or absolute-form ("http://h/a?b") request target and
// normalises the path: percent-encoded unreserved characters decoded, other escapes
// kept (hex upper-cased), repeated '/' merged, dot segments removed (RFC 3986 5.2.4).
// nullopt (answer 400) for an encoded '/' or '\', a raw '\', control characters, an
// encoded NUL or control character, a malformed escape, or a target that is not a path.
std::optional<Target> normalise_target(std::string_view target);
std::optional<std::string> normalise_path(std::string_view path);

// "Example.ORG:8080" -> "example.org"; "[::1]:80" -> "::1".
std::string normalise_host(std::string_view host_header);

}  // namespace gatehouse::daemon
