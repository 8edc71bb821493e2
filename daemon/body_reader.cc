#include "daemon/body_reader.h"

#include <algorithm>

namespace gatehouse::daemon {
namespace {

constexpr std::size_t kReadSize = 16 * 1024;

// The parser waits for more input with `pending` unparsed: it is at a framing line (a
// chunk size, the CRLF after chunk data, a trailer field). A LF before the first CRLF
// means that line ended in a bare LF, which no CRLF will follow.
bool bare_lf_pending(const beast::flat_buffer& buffer) {
  const auto data = buffer.data();
  const char* p = static_cast<const char*>(data.data());
  const std::string_view pending(p, data.size());
  const auto lf = pending.find('\n');
  return lf != std::string_view::npos && (lf == 0 || pending[lf - 1] != '\r');
}

}  // namespace

asio::awaitable<void> read_body_some(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                     http::request_parser<http::buffer_body>& parser, error_code& ec) {
  ec = {};
  for (;;) {
    if (buffer.size() > 0) {
      const auto used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec != http::error::need_more) co_return;  // progress, need_buffer, or a parse error
      ec = {};
      if (bare_lf_pending(buffer)) {
        ec = http::error::bad_chunk;
        co_return;
      }
      if (used > 0) continue;  // parsed an element; what is left may parse further
    }
    const std::size_t n =
        co_await stream.async_read_some(buffer.prepare(kReadSize), awaitable_ec(ec));
    buffer.commit(n);
    if (ec == asio::error::eof) parser.put_eof(ec);  // partial_message: the client left mid-body
    if (ec) co_return;
  }
}

std::optional<http::status> body_error_status(const error_code& ec) {
  if (ec == http::error::body_limit) return http::status::payload_too_large;
  if (ec == http::error::partial_message || ec == http::error::end_of_stream || ec == asio::error::eof ||
      ec == asio::error::connection_reset || ec == beast::error::timeout || ec == asio::error::operation_aborted)
    return std::nullopt;
  // Everything else the parser says is a malformed body: a bad chunk size, extension or
  // line ending, an overflowing size (RFC 9112 7.1).
  if (ec.category() == http::make_error_code(http::error::bad_chunk).category()) return http::status::bad_request;
  return std::nullopt;
}

}  // namespace gatehouse::daemon
