#pragma once
// Reads a request body as it arrives, for relaying: like http::async_read_some, but a
// framing line that ends in a bare LF ("5\nhello\n0\n\n") is a malformed body
// (http::error::bad_chunk) at once instead of a wait for a CRLF that never comes.
#include <optional>

#include "daemon/asio.h"

namespace gatehouse::daemon {

// Returns when the parser made progress (body bytes in its buffer, the end of the
// message, or a framing element parsed), or with an error: the stream's (its timeout
// included: the caller sets it, and it runs from the last bytes that arrived), the
// parser's, or bad_chunk for a bare LF.
asio::awaitable<void> read_body_some(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                     http::request_parser<http::buffer_body>& parser, error_code& ec);

// A request body that could not be read: the status to answer (413 for a size limit, 400
// for a malformed body), or nullopt when the client is gone (nothing can be answered then).
std::optional<http::status> body_error_status(const error_code& ec);

}  // namespace gatehouse::daemon
