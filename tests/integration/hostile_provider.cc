#include "integration/hostile_provider.h"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <stdexcept>

#include "common/encoding.h"

namespace gatehouse::testing {

using nlohmann::json;

struct HostileProvider::Grant {
  std::string client_id, redirect_uri, nonce, code_challenge, scope;
  bool used = false;
};

namespace {

std::string random_token() { return base64url_encode(random_bytes(24)); }

// RFC 7636 4.1: 43 to 128 characters of [A-Z a-z 0-9 - . _ ~].
bool valid_verifier(std::string_view v) {
  return v.size() >= 43 && v.size() <= 128 && std::all_of(v.begin(), v.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '~';
         });
}

void oauth_error(httplib::Response& res, int status, const std::string& error, const std::string& description) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(json{{"error", error}, {"error_description", description}}.dump(), "application/json");
}

std::string with_query(const std::string& uri, const httplib::Params& params) {
  return uri + (uri.find('?') == std::string::npos ? "?" : "&") + httplib::detail::params_to_query_str(params);
}

std::string param(const httplib::Request& req, const char* name) {
  return req.has_param(name) ? req.get_param_value(name) : std::string();
}

}  // namespace

const char* flaw_name(Flaw flaw) {
  switch (flaw) {
    case Flaw::none: return "none";
    case Flaw::alg_none: return "alg_none";
    case Flaw::hs256_with_public_key: return "hs256_with_public_key";
    case Flaw::bad_signature: return "bad_signature";
    case Flaw::unknown_kid: return "unknown_kid";
    case Flaw::wrong_iss: return "wrong_iss";
    case Flaw::wrong_aud: return "wrong_aud";
    case Flaw::expired: return "expired";
    case Flaw::iat_future: return "iat_future";
    case Flaw::missing_nonce: return "missing_nonce";
    case Flaw::wrong_nonce: return "wrong_nonce";
  }
  return "?";
}

std::vector<Flaw> all_flaws() {
  return {Flaw::alg_none, Flaw::hs256_with_public_key, Flaw::bad_signature, Flaw::unknown_kid,
          Flaw::wrong_iss, Flaw::wrong_aud, Flaw::expired, Flaw::iat_future, Flaw::missing_nonce,
          Flaw::wrong_nonce};
}

HostileProvider::HostileProvider() : HostileProvider(Options{}) {}

HostileProvider::HostileProvider(Options options)
    : options_(std::move(options)),
      k1_(test_support::TestKey::generate(test_support::KeyKind::rsa, "k1")),
      k2_(test_support::TestKey::generate(test_support::KeyKind::ec_p256, "k2")),
      unpublished_(test_support::TestKey::generate(test_support::KeyKind::rsa, "k-unpublished")) {
  routes();
  port_ = server_.bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("hostile provider: cannot bind a loopback port");
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

HostileProvider::~HostileProvider() {
  server_.stop();
  if (thread_.joinable()) thread_.join();
}

std::string HostileProvider::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

void HostileProvider::routes() {
  using Handler = void (HostileProvider::*)(const httplib::Request&, httplib::Response&);
  auto bind = [this](Handler h) {
    return [this, h](const httplib::Request& req, httplib::Response& res) { (this->*h)(req, res); };
  };
  server_.Get("/.well-known/openid-configuration", bind(&HostileProvider::on_discovery));
  server_.Get("/authorize", bind(&HostileProvider::on_authorize));
  server_.Post("/token", bind(&HostileProvider::on_token));
  server_.Get("/jwks", bind(&HostileProvider::on_jwks));
  server_.Get("/userinfo", bind(&HostileProvider::on_userinfo));
  server_.Get("/logout", bind(&HostileProvider::on_logout));
}

// ---- knobs and observations --------------------------------------------------------------

void HostileProvider::set_flaw(Flaw flaw) { set_locked(flaw_, flaw); }
void HostileProvider::set_discovery_issuer_mismatch(bool on) { set_locked(issuer_mismatch_, on); }
void HostileProvider::set_authorize_state(std::string state) { set_locked(authorize_state_, std::move(state)); }
void HostileProvider::set_authorize_error(std::string error) { set_locked(authorize_error_, std::move(error)); }
void HostileProvider::set_authorize_iss(bool on) { set_locked(authorize_iss_, on); }
void HostileProvider::set_token_auth_methods(std::vector<std::string> methods) {
  set_locked(auth_methods_, std::move(methods));
}
void HostileProvider::set_id_token_claims(json claims) { set_locked(id_claims_, std::move(claims)); }
void HostileProvider::set_userinfo(json claims) { set_locked(userinfo_, std::move(claims)); }
void HostileProvider::set_refresh_tokens(bool on) { set_locked(refresh_tokens_, on); }
void HostileProvider::set_token_lifetime(int seconds) { set_locked(lifetime_, seconds); }

void HostileProvider::set_extra_audiences(std::vector<std::string> extra, std::string azp) {
  std::lock_guard lock(mu_);
  extra_audiences_ = std::move(extra);
  azp_ = std::move(azp);
}

void HostileProvider::sign_with_second_key(int hidden_fetches) {
  std::lock_guard lock(mu_);
  second_key_ = true;
  k2_hidden_fetches_ = hidden_fetches;
}

int HostileProvider::requests(Endpoint endpoint) const { return counts_[static_cast<std::size_t>(endpoint)].load(); }
HostileProvider::AuthorizeRequest HostileProvider::last_authorize() const { return get_locked(last_authorize_); }
HostileProvider::LogoutRequest HostileProvider::last_logout() const { return get_locked(last_logout_); }
std::string HostileProvider::last_token_auth_method() const { return get_locked(last_auth_method_); }
std::string HostileProvider::last_id_token() const { return get_locked(last_id_token_); }
std::string HostileProvider::last_access_token() const { return get_locked(last_access_token_); }

std::string HostileProvider::mint(const json& claims, Flaw flaw) const { return sign(claims, flaw, false); }

std::string HostileProvider::jwks() const {
  std::lock_guard lock(mu_);
  if (second_key_ && k2_hidden_fetches_ == 0) return test_support::jwks_json({k1_, k2_});
  return test_support::jwks_json({k1_});
}

// ---- tokens ------------------------------------------------------------------------------

std::string HostileProvider::sign(const json& claims, Flaw flaw, bool second_key) const {
  switch (flaw) {
    case Flaw::alg_none:
      return test_support::unsigned_token(claims, {{"alg", "none"}, {"kid", "k1"}, {"typ", "JWT"}});
    case Flaw::hs256_with_public_key:
      return test_support::hs256_token(k1_.public_pem(), claims, {{"alg", "HS256"}, {"kid", "k1"}, {"typ", "JWT"}});
    case Flaw::bad_signature:
      return test_support::corrupt_signature(k1_.sign_jwt(claims));
    case Flaw::unknown_kid:
      return unpublished_.sign_jwt(claims);
    default:
      return (second_key ? k2_ : k1_).sign_jwt(claims);
  }
}

// Called with mu_ held.
std::string HostileProvider::id_token(const std::string& nonce) {
  const std::int64_t now = std::time(nullptr);
  json claims = {{"iss", url()},       {"sub", options_.subject}, {"aud", options_.client_id},
                 {"exp", now + lifetime_}, {"iat", now},          {"auth_time", now},
                 {"nonce", nonce}};
  if (!extra_audiences_.empty()) {
    json aud = {options_.client_id};
    for (const auto& a : extra_audiences_) aud.push_back(a);
    claims["aud"] = aud;
  }
  if (!azp_.empty()) claims["azp"] = azp_;
  claims.update(id_claims_);
  switch (flaw_) {
    case Flaw::wrong_iss: claims["iss"] = "https://evil.example"; break;
    case Flaw::wrong_aud: claims["aud"] = "someone-else"; claims.erase("azp"); break;
    case Flaw::expired: claims["exp"] = now - 600; claims["iat"] = now - 900; break;
    case Flaw::iat_future: claims["iat"] = now + 600; claims["exp"] = now + 900; break;
    case Flaw::missing_nonce: claims.erase("nonce"); break;
    case Flaw::wrong_nonce: claims["nonce"] = "not-the-nonce-" + random_token(); break;
    default: break;
  }
  return sign(claims, flaw_, second_key_);
}

// ---- endpoints ---------------------------------------------------------------------------

void HostileProvider::on_discovery(const httplib::Request&, httplib::Response& res) {
  count(Endpoint::discovery);
  const std::string base = url();
  std::lock_guard lock(mu_);
  json doc = {
      {"issuer", issuer_mismatch_ ? base + "/other" : base},
      {"authorization_endpoint", base + "/authorize"},
      {"token_endpoint", base + "/token"},
      {"jwks_uri", base + "/jwks"},
      {"userinfo_endpoint", base + "/userinfo"},
      {"end_session_endpoint", base + "/logout"},
      {"response_types_supported", {"code"}},
      {"grant_types_supported", {"authorization_code", "refresh_token"}},
      {"subject_types_supported", {"public"}},
      {"id_token_signing_alg_values_supported", {"RS256", "ES256"}},
      {"token_endpoint_auth_methods_supported", auth_methods_},
      {"code_challenge_methods_supported", {"S256"}},
      {"scopes_supported", {"openid", "profile", "email", "groups", "offline_access"}},
      {"claims_supported", {"sub", "iss", "aud", "exp", "iat", "nonce", "preferred_username", "email", "name",
                            "groups", "tenant"}},
      {"authorization_response_iss_parameter_supported", authorize_iss_},
  };
  res.set_content(doc.dump(), "application/json");
}

void HostileProvider::on_authorize(const httplib::Request& req, httplib::Response& res) {
  count(Endpoint::authorize);
  AuthorizeRequest a{param(req, "response_type"), param(req, "client_id"),
                     param(req, "redirect_uri"),  param(req, "scope"),
                     param(req, "state"),         param(req, "nonce"),
                     param(req, "code_challenge"), param(req, "code_challenge_method")};
  std::lock_guard lock(mu_);
  last_authorize_ = a;
  // An unknown client or a missing redirect_uri gets no redirect (RFC 6749 4.1.2.1).
  if (a.client_id != options_.client_id || a.redirect_uri.empty()) {
    res.status = 400;
    res.set_content("unknown client or no redirect_uri", "text/plain");
    return;
  }
  std::string error;
  if (a.response_type != "code") {
    error = "unsupported_response_type";
  } else if (a.scope.find("openid") == std::string::npos) {
    error = "invalid_scope";
  } else if (a.code_challenge.empty() || a.code_challenge_method != "S256") {
    error = "invalid_request";  // PKCE with S256 is required
  } else {
    error = authorize_error_;
  }
  httplib::Params back;
  if (error.empty()) {
    const std::string code = random_token();
    codes_[code] = std::make_shared<Grant>(Grant{a.client_id, a.redirect_uri, a.nonce, a.code_challenge, a.scope});
    back.emplace("code", code);
  } else {
    back.emplace("error", error);
  }
  back.emplace("state", authorize_state_.empty() ? a.state : authorize_state_);
  if (authorize_iss_) back.emplace("iss", url());
  res.status = 302;
  res.set_header("Location", with_query(a.redirect_uri, back));
}

// The client's authentication method ("client_secret_basic" / "client_secret_post"), or ""
// with `res` already holding the error answer. Called with mu_ held.
std::string HostileProvider::authenticate_client(const httplib::Request& req, httplib::Response& res) {
  const std::string authorization = req.get_header_value("Authorization");
  const bool basic = authorization.rfind("Basic ", 0) == 0;
  const bool post = req.has_param("client_secret");
  if (basic && post) {
    oauth_error(res, 400, "invalid_request", "more than one client authentication method");
    return "";
  }
  const std::string method = basic ? "client_secret_basic" : post ? "client_secret_post" : "";
  auto refuse = [&](const std::string& why) {
    oauth_error(res, 401, "invalid_client", why);
    if (basic) res.set_header("WWW-Authenticate", "Basic realm=\"hostile\"");
    return std::string();
  };
  if (method.empty()) return refuse("no client authentication");
  if (std::find(auth_methods_.begin(), auth_methods_.end(), method) == auth_methods_.end())
    return refuse(method + " is not accepted here");
  std::string id, secret;
  if (basic) {
    // RFC 6749 2.3.1: base64 of form-encoded id ":" form-encoded secret.
    const std::string b64 = authorization.substr(6);
    std::string decoded(b64.size(), '\0');
    std::size_t len = 0;
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(decoded.data()), decoded.size(), b64.data(), b64.size(),
                          nullptr, &len, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0)
      return refuse("bad Basic credentials");
    decoded.resize(len);
    const auto colon = decoded.find(':');
    if (colon == std::string::npos) return refuse("bad Basic credentials");
    id = httplib::detail::decode_url(decoded.substr(0, colon), true);
    secret = httplib::detail::decode_url(decoded.substr(colon + 1), true);
    if (req.has_param("client_id") && req.get_param_value("client_id") != id)
      return refuse("client_id differs from the Basic credentials");
  } else {
    id = param(req, "client_id");
    secret = param(req, "client_secret");
  }
  if (id != options_.client_id || secret != options_.client_secret) return refuse("wrong client credentials");
  return method;
}

void HostileProvider::on_token(const httplib::Request& req, httplib::Response& res) {
  count(Endpoint::token);
  std::lock_guard lock(mu_);
  const std::string method = authenticate_client(req, res);
  if (method.empty()) return;
  const std::string grant_type = param(req, "grant_type");
  std::shared_ptr<Grant> grant;
  if (grant_type == "authorization_code") {
    auto it = codes_.find(param(req, "code"));
    if (it == codes_.end()) return oauth_error(res, 400, "invalid_grant", "unknown code");
    grant = it->second;
    if (grant->used) return oauth_error(res, 400, "invalid_grant", "code already used");
    grant->used = true;  // presented once, spent, whatever follows
    if (grant->client_id != options_.client_id)
      return oauth_error(res, 400, "invalid_grant", "code issued to another client");
    if (param(req, "redirect_uri") != grant->redirect_uri)
      return oauth_error(res, 400, "invalid_grant", "redirect_uri differs from the authorization request");
    const std::string verifier = param(req, "code_verifier");
    if (!valid_verifier(verifier) || test_support::pkce_s256(verifier) != grant->code_challenge)
      return oauth_error(res, 400, "invalid_grant", "PKCE verification failed");
  } else if (grant_type == "refresh_token" && refresh_tokens_) {
    auto it = refresh_tokens_issued_.find(param(req, "refresh_token"));
    if (it == refresh_tokens_issued_.end()) return oauth_error(res, 400, "invalid_grant", "unknown refresh token");
    grant = it->second;
  } else {
    return oauth_error(res, 400, "unsupported_grant_type", "grant_type " + grant_type + " is not supported");
  }

  last_auth_method_ = method;
  last_access_token_ = random_token();
  access_tokens_.insert(last_access_token_);
  last_id_token_ = id_token(grant->nonce);
  json body = {{"access_token", last_access_token_}, {"token_type", "Bearer"}, {"expires_in", lifetime_},
               {"id_token", last_id_token_}, {"scope", grant->scope}};
  if (refresh_tokens_ && grant_type == "authorization_code") {
    const std::string refresh = random_token();
    refresh_tokens_issued_[refresh] = grant;
    body["refresh_token"] = refresh;
  }
  res.set_header("Cache-Control", "no-store");
  res.set_content(body.dump(), "application/json");
}

void HostileProvider::on_jwks(const httplib::Request&, httplib::Response& res) {
  count(Endpoint::jwks);
  std::lock_guard lock(mu_);
  std::vector<test_support::TestKey> published = {k1_};
  if (second_key_) {
    if (k2_hidden_fetches_ > 0) {
      --k2_hidden_fetches_;
    } else {
      published.push_back(k2_);
    }
  }
  res.set_content(test_support::jwks_json(published), "application/json");
}

void HostileProvider::on_userinfo(const httplib::Request& req, httplib::Response& res) {
  count(Endpoint::userinfo);
  const std::string authorization = req.get_header_value("Authorization");
  std::lock_guard lock(mu_);
  if (authorization.rfind("Bearer ", 0) != 0 || access_tokens_.count(authorization.substr(7)) == 0) {
    res.status = 401;
    res.set_header("WWW-Authenticate", "Bearer error=\"invalid_token\"");
    return;
  }
  json claims = userinfo_;
  if (claims.is_null()) {
    claims = {{"sub", options_.subject}};
    claims.update(id_claims_);
  }
  res.set_content(claims.dump(), "application/json");
}

void HostileProvider::on_logout(const httplib::Request& req, httplib::Response& res) {
  count(Endpoint::logout);
  std::lock_guard lock(mu_);
  last_logout_ = {param(req, "id_token_hint"), param(req, "post_logout_redirect_uri"), param(req, "state"),
                  param(req, "client_id")};
  res.set_content("<!doctype html><title>Signed out</title><p>Signed out of the hostile provider.", "text/html");
}

}  // namespace gatehouse::testing
