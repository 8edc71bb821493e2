// The proxy: one request relayed to its route's upstream and the answer back, both bodies
// streamed; the identity headers and the assertion from the request's principal; the
// delegation banner put into HTML answers on the way.
#include <sodium.h>

#include "common/log.h"
#include "daemon/banner_injector.h"
#include "daemon/body_reader.h"
#include "daemon/gateway.h"
#include "daemon/gateway_connection.h"
#include "daemon/identity.h"

namespace gatehouse::daemon {
namespace {

constexpr std::size_t kRelayChunk = 64 * 1024;

}  // namespace

// Writes the pieces as body data of the response being streamed (more = true), in one
// write: a page cut around its body tag goes out as one chunk, not three (each write is
// a system call and, chunked, a chunk header of its own).
asio::awaitable<bool> Gateway::write_pieces(Connection& c, http::response_serializer<http::buffer_body>& sr,
                                            http::response<http::buffer_body>& res,
                                            const BannerInjector::Pieces& pieces, bool last,
                                            std::chrono::seconds timeout) {
  if (pieces.empty() && !last) co_return true;
  std::string_view data = pieces.empty() ? std::string_view() : pieces[0];
  if (pieces.size() > 1) {
    c.scratch.clear();
    c.scratch.reserve(pieces.bytes());
    for (std::string_view piece : pieces) c.scratch.append(piece);
    data = c.scratch;
  }
  // The last piece goes with the end of the body (the last chunk) in the same write.
  res.body().data = data.empty() ? nullptr : const_cast<char*>(data.data());
  res.body().size = data.size();
  res.body().more = !last;
  error_code ec;
  c.stream.expires_after(timeout);
  co_await http::async_write(c.stream, sr, awaitable_ec(ec));
  if (ec == http::error::need_buffer) ec = {};
  co_return !ec;
}

asio::awaitable<bool> Gateway::proxy(Connection& c, Parser& parser, const config::RouteConfig& route,
                                     const std::string& target, const auth::Principal* principal) {
  auto& creq = parser.get();
  const auto& server = c.rt->config->server;
  // inject_secret: the effective party's own secret goes upstream, or the request does not.
  std::string injected;
  if (route.inject_secret && principal != nullptr) {
    const auto& inject = *route.inject_secret;
    const std::string& tenant = principal->effective_party;
    const auto route_index = static_cast<std::size_t>(&route - c.rt->config->routes.data());
    auto value = c.rt->vault.value_for(tenant, inject.secret);
    if (!value) {
      log::error("vault.error", {{"route", route.id()}, {"tenant", tenant}, {"secret", inject.secret},
                                 {"code", value.error().code}, {"error", value.error().message}});
      co_return co_await respond_error(c, parser, http::status::service_unavailable, "Temporarily unavailable",
                                       "Please try again in a moment.");
    }
    if (!*value) {
      c.rt->metrics.count_secret_injection(route_index, false);
      log::warning("vault.secret_missing", {{"route", route.id()}, {"tenant", tenant}, {"secret", inject.secret},
                                            {"user", principal->user.name}});
      co_return co_await respond_secret_missing(c, parser, tenant, inject.secret);
    }
    c.rt->metrics.count_secret_injection(route_index, true);
    const std::string_view v = (*value)->reveal();
    injected.reserve(inject.prefix.size() + v.size() + inject.suffix.size());
    injected.append(inject.prefix).append(v).append(inject.suffix);
  }
  std::string assertion;
  if (principal != nullptr) {
    auto jwt = c.rt->assertions->issue(*principal, route.id());
    if (!jwt) {
      log::error("assertion.error", {{"error", jwt.error().message}});
      co_return co_await respond_error(c, parser, http::status::internal_server_error, "Internal error",
                                       "The request could not be completed.");
    }
    assertion = std::move(jwt.value());
  }

  http::request<http::buffer_body> ureq;
  ureq.method_string(creq.method_string());
  ureq.target(target);
  ureq.version(11);
  build_upstream_fields(creq, ureq, c.forward, principal, assertion, c.rt->own_cookies, c.rt->injected_headers);
  if (!injected.empty()) {
    ureq.set(route.inject_secret->header, injected);
    sodium_memzero(injected.data(), injected.size());
  }
  // The banner goes into HTML answers only when they are not compressed: ask for that
  // on such routes while it is due (an answer compressed anyway passes untouched).
  const bool banner_due = principal != nullptr && route.banner &&
                          (principal->delegated() || !principal->notice.empty());
  if (banner_due) ureq.set(http::field::accept_encoding, "identity");
  const bool has_body = !parser.is_done();
  if (has_body) {
    if (auto len = parser.content_length()) ureq.content_length(*len);
    else ureq.chunked(true);
  }
  ureq.keep_alive(true);
  const bool expect_continue = beast::iequals(creq[http::field::expect], "100-continue");
  const bool is_head = creq.method() == http::verb::head;

  error_code ec;
  if (!c.relay) c.relay.reset(new char[kRelayChunk]);
  char* const buf = c.relay.get();
  std::optional<tcp::socket> socket;
  bool reused = false;
  std::optional<http::response_parser<http::buffer_body>> rp;
  beast::flat_buffer ubuf;
  std::optional<beast::tcp_stream> upstream;

  // gatehouse_upstream_duration_seconds: connecting (or a retry) and relaying the request
  // body included, up to the response header.
  const auto forwarding_since = std::chrono::steady_clock::now();
  for (int attempt = 0; attempt < 2; ++attempt) {
    socket = c.upstreams.take_idle(route.upstream);
    reused = socket.has_value();
    if (!socket) {
      socket = co_await c.upstreams.connect(route.upstream, ec);
      if (!socket) {
        log::warning("proxy.connect_failed", {{"upstream", route.upstream.origin()}, {"error", ec.message()}});
        co_return co_await respond_error(c, parser, ec == beast::error::timeout ? http::status::gateway_timeout
                                                                                : http::status::bad_gateway,
                                         "Application unavailable",
                                         "The application behind this address is not answering. Please try again later.");
      }
    }
    upstream.emplace(std::move(*socket));
    http::request_serializer<http::buffer_body> sr{ureq};
    ureq.body().data = nullptr;
    ureq.body().size = 0;
    ureq.body().more = has_body;
    if (!has_body) {
      upstream->expires_after(server.upstream_timeout);
      co_await http::async_write_header(*upstream, sr, awaitable_ec(ec));
    } else {
      if (expect_continue) {
        static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
        c.stream.expires_after(server.upstream_timeout);
        co_await asio::async_write(c.stream, asio::buffer(cont.data(), cont.size()), awaitable_ec(ec));
        if (ec) co_return false;
      }
      // Stream the request body: read a chunk from the client, write it upstream (the
      // first write carries the header too: one write instead of two).
      do {
        if (!parser.is_done()) {
          creq.body().data = buf;
          creq.body().size = kRelayChunk;
          // What has arrived is forwarded at once; the timeout is the client's silence,
          // not a cap on a body that keeps flowing.
          c.stream.expires_after(server.upstream_timeout);
          co_await read_body_some(c.stream, c.buffer, parser, ec);
          if (ec == http::error::need_buffer) ec = {};
          if (ec) {
            // The upstream gets no more of this request; the client an answer if it can
            // still take one: 413 for a size limit, 400 for a malformed body.
            const auto status = body_error_status(ec);
            if (!status) co_return false;
            if (*status == http::status::bad_request)
              log::info("http.bad_request", {{"client", c.peer}, {"reason", "malformed body: " + ec.message()}});
            c.close_after = true;
            co_return co_await respond_error(c, parser, *status,
                                             *status == http::status::bad_request ? "Bad request" : "Request too large",
                                             *status == http::status::bad_request
                                                 ? "The request body is malformed."
                                                 : "The request body is larger than allowed.");
          }
          // Nothing read (a chunk header alone): no buffer at all, since an empty one
          // would be serialized as the last chunk.
          ureq.body().size = kRelayChunk - creq.body().size;
          ureq.body().data = ureq.body().size != 0 ? buf : nullptr;
          ureq.body().more = !parser.is_done();
        } else {
          ureq.body().data = nullptr;
          ureq.body().size = 0;
          ureq.body().more = false;
        }
        upstream->expires_after(server.upstream_timeout);
        co_await http::async_write(*upstream, sr, awaitable_ec(ec));
        if (ec == http::error::need_buffer) ec = {};
        if (ec) break;
      } while (!sr.is_done());
    }
    if (!ec) {
      // Skip interim 1xx responses other than 101 (not supported here).
      for (;;) {
        rp.emplace();
        rp->header_limit(64 * 1024);
        rp->body_limit(std::numeric_limits<std::uint64_t>::max());
        if (is_head) rp->skip(true);
        upstream->expires_after(server.upstream_timeout);
        co_await http::async_read_header(*upstream, ubuf, *rp, awaitable_ec(ec));
        if (ec) break;
        int code = rp->get().result_int();
        if (code < 100 || code >= 200 || code == 101) break;
      }
    }
    if (!ec) break;
    // A reused connection the upstream closed just before our request: retry once on a
    // fresh one, but only if nothing of the request body was consumed.
    const bool stale = reused && !has_body && ubuf.size() == 0 &&
                       (ec == asio::error::eof || ec == http::error::end_of_stream ||
                        ec == asio::error::connection_reset || ec == asio::error::broken_pipe);
    upstream->close();
    upstream.reset();
    if (stale && attempt == 0) {
      ec = {};
      ubuf.clear();
      continue;
    }
    if (ec == beast::error::timeout) {
      log::warning("proxy.timeout", {{"upstream", route.upstream.origin()}});
      co_return co_await respond_error(c, parser, http::status::gateway_timeout, "Application timed out",
                                       "The application behind this address did not answer in time.");
    }
    log::warning("proxy.upstream_error", {{"upstream", route.upstream.origin()}, {"error", ec.message()}});
    co_return co_await respond_error(c, parser, http::status::bad_gateway, "Application unavailable",
                                     "The application behind this address is not answering. Please try again later.");
  }

  c.rt->metrics.observe_upstream(static_cast<std::size_t>(&route - c.rt->config->routes.data()),
                                std::chrono::steady_clock::now() - forwarding_since);
  auto& ures = rp->get();
  http::response<http::buffer_body> cres;
  cres.result(ures.result_int());
  cres.reason(ures.reason());
  cres.version(11);
  build_downstream_fields(ures, cres, c.rt->own_cookies);
  const int code = ures.result_int();
  set_status(c, code);
  const bool bodiless = is_head || code == 204 || code == 304;
  bool close_after = false;
  std::optional<BannerInjector> banner;
  if (banner_due && !bodiless && banner_eligible(ures, static_cast<unsigned>(code), creq.method())) {
    std::string_view path = creq.target();
    auth::Principal named = *principal;
    c.rt->principals->name_parties(named);
    banner.emplace(page_banner(named, path));
    co_await notice_shown(c, *principal);
    // The page is personal now, and its length and digests describe other bytes.
    for (auto f : {http::field::etag, http::field::content_md5})
      cres.erase(f);
    cres.erase("Content-Digest");
    cres.erase("Repr-Digest");
    const auto cc = cres[http::field::cache_control];
    if (cc.find("no-store") == std::string_view::npos) cres.set(http::field::cache_control, "private, no-cache");
  }
  if (!bodiless) {
    if (auto len = rp->content_length(); len && !banner) {
      cres.content_length(*len);
    } else if (creq.version() >= 11) {
      cres.chunked(true);
    } else {
      close_after = true;  // HTTP/1.0 client: the end of the body is the end of the connection
    }
  } else if (auto len = rp->content_length()) {
    cres.content_length(*len);
  }
  const bool client_keep = creq.keep_alive() && !close_after && !shutting_down_;
  cres.keep_alive(client_keep);

  // The first write carries the header and the first piece of body together.
  http::response_serializer<http::buffer_body> csr{cres};
  do {
    if (!rp->is_done()) {
      ures.body().data = buf;
      ures.body().size = kRelayChunk;
      // As it arrives (a server-sent event stream, a long download): the timeout is the
      // upstream's silence between bytes.
      upstream->expires_after(server.upstream_timeout);
      co_await http::async_read_some(*upstream, ubuf, *rp, awaitable_ec(ec));
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        log::warning("proxy.upstream_body_error", {{"upstream", route.upstream.origin()}, {"error", ec.message()}});
        co_return false;  // the client sees a truncated body and a closed connection
      }
      const std::size_t n = kRelayChunk - ures.body().size;
      if (banner) {
        // Nothing is held back: what arrived goes out now, the banner after the body tag,
        // in one write (with the end of the body when this was the last of it).
        const bool last = rp->is_done();
        auto pieces = banner->feed({buf, n});
        // finish() returns nothing today (nothing is held back); were it to, its pieces
        // would follow before the end.
        auto rest = last ? banner->finish() : BannerInjector::Pieces{};
        // The whole page arrived before a byte was sent (a small page, one read): its
        // length is known, so it goes out as the plain page would, with Content-Length
        // and in one write, rather than chunked.
        if (last && rest.empty() && !csr.is_header_done()) {
          cres.chunked(false);
          cres.content_length(pieces.bytes());
        }
        if (!co_await write_pieces(c, csr, cres, pieces, last && rest.empty(), server.upstream_timeout))
          co_return false;
        if (!rest.empty() && !co_await write_pieces(c, csr, cres, rest, true, server.upstream_timeout))
          co_return false;
        if (!last || csr.is_done()) continue;
        cres.body().data = nullptr;
        cres.body().size = 0;
        cres.body().more = false;
      } else {
        cres.body().size = n;
        cres.body().data = n != 0 ? buf : nullptr;  // as above: never an empty chunk
        cres.body().more = !rp->is_done();
      }
    } else {
      cres.body().data = nullptr;
      cres.body().size = 0;
      cres.body().more = false;
    }
    c.stream.expires_after(server.upstream_timeout);
    co_await http::async_write(c.stream, csr, awaitable_ec(ec));
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return false;
  } while (!csr.is_done());

  if (rp->is_done() && rp->keep_alive() && ubuf.size() == 0) {
    upstream->expires_never();
    c.upstreams.give_back(route.upstream, upstream->release_socket());
  }
  co_return client_keep && parser.is_done();
}

}  // namespace gatehouse::daemon
