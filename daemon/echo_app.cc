#include "daemon/echo_app.h"

#include <sodium.h>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "daemon/pages.h"

namespace gatehouse::daemon {
namespace {

constexpr std::string_view kEchoStyle =
    R"css(body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#111827}
table{border-collapse:collapse;width:100%;margin-bottom:1.5rem}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e5e7eb;vertical-align:top;word-break:break-all}
th{width:16rem;font-weight:600}pre{background:#f3f4f6;padding:1rem;border-radius:.4rem;overflow:auto}
button{padding:.5rem 1rem;border:0;border-radius:.3rem;background:#1d4ed8;color:#fff;font:inherit;cursor:pointer})css";

// A strict policy, as careful applications send: no script at all, styles only from the
// site itself or this page's own <style> (by its hash), so gatehouse's banner has to get
// through it with its same-origin stylesheet.
const std::string& echo_csp() {
  static const std::string csp = [] {
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(kEchoStyle.data()), kEchoStyle.size());
    char b64[sodium_base64_ENCODED_LEN(sizeof digest, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof b64, digest, sizeof digest, sodium_base64_VARIANT_ORIGINAL);
    return "default-src 'none'; style-src 'self' 'sha256-" + std::string(b64) +
           "'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
  }();
  return csp;
}

std::string decode_jwt_part(std::string_view jwt, int index) {
  for (int i = 0; i < index; ++i) {
    auto dot = jwt.find('.');
    if (dot == std::string_view::npos) return {};
    jwt.remove_prefix(dot + 1);
  }
  auto part = jwt.substr(0, jwt.find('.'));
  auto raw = base64url_decode(part);
  if (!raw) return {};
  auto j = nlohmann::json::parse(*raw, nullptr, false);
  if (j.is_discarded()) return {};
  return j.dump(2);
}

asio::awaitable<void> serve_echo(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  error_code ec;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(1 << 20);
    stream.expires_after(std::chrono::seconds(60));
    co_await http::async_read(stream, buffer, parser, awaitable_ec(ec));
    if (ec) break;
    auto& req = parser.get();
    const bool html = req[http::field::accept].find("text/html") != std::string_view::npos;
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::content_type, html ? "text/html; charset=utf-8" : "application/json");
    res.set(http::field::cache_control, "no-store");
    if (html) res.set("Content-Security-Policy", echo_csp());
    res.body() = echo_page(req, html);
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    co_await http::async_write(stream, res, awaitable_ec(ec));
    if (ec || !req.keep_alive()) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

asio::awaitable<void> accept_echo(tcp::acceptor& acceptor) {
  for (;;) {
    error_code ec;
    tcp::socket s = co_await acceptor.async_accept(awaitable_ec(ec));
    if (ec) co_return;
    asio::co_spawn(acceptor.get_executor(), serve_echo(std::move(s)), asio::detached);
  }
}

}  // namespace

std::string echo_page(const http::request<http::string_body>& req, bool html) {
  std::string assertion(req["X-Gatehouse-Assertion"]);
  if (!html) {
    nlohmann::json headers = nlohmann::json::object();
    for (const auto& f : req) headers[std::string(f.name_string())] = std::string(f.value());
    nlohmann::json j = {{"method", std::string(req.method_string())},
                        {"target", std::string(req.target())},
                        {"headers", headers},
                        {"body_bytes", req.body().size()}};
    return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  std::string rows;
  std::string others;
  for (const auto& f : req) {
    std::string name(f.name_string());
    std::string row = "<tr><th scope=\"row\">" + html_escape(name) + "</th><td>" +
                      html_escape(f.value()) + "</td></tr>";
    bool identity = name.size() > 12 && (name.starts_with("X-Gatehouse-") || name.starts_with("X-Forwarded-"));
    (identity ? rows : others) += row;
  }
  std::string body = R"(<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Echo application</title>
<style>)" + std::string(kEchoStyle) + R"(</style>
</head><body><h1>Echo application</h1>
<p>This is the demo application behind gatehouse. It shows what gatehouse told it about you.</p>)";
  std::string user(req["X-Gatehouse-User"]);
  body += user.empty() ? "<p>You are not signed in (this is a public route).</p>"
                       : "<p>Signed in as <strong id=\"user\">" + html_escape(user) + "</strong> for <strong id=\"party\">" +
                             html_escape(req["X-Gatehouse-Effective-Party"]) + "</strong>.</p>";
  body += "<h2>Identity headers</h2><table id=\"identity\">" + rows + "</table>";
  if (!assertion.empty()) {
    body += "<h2>Assertion (X-Gatehouse-Assertion, decoded)</h2><h3>Header</h3><pre id=\"assertion-header\">" +
            html_escape(decode_jwt_part(assertion, 0)) + "</pre><h3>Claims</h3><pre id=\"assertion-claims\">" +
            html_escape(decode_jwt_part(assertion, 1)) +
            "</pre><p>Verify the signature with the keys at <a href=\"/.gatehouse/jwks.json\">/.gatehouse/jwks.json</a>.</p>";
  }
  body += "<h2>Other request headers</h2><table>" + others + "</table>";
  body += "<p>Request: <code>" + html_escape(req.method_string()) + " " + html_escape(req.target()) + "</code></p>";
  if (!user.empty())
    body += R"(<form method="post" action="/.gatehouse/logout"><button type="submit">Sign out</button></form>)";
  body += "</body></html>\n";
  return body;
}

EchoApp::EchoApp() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
  port_ = acceptor_.local_endpoint().port();
  asio::co_spawn(io_, accept_echo(acceptor_), asio::detached);
  thread_ = std::thread([this] { io_.run(); });
}

EchoApp::~EchoApp() {
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace gatehouse::daemon
