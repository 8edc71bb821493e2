#pragma once
// The rules every request head passes before anything else looks at it: its framing
// (RFC 9112 6), its Host (RFC 9112 3.2) and its target. One refusal ends the
// connection: after a framing error nothing that follows on it can be trusted.
#include <optional>
#include <string>
#include <variant>

#include "daemon/asio.h"
#include "daemon/request_hygiene.h"

namespace gatehouse::daemon {

struct RequestHead {
  Target target;
  std::string host;         // what routes: normalised, without port; empty when none was sent
  std::string host_header;  // the Host sent upstream: the client's (valid) one, or the
                            // absolute-form target's authority; empty when none was sent
};

struct HeadRefusal {
  http::status status;  // 400, or 501 for a transfer coding gatehouse does not implement
  std::string reason;   // for the log; never echoes header values
};

// Refused: a target normalise_target refuses; more than one Host; no Host in HTTP/1.1;
// a Host (or absolute-form authority) parse_host refuses; Transfer-Encoding in HTTP/1.0,
// beside Content-Length, or whose codings are anything but one final "chunked".
std::variant<RequestHead, HeadRefusal> check_request_head(const http::request_header<>& head);

}  // namespace gatehouse::daemon
