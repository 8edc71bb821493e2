#pragma once
// Outbound HTTP for talking to OpenID providers (discovery, JWKS, token, userinfo):
// libcurl, blocking, one request at a time per thread. Run it on the blocking pool.
//
// What it will not do, whatever the provider answers: follow redirects, speak anything
// but http and https, accept a body larger than max_body_bytes, or wait longer than the
// request's timeout. TLS certificates are verified (the system's CAs, or ca_file).
#include <chrono>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"

namespace gatehouse::oidc {

struct HttpRequest {
  std::string method = "GET";  // GET or POST
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // POST: sent as is (set Content-Type in headers)
  std::chrono::milliseconds timeout{10000};
};

struct HttpResponse {
  long status = 0;
  std::string content_type;  // as sent, may be empty
  std::string body;
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Any HTTP status is a response; only transport trouble (DNS, connect, TLS,
  // timeout, an oversized body) is an Error, with code "oidc.unreachable".
  virtual Result<HttpResponse> send(const HttpRequest& request) = 0;
};

struct CurlOptions {
  std::string ca_file;  // empty: the system's trust store
  std::size_t max_body_bytes = 1 << 20;
};

class CurlHttpClient final : public HttpClient {
 public:
  explicit CurlHttpClient(CurlOptions options = {});
  Result<HttpResponse> send(const HttpRequest& request) override;

 private:
  CurlOptions options_;
};

// application/x-www-form-urlencoded encoding of one name or value.
std::string form_encode(std::string_view text);
// A form body from name/value pairs.
std::string form_body(const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace gatehouse::oidc
