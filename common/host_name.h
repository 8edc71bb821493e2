#pragma once
// The one rule for a host name, shared by the Host header (daemon/request_hygiene) and
// the routes' `host` (config): a name the configuration accepts is one a request can carry.
#include <string_view>

namespace gatehouse {

// A DNS name: letters, digits, '-' and '.'; labels of 1 to 63 characters that neither
// start nor end with '-'; at most 253 characters; no trailing '.' (callers strip the one
// a Host header may carry). An IPv4 address in dotted form is one too.
bool is_dns_name(std::string_view name);

}  // namespace gatehouse
