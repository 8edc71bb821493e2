#pragma once
// The one place a request's principal is built: the session (or bearer token) says who
// the user is; the user's stored choice of effective party, checked against the
// delegation it rests on at this very second, says for whom it acts.
//
// Choices are cached per user for `ttl` (one second): a switch in this process is seen at
// once (forget()), a revoke by the CLI or another instance within the ttl, and the end of
// a delegation exactly, since its end time is compared with the clock on every request.
#include <chrono>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "auth/principal.h"
#include "common/clock.h"
#include "store/store.h"
#include "store/tenancy_store.h"
#include "tenancy/tenancy.h"

namespace gatehouse::tenancy {

class PrincipalResolver {
 public:
  PrincipalResolver(Tenancy& tenancy, store::TenancyStore& store, const Clock& clock,
                    std::chrono::milliseconds ttl = std::chrono::milliseconds(1000));

  // The principal when it needs no store call; std::nullopt when only resolve() can tell
  // (run it off the event loops). `expires_at`: the session's end.
  std::optional<auth::Principal> resolve_cached(const store::SessionRecord& identity, std::int64_t expires_at,
                                                bool bearer);
  // Reads the choice, and switches the user out of a delegation that no longer holds.
  Result<auth::Principal> resolve(const store::SessionRecord& identity, std::int64_t expires_at, bool bearer);

  // Fills in the parties' display names (for pages, the banner, e-mails): not on every
  // proxied request, only where people read them.
  void name_parties(auth::Principal& p);

  // After this process changed the user's choice (a switch, a notice shown).
  void forget(const store::UserRef& user);

 private:
  struct Entry {
    std::optional<store::PartyChoiceView> view;
    std::chrono::steady_clock::time_point fetched;
  };
  enum class Verdict { own, delegated, ended };
  Verdict judge(const auth::Principal& base, const std::optional<store::PartyChoiceView>& view,
                std::string* reason) const;
  auth::Principal base_of(const store::SessionRecord& s, std::int64_t expires_at, bool bearer);
  void apply(auth::Principal& p, const std::optional<store::PartyChoiceView>& view, Verdict verdict);
  static std::string key_of(const store::UserRef& u);

  Tenancy& tenancy_;
  store::TenancyStore& store_;
  const Clock& clock_;
  std::chrono::milliseconds ttl_;
  std::shared_mutex mu_;
  std::unordered_map<std::string, Entry> cache_;
};

}  // namespace gatehouse::tenancy
