#pragma once
// Who the client is, and what gatehouse tells the application about the way the request
// came: X-Forwarded-For/-Proto/-Host and Host. A client's own X-Forwarded-* is believed
// only when the TCP peer is a trusted proxy.
#include <optional>
#include <string>
#include <string_view>

#include "common/net.h"
#include "config/config.h"
#include "daemon/asio.h"
#include "daemon/identity.h"

namespace gatehouse::daemon {

// The client address logs show when a trusted proxy's X-Forwarded-For could not be read.
inline constexpr std::string_view kUnknownClient = "unknown";

// One X-Forwarded-For element in the forms proxies send: "192.0.2.1", "192.0.2.1:5555",
// "2001:db8::1", "[2001:db8::1]", "[2001:db8::1]:443". nullopt for anything else
// ("unknown", "127.1", an obfuscated identifier, an empty element).
std::optional<IpAddress> parse_forwarded_address(std::string_view element);

// `host_header`: the Host the request is routed by, as checked by check_request_head
// (empty when the client sent none). When the peer is a trusted proxy, the client is the
// rightmost X-Forwarded-For address that is not a trusted proxy; an element that cannot
// be read there makes the client unknown (client_address "unknown"), never the proxy.
ForwardInfo forward_info(const http::fields& f, const std::string& peer, const std::optional<IpAddress>& peer_ip,
                         const config::ServerConfig& server, bool tls, std::string_view host_header);

}  // namespace gatehouse::daemon
