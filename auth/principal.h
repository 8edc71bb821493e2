#pragma once
// The principal: who is asking, and for which organisation, resolved once per request
// (tenancy::PrincipalResolver) after the session or bearer token is known. The identity
// headers, the assertion, /.gatehouse/whoami and the access decision are all rendered
// from it and from nothing else.
#include <cstdint>
#include <string>
#include <vector>

#include "store/tenancy_store.h"

namespace gatehouse::auth {

struct Principal {
  store::UserRef user;  // source (directory or provider) + name there
  std::string email;
  bool email_verified = false;
  std::string display_name;
  std::vector<std::string> groups;
  std::vector<std::string> roles;
  std::string real_party;       // the user's own tenant
  std::string effective_party;  // the tenant it acts for now
  std::int64_t delegation_id = 0;     // 0: acting for the own tenant
  std::int64_t delegation_until = 0;  // 0: no end (or not delegated)
  std::string session_id;             // "" for a bearer token
  std::int64_t expires_at = 0;        // the session's (or token's) end, capped at delegation_until
  bool bearer = false;
  // For pages: display names of both parties (PrincipalResolver::name_parties), and a
  // one-time notice ("switched", "ended").
  std::string real_party_name;
  std::string effective_party_name;
  std::string notice;

  bool delegated() const { return delegation_id != 0; }
  std::string delegation_text() const { return delegation_id == 0 ? std::string() : std::to_string(delegation_id); }
};

}  // namespace gatehouse::auth
