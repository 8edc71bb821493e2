#include "oidc/provider.h"

#include <algorithm>
#include <utility>

#include "common/encoding.h"

namespace gatehouse::oidc {

namespace {

using json = nlohmann::json;

constexpr std::int64_t kCheckCache = 30;  // seconds a readiness answer is reused

// Text from a provider for a log line: bounded, printable ASCII only.
std::string printable(std::string_view text, std::size_t max = 200) {
  std::string out;
  for (unsigned char c : text.substr(0, max)) out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
  if (text.size() > max) out += "...";
  return out;
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

std::optional<json> parse_object(const std::string& body) {
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
  return doc;
}

// A string member, or "" when absent; nullopt when present with another type.
std::optional<std::string> string_member(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

bool contains(const json& object, const char* key, std::string_view value) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_array()) return false;
  for (const auto& v : *it)
    if (v.is_string() && v.get<std::string>() == value) return true;
  return false;
}

// The error an OAuth endpoint gave: "invalid_grant (Code has expired)".
std::string oauth_error(const HttpResponse& r) {
  auto doc = parse_object(r.body);
  std::string text = "HTTP " + std::to_string(r.status);
  if (!doc) return text;
  auto error = string_member(*doc, "error");
  auto description = string_member(*doc, "error_description");
  if (error && !error->empty()) text += ": " + printable(*error, 64);
  if (description && !description->empty()) text += " (" + printable(*description) + ")";
  return text;
}

}  // namespace

Provider::Provider(config::OidcConfig config, std::string redirect_uri, Secret client_secret,
                   std::shared_ptr<HttpClient> http, const Clock& clock)
    : config_(std::move(config)),
      redirect_uri_(std::move(redirect_uri)),
      client_secret_(std::move(client_secret)),
      http_(std::move(http)),
      clock_(clock) {}

// The provider's endpoints must be as safe as its issuer: https, or http only when the
// issuer itself is a loopback http URL (a provider on this machine).
bool Provider::endpoint_allowed(std::string_view url) const {
  auto parsed = config::Url::parse(url.substr(0, url.find('?')));
  if (!parsed) return false;
  if (parsed->scheme == "https") return true;
  return config_.issuer_url.scheme == "http" && parsed->is_loopback();
}

Result<Discovery> Provider::fetch_discovery() {
  std::string url = config_.issuer;
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += "/.well-known/openid-configuration";
  HttpRequest request;
  request.url = url;
  request.headers = {{"Accept", "application/json"}};
  request.timeout = config_.timeout;
  auto response = http_->send(request);
  if (!response) return response.error();
  if (response->status != 200)
    return make_error("oidc.discovery", url + " answered HTTP " + std::to_string(response->status));
  auto doc = parse_object(response->body);
  if (!doc) return make_error("oidc.discovery", url + " is not a JSON object");

  Discovery d;
  auto issuer = string_member(*doc, "issuer");
  if (!issuer || issuer->empty()) return make_error("oidc.discovery", url + " has no issuer");
  // OpenID Connect Discovery §4.3: exactly the issuer the document was fetched for.
  if (*issuer != config_.issuer)
    return make_error("oidc.discovery", "the discovery document names issuer \"" + printable(*issuer) +
                                            "\", not the configured \"" + config_.issuer + "\"");
  d.issuer = *issuer;
  struct Endpoint {
    const char* key;
    std::string* out;
    bool required;
  } endpoints[] = {{"authorization_endpoint", &d.authorization_endpoint, true},
                   {"token_endpoint", &d.token_endpoint, true},
                   {"jwks_uri", &d.jwks_uri, true},
                   {"userinfo_endpoint", &d.userinfo_endpoint, false},
                   {"end_session_endpoint", &d.end_session_endpoint, false}};
  for (const auto& e : endpoints) {
    auto value = string_member(*doc, e.key);
    if (!value) return make_error("oidc.discovery", std::string(e.key) + " is not a string");
    if (value->empty()) {
      if (e.required) return make_error("oidc.discovery", std::string("no ") + e.key);
      continue;
    }
    if (!endpoint_allowed(*value))
      return make_error("oidc.discovery", std::string(e.key) + " \"" + printable(*value) +
                                              "\" is not an https URL");
    *e.out = *value;
  }
  // Token endpoint authentication: client_secret_basic when offered (the default when
  // the provider says nothing, RFC 8414), else client_secret_post.
  auto methods = doc->find("token_endpoint_auth_methods_supported");
  if (methods != doc->end() && methods->is_array()) {
    if (contains(*doc, "token_endpoint_auth_methods_supported", "client_secret_basic")) {
      d.token_auth_basic = true;
    } else if (contains(*doc, "token_endpoint_auth_methods_supported", "client_secret_post")) {
      d.token_auth_basic = false;
    } else {
      return make_error("oidc.discovery",
                        "the token endpoint accepts neither client_secret_basic nor client_secret_post");
    }
  }
  return d;
}

Result<Discovery> Provider::discovery() {
  const std::int64_t now = clock_.now();
  {
    std::lock_guard lock(mu_);
    if (discovery_ && now - discovery_at_ < config_.discovery_refresh.count()) return *discovery_;
  }
  std::lock_guard fetching(fetch_mu_);
  {
    // Another thread may have fetched it meanwhile.
    std::lock_guard lock(mu_);
    if (discovery_ && now - discovery_at_ < config_.discovery_refresh.count()) return *discovery_;
  }
  auto fetched = fetch_discovery();
  std::lock_guard lock(mu_);
  if (!fetched) {
    if (discovery_ && fetched.error().code == "oidc.unreachable") {
      discovery_at_ = now;  // keep the old copy; try again after another interval
      return *discovery_;
    }
    return fetched.error();
  }
  discovery_ = *fetched;
  discovery_at_ = now;
  return *discovery_;
}

Result<std::string> Provider::authorization_url(std::string_view state, std::string_view nonce,
                                                std::string_view code_challenge) {
  auto d = discovery();
  if (!d) return d.error();
  std::string scope;
  for (const auto& s : config_.scopes) scope += (scope.empty() ? "" : " ") + s;
  std::string url = d->authorization_endpoint;
  url += url.find('?') == std::string::npos ? '?' : '&';
  url += form_body({{"response_type", "code"},
                    {"client_id", config_.client_id},
                    {"redirect_uri", redirect_uri_},
                    {"scope", scope},
                    {"state", std::string(state)},
                    {"nonce", std::string(nonce)},
                    {"code_challenge", std::string(code_challenge)},
                    {"code_challenge_method", "S256"}});
  return url;
}

Result<Tokens> Provider::token_request(std::vector<std::pair<std::string, std::string>> fields,
                                       bool expect_id_token) {
  auto d = discovery();
  if (!d) return d.error();
  HttpRequest request;
  request.method = "POST";
  request.url = d->token_endpoint;
  request.timeout = config_.timeout;
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
  if (d->token_auth_basic) {
    // RFC 6749 §2.3.1: both parts form-encoded before base64.
    request.headers.emplace_back(
        "Authorization",
        "Basic " + base64_encode(form_encode(config_.client_id) + ":" + form_encode(client_secret_.reveal())));
  } else {
    fields.emplace_back("client_id", config_.client_id);
    fields.emplace_back("client_secret", std::string(client_secret_.reveal()));
  }
  request.body = form_body(fields);
  auto response = http_->send(request);
  // The body held the code or refresh token (and maybe the secret): wipe it.
  std::fill(request.body.begin(), request.body.end(), '\0');
  if (!response) return response.error();
  if (response->status != 200)
    return make_error("oidc.token", "the token endpoint refused: " + oauth_error(*response));
  auto doc = parse_object(response->body);
  if (!doc) return make_error("oidc.token", "the token endpoint's answer is not a JSON object");
  Tokens t;
  auto access = string_member(*doc, "access_token");
  auto type = string_member(*doc, "token_type");
  auto id = string_member(*doc, "id_token");
  auto refresh = string_member(*doc, "refresh_token");
  if (!access || access->empty()) return make_error("oidc.token", "the token endpoint gave no access_token");
  if (!type || (*type != "Bearer" && *type != "bearer"))
    return make_error("oidc.token", "token_type is not Bearer");
  if (!id || (expect_id_token && id->empty()))
    return make_error("oidc.token", "the token endpoint gave no id_token");
  if (!refresh) return make_error("oidc.token", "refresh_token is not a string");
  t.access_token = std::move(*access);
  t.id_token = std::move(*id);
  t.refresh_token = std::move(*refresh);
  if (auto it = doc->find("expires_in"); it != doc->end() && it->is_number_integer())
    t.expires_in = it->get<std::int64_t>();
  return t;
}

Result<Tokens> Provider::redeem_code(std::string_view code, std::string_view code_verifier) {
  return token_request({{"grant_type", "authorization_code"},
                        {"code", std::string(code)},
                        {"redirect_uri", redirect_uri_},
                        {"code_verifier", std::string(code_verifier)}},
                       true);
}

Result<Tokens> Provider::refresh(std::string_view refresh_token) {
  return token_request({{"grant_type", "refresh_token"}, {"refresh_token", std::string(refresh_token)}}, false);
}

Result<KeySet> Provider::keys(bool refetch) {
  const std::int64_t now = clock_.now();
  auto fresh = [&] {
    if (!keys_) return false;
    if (refetch) return now - refetched_at_ < config_.jwks_refetch_interval.count();  // rate limit
    return now - keys_at_ < config_.discovery_refresh.count();
  };
  {
    std::lock_guard lock(mu_);
    if (fresh()) return *keys_;
  }
  auto d = discovery();
  if (!d) return d.error();
  std::lock_guard fetching(fetch_mu_);
  {
    std::lock_guard lock(mu_);
    if (fresh()) return *keys_;
    if (refetch) refetched_at_ = now;  // counts even when the fetch fails
    ++jwks_fetches_;
  }
  HttpRequest request;
  request.url = d->jwks_uri;
  request.headers = {{"Accept", "application/json"}};
  request.timeout = config_.timeout;
  auto response = http_->send(request);
  std::lock_guard lock(mu_);
  auto keep_old = [&](Error e) -> Result<KeySet> {
    if (keys_ && e.code == "oidc.unreachable") return *keys_;
    return e;
  };
  if (!response) return keep_old(response.error());
  if (response->status != 200)
    return keep_old(make_error("oidc.jwks", d->jwks_uri + " answered HTTP " + std::to_string(response->status)));
  auto parsed = KeySet::parse(response->body);
  if (!parsed) return keep_old(parsed.error());
  keys_ = std::move(parsed).value();
  keys_at_ = now;
  return *keys_;
}

Result<VerifiedJwt> Provider::verify(std::string_view jwt) {
  auto set = keys(false);
  if (!set) return set.error();
  auto verified = verify_jws(jwt, *set, config_.algorithms);
  if (verified || verified.error().code != "jwt.unknown_kid") return verified;
  // Key rotation: the provider may have published a new key since the last fetch.
  auto again = keys(true);
  if (!again) return again.error();
  return verify_jws(jwt, *again, config_.algorithms);
}

std::optional<Result<VerifiedJwt>> Provider::verify_cached(std::string_view jwt) {
  std::optional<KeySet> set;
  bool may_refetch = false;
  {
    std::lock_guard lock(mu_);
    const std::int64_t now = clock_.now();
    if (!keys_ || now - keys_at_ >= config_.discovery_refresh.count()) return std::nullopt;
    set = *keys_;
    may_refetch = now - refetched_at_ >= config_.jwks_refetch_interval.count();
  }
  auto verified = verify_jws(jwt, *set, config_.algorithms);
  if (!verified && verified.error().code == "jwt.unknown_kid" && may_refetch) return std::nullopt;
  return verified;
}

Result<nlohmann::json> Provider::userinfo(std::string_view access_token) {
  auto d = discovery();
  if (!d) return d.error();
  if (d->userinfo_endpoint.empty()) return make_error("oidc.userinfo", "the provider has no userinfo endpoint");
  HttpRequest request;
  request.url = d->userinfo_endpoint;
  request.headers = {{"Accept", "application/json"}, {"Authorization", "Bearer " + std::string(access_token)}};
  request.timeout = config_.timeout;
  auto response = http_->send(request);
  if (!response) return response.error();
  if (response->status != 200)
    return make_error("oidc.userinfo", "the userinfo endpoint refused: " + oauth_error(*response));
  if (response->content_type.rfind("application/jwt", 0) == 0)
    return make_error("oidc.userinfo", "signed userinfo answers (application/jwt) are not supported");
  auto doc = parse_object(response->body);
  if (!doc) return make_error("oidc.userinfo", "the userinfo answer is not a JSON object");
  return *doc;
}

Result<directory::Identity> Provider::identity(const nlohmann::json& claims, bool fallback_to_sub) const {
  auto text = [&](const std::string& claim) -> Result<std::string> {
    if (claim.empty()) return std::string();
    auto value = string_member(claims, claim.c_str());
    if (!value) return make_error("oidc.claims", "claim \"" + claim + "\" is not a string");
    if (has_control(*value)) return make_error("oidc.claims", "claim \"" + claim + "\" holds control characters");
    return *value;
  };
  directory::Identity id;
  auto username = text(config_.username_claim);
  if (!username) return username.error();
  id.username = *username;
  if (id.username.empty() && fallback_to_sub) {
    auto sub = text("sub");
    if (!sub) return sub.error();
    id.username = *sub;
  }
  if (id.username.empty())
    return make_error("oidc.claims", "neither the ID token nor userinfo has the claim \"" + config_.username_claim +
                                         "\" (set username_claim)");
  auto email = text(config_.email_claim);
  if (!email) return email.error();
  id.email = *email;
  // OpenID Connect Core 5.1: only `"email_verified": true` says the provider checked the
  // address (a string "true" is not a boolean). Delegations reach verified addresses only.
  {
    auto v = claims.find("email_verified");
    id.email_verified = v != claims.end() && v->is_boolean() && v->get<bool>();
  }
  auto name = text(config_.name_claim);
  if (!name) return name.error();
  id.display_name = *name;

  if (auto it = claims.find(config_.groups_claim); !config_.groups_claim.empty() && it != claims.end() && !it->is_null()) {
    if (it->is_string()) {
      id.groups.push_back(it->get<std::string>());
    } else if (it->is_array()) {
      for (const auto& g : *it) {
        if (!g.is_string())
          return make_error("oidc.claims", "claim \"" + config_.groups_claim + "\" is not a list of strings");
        id.groups.push_back(g.get<std::string>());
      }
    } else {
      return make_error("oidc.claims", "claim \"" + config_.groups_claim + "\" is not a list of strings");
    }
    for (const auto& g : id.groups)
      if (g.empty() || has_control(g))
        return make_error("oidc.claims", "claim \"" + config_.groups_claim + "\" holds an empty or unprintable group");
    std::sort(id.groups.begin(), id.groups.end());
    id.groups.erase(std::unique(id.groups.begin(), id.groups.end()), id.groups.end());
  }

  id.tenant = config_.tenant;
  if (!config_.tenant_claim.empty()) {
    auto tenant = text(config_.tenant_claim);
    if (!tenant) return tenant.error();
    if (!tenant->empty()) id.tenant = *tenant;
  }
  if (id.tenant.empty())
    return make_error("oidc.claims", "the claims have no \"" + config_.tenant_claim +
                                         "\" and the provider has no tenant configured");
  return id;
}

Status Provider::check() {
  const std::int64_t now = clock_.now();
  {
    std::lock_guard lock(mu_);
    if (discovery_ && now - checked_at_ < kCheckCache && now - discovery_at_ < config_.discovery_refresh.count())
      return Ok{};
  }
  // A fresh look: readiness must notice a provider that went away.
  auto fetched = fetch_discovery();
  if (!fetched) return fetched.error();
  std::lock_guard lock(mu_);
  discovery_ = *fetched;
  discovery_at_ = checked_at_ = now;
  return Ok{};
}

void Provider::adopt_cache(const Provider& previous) {
  if (&previous == this || previous.config_.issuer != config_.issuer || previous.config_.ca_file != config_.ca_file)
    return;
  std::scoped_lock lock(mu_, previous.mu_);
  discovery_ = previous.discovery_;
  discovery_at_ = previous.discovery_at_;
  keys_ = previous.keys_;
  keys_at_ = previous.keys_at_;
  refetched_at_ = previous.refetched_at_;
}

std::uint64_t Provider::jwks_fetches() const {
  std::lock_guard lock(mu_);
  return jwks_fetches_;
}

}  // namespace gatehouse::oidc
