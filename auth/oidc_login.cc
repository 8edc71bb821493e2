#include "auth/oidc_login.h"

#include <sodium.h>

#include <algorithm>
#include <utility>

#include "auth/identity_headers.h"
#include "auth/redirect.h"
#include "common/encoding.h"
#include "common/log.h"

namespace gatehouse::auth {

namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxFlowCookie = 4096;
constexpr std::size_t kMaxProviderState = 64 * 1024;
constexpr std::size_t kCookieStateChars = 16;
constexpr std::int64_t kRetryRefresh = 60;  // provider unreachable: try again after this

std::string random_token() { return base64url_encode(random_bytes(32)); }

std::string s256(std::string_view verifier) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(verifier.data()), verifier.size());
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

bool is_base64url(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

std::string text_of(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::int64_t int_of(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

// A value from the provider for the audit trail: bounded and printable.
std::string printable(std::string_view text, std::size_t max = 200) {
  std::string out;
  for (unsigned char c : text.substr(0, max)) out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
  return out;
}

directory::Identity identity_of(const store::SessionRecord& s) {
  return directory::Identity{s.user, s.email, s.display_name, s.groups, s.real_party, s.email_verified};
}

bool unreachable(const Error& e) { return e.code == "oidc.unreachable"; }

}  // namespace

OidcLogin::OidcLogin(std::vector<std::shared_ptr<oidc::Provider>> providers, SessionManager& sessions,
                     AuditSink& audit, const crypto::Key& flow_key, const crypto::Key& token_key, const Clock& clock)
    : providers_(std::move(providers)),
      sessions_(sessions),
      audit_(audit),
      flow_box_(flow_key, "gatehouse-oidc-flow-v1"),
      token_box_(token_key, "gatehouse-oidc-tokens-v1"),
      clock_(clock),
      memory_(std::make_shared<Memory>()) {
  for (const auto& p : providers_) bearer_enabled_ = bearer_enabled_ || !p->config().bearer_audience.empty();
}

OidcLogin::OidcLogin(std::vector<std::shared_ptr<oidc::Provider>> providers, SessionManager& sessions,
                     AuditSink& audit, const crypto::Key& flow_key, const crypto::Key& token_key, const Clock& clock,
                     const OidcLogin& previous)
    : OidcLogin(std::move(providers), sessions, audit, flow_key, token_key, clock) {
  memory_ = previous.memory_;
}

oidc::Provider* OidcLogin::find(std::string_view name) const {
  for (const auto& p : providers_)
    if (p->name() == name) return p.get();
  return nullptr;
}

std::string OidcLogin::flow_cookie_name(std::string_view state) {
  if (state.size() < kCookieStateChars || state.size() > 128 || !is_base64url(state)) return {};
  return std::string(kOidcFlowCookiePrefix) + std::string(state.substr(0, kCookieStateChars));
}

Result<OidcStart> OidcLogin::start(oidc::Provider& provider, std::string_view rd, const IpAddress& client) {
  Flow flow{provider.name(), random_token(), random_token(), random_token(), safe_redirect(rd), clock_.now()};
  auto location = provider.authorization_url(flow.state, flow.nonce, s256(flow.verifier));
  if (!location) {
    if (!unreachable(location.error()))
      (void)audit_.record(AuditEvent{AuditEventType::login_failure, "", client, provider.name(), "",
                                     printable(location.error().message, 500)});
    return location.error();
  }
  json sealed = {{"p", flow.provider}, {"s", flow.state}, {"n", flow.nonce},
                 {"v", flow.verifier}, {"r", flow.rd},    {"t", flow.created_at}};
  OidcStart out;
  out.location = std::move(*location);
  out.cookie_name = flow_cookie_name(flow.state);
  out.cookie_value = flow_box_.seal(sealed.dump());
  return out;
}

bool OidcLogin::use_state_once(const std::string& state, std::int64_t now) {
  std::lock_guard lock(memory_->mu);
  std::erase_if(memory_->used_states, [now](const auto& kv) { return kv.second < now; });
  return memory_->used_states.emplace(state, now + kOidcFlowLifetime + 60).second;
}

OidcOutcome OidcLogin::fail(oidc::Provider& provider, const IpAddress& client, int status, std::string message,
                            const std::string& detail, const std::string& user) {
  (void)audit_.record(
      AuditEvent{AuditEventType::login_failure, user, client, provider.name(), "", printable(detail, 500)});
  OidcOutcome out;
  out.status = status;
  out.message = std::move(message);
  return out;
}

Result<json> OidcLogin::claims_with_userinfo(oidc::Provider& provider, json claims,
                                             const std::string& access_token, bool always) {
  const auto& c = provider.config();
  if (!c.use_userinfo) return claims;
  // Only when the ID token lacks a claim gatehouse maps: userinfo costs a round trip.
  bool lacking = always;
  for (const std::string* name : {&c.username_claim, &c.email_claim, &c.name_claim, &c.groups_claim, &c.tenant_claim})
    lacking = lacking || (!name->empty() && !claims.contains(*name));
  if (!lacking) return claims;
  auto discovered = provider.discovery();
  if (!discovered) return discovered.error();
  if (discovered->userinfo_endpoint.empty()) return claims;
  auto info = provider.userinfo(access_token);
  if (!info) return info.error();
  // OpenID Connect Core §5.3.2: the userinfo sub must be the ID token's.
  if (text_of(*info, "sub") != text_of(claims, "sub"))
    return make_error("oidc.userinfo", "the userinfo sub \"" + printable(text_of(*info, "sub")) +
                                           "\" is not the ID token's");
  for (auto it = info->begin(); it != info->end(); ++it)
    if (!claims.contains(it.key())) claims[it.key()] = it.value();
  return claims;
}

std::string OidcLogin::seal_state(const ProviderState& s) const {
  json j = {{"id_token", s.id_token}, {"refresh_token", s.refresh_token}, {"sub", s.sub}, {"nonce", s.nonce}};
  return token_box_.seal(j.dump());
}

std::optional<OidcLogin::ProviderState> OidcLogin::open_state(const std::string& sealed) const {
  if (sealed.empty()) return std::nullopt;
  auto plain = token_box_.open(sealed, kMaxProviderState);
  if (!plain) return std::nullopt;
  json j = json::parse(*plain, nullptr, false);
  sodium_memzero(plain->data(), plain->size());
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return ProviderState{text_of(j, "id_token"), text_of(j, "refresh_token"), text_of(j, "sub"), text_of(j, "nonce")};
}

std::int64_t OidcLogin::refresh_at(const json& id_claims, const std::string& refresh_token) const {
  // Without a refresh token the claims stay as they were until the session ends.
  if (refresh_token.empty()) return 0;
  return std::max(int_of(id_claims, "exp"), clock_.now() + 1);
}

OidcOutcome OidcLogin::finish(oidc::Provider& provider, const std::map<std::string, std::string>& query,
                              std::string_view cookie_header, const IpAddress& client) {
  auto param = [&](const char* key) {
    auto it = query.find(key);
    return it == query.end() ? std::string() : it->second;
  };
  const std::string again = "Please go back to the sign-in page and try again.";
  const std::string state = param("state");
  const std::string cookie_name = flow_cookie_name(state);
  if (cookie_name.empty())
    return fail(provider, client, 400, "This sign-in link is not valid. " + again,
                "callback without a valid state parameter");
  const std::string sealed(find_cookie(cookie_header, cookie_name));
  if (sealed.empty())
    return fail(provider, client, 400, "This sign-in link is not valid in this browser, or it has expired. " + again,
                "state mismatch: no sign-in with this state was started in this browser (or it expired)");
  std::optional<std::string> opened = flow_box_.open(sealed, kMaxFlowCookie);
  json flow = opened ? json::parse(*opened, nullptr, false) : json();
  if (!flow.is_object())
    return fail(provider, client, 400, "This sign-in link is not valid. " + again, "the sign-in cookie is not valid");
  if (!constant_time_equal(text_of(flow, "s"), state))
    return fail(provider, client, 400, "This sign-in link is not valid. " + again, "state mismatch");
  if (text_of(flow, "p") != provider.name())
    return fail(provider, client, 400, "This sign-in link is not valid. " + again,
                "the sign-in was started for provider \"" + printable(text_of(flow, "p")) + "\"");
  const std::int64_t now = clock_.now();
  if (now - int_of(flow, "t") > kOidcFlowLifetime)
    return fail(provider, client, 400, "The sign-in took too long. " + again, "the sign-in started more than " +
                                                                            std::to_string(kOidcFlowLifetime) +
                                                                            " s ago");
  if (!use_state_once(state, now))
    return fail(provider, client, 400, "This sign-in link was already used. " + again, "replayed state");

  const std::string display = provider.config().display_name;
  if (const std::string error = param("error"); !error.empty())
    return fail(provider, client, 401, "The sign-in at " + display + " was cancelled or refused. " + again,
                "the provider answered error=" + printable(error, 64) +
                    (param("error_description").empty() ? "" : " (" + printable(param("error_description")) + ")"));
  // RFC 9207: a provider that names itself in the callback must name the right issuer.
  if (const std::string iss = param("iss"); !iss.empty() && iss != provider.config().issuer)
    return fail(provider, client, 401, "The sign-in could not be completed. " + again,
                "the callback's iss \"" + printable(iss) + "\" is not the configured issuer");
  const std::string code = param("code");
  if (code.empty() || code.size() > 4096)
    return fail(provider, client, 400, "This sign-in link is not valid. " + again, "callback without a code");

  const std::string invalid = "The sign-in at " + display + " could not be completed. " + again;
  auto tokens = provider.redeem_code(code, text_of(flow, "v"));
  if (!tokens) {
    if (unreachable(tokens.error())) {
      log::error("oidc.unreachable", {{"provider", provider.name()}, {"error", tokens.error().message}});
      OidcOutcome out;
      out.status = 503;
      out.message = display + " cannot be reached right now. Please try again in a moment.";
      return out;
    }
    return fail(provider, client, 401, invalid, tokens.error().message);
  }
  auto verified = provider.verify(tokens->id_token);
  if (!verified) return fail(provider, client, 401, invalid, "ID token refused: " + verified.error().message);
  oidc::IdTokenExpectations expected{provider.config().issuer, provider.config().client_id, text_of(flow, "n"),
                                     now, provider.config().clock_skew.count()};
  if (auto st = oidc::check_id_token(verified->claims, expected); !st)
    return fail(provider, client, 401, invalid, "ID token refused: " + st.error().message);
  auto claims = claims_with_userinfo(provider, verified->claims, tokens->access_token, false);
  if (!claims) return fail(provider, client, 401, invalid, claims.error().message);
  auto identity = provider.identity(*claims);
  if (!identity) return fail(provider, client, 401, invalid, identity.error().message);

  ProviderState kept{tokens->id_token, tokens->refresh_token, text_of(verified->claims, "sub"), text_of(flow, "n")};
  auto session = sessions_.create(*identity, provider.name(), seal_state(kept),
                                  refresh_at(verified->claims, tokens->refresh_token));
  if (!session) {
    log::error("oidc.session_failed", {{"provider", provider.name()}, {"error", session.error().message}});
    OidcOutcome out;
    out.status = 503;
    out.message = "Sign-in is temporarily unavailable. Please try again in a moment.";
    return out;
  }
  (void)audit_.record(AuditEvent{AuditEventType::login_success, identity->username, client, provider.name(), "",
                                 "sub " + printable(text_of(verified->claims, "sub"))});
  OidcOutcome out;
  out.ok = true;
  out.session = std::move(*session);
  out.rd = safe_redirect(text_of(flow, "r"));
  return out;
}

RefreshOutcome OidcLogin::refresh(const store::SessionRecord& session) {
  const std::int64_t now = clock_.now();
  if (session.refresh_at == 0 || now < session.refresh_at) return RefreshOutcome::not_due;
  oidc::Provider* provider = find(session.source);
  if (provider == nullptr) return RefreshOutcome::not_due;  // provider no longer configured
  {
    std::lock_guard lock(memory_->mu);
    if (!memory_->refreshing.insert(session.id).second) return RefreshOutcome::not_due;
  }
  struct Done {
    OidcLogin& self;
    const std::string& id;
    ~Done() {
      std::lock_guard lock(self.memory_->mu);
      self.memory_->refreshing.erase(id);
    }
  } done{*this, session.id};

  auto end = [&](const std::string& why) {
    (void)sessions_.end_id(session.id);
    (void)audit_.record(AuditEvent{AuditEventType::session_expired, session.user, std::nullopt, session.source, "",
                                   printable("refresh refused: " + why, 500)});
    return RefreshOutcome::ended;
  };
  auto state = open_state(session.provider_state);
  if (!state || state->refresh_token.empty()) {
    (void)sessions_.update(session.id, session.source, identity_of(session), session.provider_state, 0);
    return RefreshOutcome::not_due;
  }
  auto tokens = provider->refresh(state->refresh_token);
  if (!tokens) {
    if (unreachable(tokens.error())) {
      log::warning("oidc.refresh_postponed", {{"provider", provider->name()}, {"user", session.user},
                                              {"error", tokens.error().message}});
      (void)sessions_.update(session.id, session.source, identity_of(session), session.provider_state, now + kRetryRefresh);
      return RefreshOutcome::postponed;
    }
    return end(tokens.error().message);
  }
  json claims = {{"sub", state->sub}};
  std::int64_t next = tokens->expires_in > 0 ? now + tokens->expires_in : now + 300;
  if (!tokens->id_token.empty()) {
    auto verified = provider->verify(tokens->id_token);
    if (!verified) return end("ID token: " + verified.error().message);
    claims = verified->claims;
    // A refreshed ID token carries the original nonce if any (Core §12.2).
    if (!claims.contains("nonce")) claims["nonce"] = state->nonce;
    oidc::IdTokenExpectations expected{provider->config().issuer, provider->config().client_id, state->nonce, now,
                                       provider->config().clock_skew.count()};
    if (auto st = oidc::check_id_token(claims, expected); !st) return end("ID token: " + st.error().message);
    if (text_of(claims, "sub") != state->sub) return end("the refreshed ID token is for another sub");
    next = std::max(int_of(claims, "exp"), now + 1);
    state->id_token = tokens->id_token;
  }
  if (tokens->id_token.empty()) {
    // No new ID token: fresh claims can only come from userinfo. Without it, the
    // session keeps its claims and the new tokens.
    auto discovered = provider->discovery();
    if (!provider->config().use_userinfo || !discovered || discovered->userinfo_endpoint.empty()) {
      if (!tokens->refresh_token.empty()) state->refresh_token = tokens->refresh_token;
      (void)sessions_.update(session.id, session.source, identity_of(session), seal_state(*state), next);
      return RefreshOutcome::refreshed;
    }
  }
  auto merged = claims_with_userinfo(*provider, claims, tokens->access_token, tokens->id_token.empty());
  if (!merged) {
    if (unreachable(merged.error())) {
      (void)sessions_.update(session.id, session.source, identity_of(session), session.provider_state, now + kRetryRefresh);
      return RefreshOutcome::postponed;
    }
    return end(merged.error().message);
  }
  auto identity = provider->identity(*merged);
  if (!identity) return end(identity.error().message);
  if (!tokens->refresh_token.empty()) state->refresh_token = tokens->refresh_token;  // rotation
  if (auto st = sessions_.update(session.id, session.source, *identity, seal_state(*state), next); !st) {
    log::error("oidc.refresh_store_failed", {{"user", session.user}, {"error", st.error().message}});
    return RefreshOutcome::postponed;
  }
  log::info("oidc.refreshed", {{"provider", provider->name()}, {"user", identity->username}});
  return RefreshOutcome::refreshed;
}

std::string OidcLogin::end_session_url(const store::SessionRecord& session,
                                       std::string_view post_logout_redirect_uri) {
  oidc::Provider* provider = find(session.source);
  if (provider == nullptr || session.provider_state.empty()) return {};
  auto discovered = provider->discovery();
  if (!discovered || discovered->end_session_endpoint.empty()) return {};
  std::vector<std::pair<std::string, std::string>> fields;
  if (auto state = open_state(session.provider_state); state && !state->id_token.empty())
    fields.emplace_back("id_token_hint", state->id_token);
  fields.emplace_back("post_logout_redirect_uri", std::string(post_logout_redirect_uri));
  fields.emplace_back("client_id", provider->config().client_id);
  std::string url = discovered->end_session_endpoint;
  url += url.find('?') == std::string::npos ? '?' : '&';
  return url + oidc::form_body(fields);
}

oidc::Provider* OidcLogin::bearer_provider(std::string_view token, Error& why) const {
  // The issuer picks the provider whose keys verify the token; nothing of the payload
  // is trusted before that.
  const auto first = token.find('.');
  const auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.size() > 64 * 1024) {
    why = make_error("jwt.malformed", "not a compact JWS");
    return nullptr;
  }
  auto payload = base64url_decode(token.substr(first + 1, second - first - 1));
  json claims = payload ? json::parse(*payload, nullptr, false) : json();
  if (!claims.is_object()) {
    why = make_error("jwt.malformed", "the payload is not a JSON object");
    return nullptr;
  }
  const std::string iss = text_of(claims, "iss");
  for (const auto& p : providers_)
    if (!p->config().bearer_audience.empty() && p->config().issuer == iss) return p.get();
  why = make_error("jwt.claims", "no provider accepts bearer tokens from issuer \"" + printable(iss) + "\"");
  return nullptr;
}

Result<store::SessionRecord> OidcLogin::bearer_identity(oidc::Provider& provider, const oidc::VerifiedJwt& jwt) {
  const std::int64_t now = clock_.now();
  oidc::AccessTokenExpectations expected{provider.config().issuer, provider.config().bearer_audience, now,
                                         provider.config().clock_skew.count()};
  if (auto st = oidc::check_access_token(jwt.claims, expected); !st) return st.error();
  auto identity = provider.identity(jwt.claims, /*fallback_to_sub=*/true);
  if (!identity) return identity.error();
  store::SessionRecord r;
  r.user = identity->username;
  r.email = identity->email;
  r.email_verified = identity->email_verified;
  r.display_name = identity->display_name;
  r.groups = identity->groups;
  r.real_party = r.effective_party = identity->tenant;
  r.source = provider.name();
  r.created_at = r.last_seen = now;
  return r;
}

Result<store::SessionRecord> OidcLogin::bearer(std::string_view token) {
  Error why;
  oidc::Provider* provider = bearer_provider(token, why);
  if (provider == nullptr) return why;
  auto verified = provider->verify(token);
  if (!verified) return verified.error();
  return bearer_identity(*provider, *verified);
}

std::optional<Result<store::SessionRecord>> OidcLogin::bearer_cached(std::string_view token) {
  Error why;
  oidc::Provider* provider = bearer_provider(token, why);
  if (provider == nullptr) return Result<store::SessionRecord>(why);
  auto verified = provider->verify_cached(token);
  if (!verified) return std::nullopt;
  if (!*verified) return Result<store::SessionRecord>(verified->error());
  return bearer_identity(*provider, **verified);
}

}  // namespace gatehouse::auth
