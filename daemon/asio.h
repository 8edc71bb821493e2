#pragma once
// Boost.Asio's awaitable.hpp uses std::exchange without including <utility>.
#include <optional>
#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "common/run_blocking.h"

namespace gatehouse::daemon {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

inline auto awaitable_ec(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

using gatehouse::run_blocking;

}  // namespace gatehouse::daemon
