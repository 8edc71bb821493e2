#pragma once
// Request hygiene: the one normal form of a path that routing and the upstream both see.
#include <optional>
#include <string>
#include <string_view>

#include "common/path_normal.h"  // normalise_path, the path part of the rule

namespace gatehouse::daemon {

struct Target {
  std::string path;   // normalised
  std::string query;  // without '?', unchanged; empty if none
  // absolute-form only: the target's own authority, "host[:port]" as sent (empty in
  // origin-form). It is held to parse_host and routes the request (RFC 9112 3.2.2).
  std::string authority;
};

// Splits an origin-form ("/a?b") or absolute-form ("http://h/a?b") request target and
// normalises the path: percent-encoded unreserved characters decoded, other escapes
// kept (hex upper-cased), repeated '/' merged, dot segments removed (RFC 3986 5.2.4).
// nullopt (answer 400) for an encoded '/' or '\', a raw '\', control characters, an
// encoded NUL or control character, a malformed escape, or a target that is not a path.
std::optional<Target> normalise_target(std::string_view target);

// A Host header value (or an absolute-form target's authority): `host[:port]`, where
// host is a DNS name (letters, digits, '-', '.'; labels of 1 to 63, at most 253 in all,
// one trailing '.' allowed), an IPv4 address or a bracketed IPv6 address, and port is
// 1 to 5 digits in 1..65535. Returns the host lower-cased, without port, brackets and
// trailing dot ("Example.ORG:8080" -> "example.org", "[::1]:80" -> "::1"); nullopt
// (answer 400) for anything else: "a:80:80", "a b", "a@b", "[::1", "a:", "a:0",
// "a:65536", "", "a..b", "_x".
std::optional<std::string> parse_host(std::string_view host_header);

// A port as Host and X-Forwarded-For write it: 1 to 5 digits, 1..65535.
bool valid_port(std::string_view digits);

}  // namespace gatehouse::daemon
