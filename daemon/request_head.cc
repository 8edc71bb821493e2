#include "daemon/request_head.h"

#include <vector>

#include "common/text.h"

namespace gatehouse::daemon {
namespace {

HeadRefusal bad(std::string reason) { return HeadRefusal{http::status::bad_request, std::move(reason)}; }

// The codings of every Transfer-Encoding field, in order (fields joined by ',').
std::vector<std::string_view> transfer_codings(const http::request_header<>& head) {
  std::vector<std::string_view> out;
  for (auto it = head.find(http::field::transfer_encoding);
       it != head.end() && it->name() == http::field::transfer_encoding; ++it) {
    std::string_view v = it->value();
    for (;;) {
      const auto comma = v.find(',');
      out.push_back(trim_blanks(v.substr(0, comma)));
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return out;
}

}  // namespace

std::variant<RequestHead, HeadRefusal> check_request_head(const http::request_header<>& head) {
  const bool has_te = head.find(http::field::transfer_encoding) != head.end();
  if (has_te) {
    // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 request is faulty framing.
    if (head.version() < 11) return bad("Transfer-Encoding in an HTTP/1.0 request");
    // Both framings at once is the classic request-smuggling shape (RFC 9112 6.3).
    if (head.find(http::field::content_length) != head.end())
      return bad("both Content-Length and Transfer-Encoding");
    const auto codings = transfer_codings(head);
    // Anything else than a final "chunked" leaves the body's end unknown: the rest of
    // the connection could be read as another request (RFC 9112 6.3).
    if (codings.empty() || !beast::iequals(codings.back(), "chunked"))
      return bad("Transfer-Encoding whose final coding is not chunked");
    if (codings.size() > 1)
      return HeadRefusal{http::status::not_implemented, "a transfer coding other than chunked"};
  }

  const auto hosts = head.count(http::field::host);
  if (hosts > 1) return bad("several Host headers");
  if (hosts == 0 && head.version() >= 11) return bad("no Host header in HTTP/1.1");

  auto target = normalise_target(head.target());
  if (!target) return bad("request target");

  RequestHead out;
  if (hosts == 1) {
    const std::string_view value = head[http::field::host];
    auto host = parse_host(value);
    if (!host) return bad("malformed Host header");
    out.host = std::move(*host);
    out.host_header = std::string(value);
  }
  // RFC 9112 3.2.2: an absolute-form target's authority replaces Host.
  if (!target->authority.empty()) {
    out.host = *parse_host(target->authority);  // normalise_target checked it
    out.host_header = target->authority;
  }
  out.target = std::move(*target);
  return out;
}

}  // namespace gatehouse::daemon
