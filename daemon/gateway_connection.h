#pragma once
// The state of one client connection, shared by the files that implement Gateway.
#include <memory>
#include <optional>
#include <string>

#include "common/net.h"
#include "daemon/forwarding.h"
#include "daemon/gateway.h"

namespace gatehouse::daemon {

struct Gateway::Connection {
  beast::tcp_stream stream;
  UpstreamPool& upstreams;
  std::unique_ptr<char[]> relay;  // body relay buffer, allocated on first use
  beast::flat_buffer buffer;
  std::string peer;  // textual client address of the TCP peer
  std::optional<IpAddress> peer_ip;
  ForwardInfo forward;
  // Of the request being answered, for gatehouse_http_requests_total.
  std::size_t metrics_route = 0;
  int status = 0;  // of the response sent; 0 while none was
  // The configuration of the request being answered, taken when its header was read.
  std::shared_ptr<const Runtime> rt{};
  // For the access log: the route that answered and the signed-in user, if any.
  const config::RouteConfig* route = nullptr;
  std::string user{};
  // Where the pieces of a page with the banner are put together for one write.
  std::string scratch{};
  // The connection ends after this response whatever the client asked (bad framing).
  bool close_after = false;
};

}  // namespace gatehouse::daemon
