#pragma once
// The one place where the headers sent upstream are decided. Every proxied request,
// public routes included, passes through build_upstream_fields().
#include <string>
#include <string_view>
#include <vector>

#include "daemon/asio.h"
#include "auth/principal.h"

namespace gatehouse::daemon {

struct ForwardInfo {
  std::string client_address;  // the real client, as decided with trusted_proxies
  std::string forwarded_for;   // full X-Forwarded-For value to send
  std::string proto;           // "http" or "https"
  std::string host;            // X-Forwarded-Host
  std::string host_header;     // Host sent upstream (never missing)
};

bool is_hop_by_hop(std::string_view name);

// Copies `client` into `out` without hop-by-hop headers (RFC 9110 7.6.1, including
// those named in Connection), without any client-sent X-Gatehouse-* header or header
// that claims where the request came from (auth::is_forwarding_header: X-Forwarded-*,
// Forwarded, X-Real-IP, …; any case, '_' read as '-'), without Host, Expect and
// Content-Length (framing is set by the caller), with gatehouse's own cookies
// (`own_cookies`, however the Cookie header writes them: auth::strip_cookie) removed;
// and without any header named in `injected` (lower-case names of the headers routes fill
// with a tenant's secret; any case, '_' read as '-');
// then sets Host, X-Forwarded-For/Proto/Host and, when `principal` is not null, every
// identity header (empty where it does not apply) and the assertion.
void build_upstream_fields(const http::fields& client, http::fields& out, const ForwardInfo& fwd,
                           const auth::Principal* principal, std::string_view assertion,
                           const std::vector<std::string>& own_cookies,
                           const std::vector<std::string>& injected = {});

// Header names equal when compared case-insensitively with '_' read as '-' (CGI-style
// servers give both spellings one variable).
bool same_header_name(std::string_view a, std::string_view b);

// Response direction: drops hop-by-hop headers and any Set-Cookie for one of
// `own_cookies` (an application must not set or overwrite gatehouse's cookies).
void build_downstream_fields(const http::fields& upstream, http::fields& out,
                             const std::vector<std::string>& own_cookies);

// Removes control characters so a directory attribute can never split a header.
std::string header_safe(std::string_view value);

}  // namespace gatehouse::daemon
