#pragma once
// The texts of the outbox's messages, rendered at delivery time in the message's language
// (en, nl, de, it; anything else: en).
//
//   "party.switched"      to a superuser of `tenant`: a consultant switched its effective
//                         party in to or out of acting for that tenant through a delegation.
//     payload {"direction":"in"|"out", "automatic":bool, "user":"source:name",
//              "display_name", "email", "real_party", "real_party_name", "tenant",
//              "tenant_name", "delegation_id":int, "at":unix seconds,
//              "reason":""|"expired"|"revoked"}
//   "delegation.granted"  to the delegate's address: the invitation.
//     payload {"tenant", "tenant_name", "email", "until":unix seconds or 0,
//              "public_url", "granted_by"}
//
// Errors: "notify.bad_payload" (not a JSON object, a field missing or of the wrong type,
// a value out of range), "notify.unknown_kind", "notify.bad_address" (the recipient).
// Values from the payload are made single-line in the body; the subject is sanitised
// (sanitise_header_text), so no payload value can add a header.
#include <string>
#include <string_view>

#include "common/result.h"
#include "notify/mail.h"
#include "store/tenancy_store.h"

namespace gatehouse::notify {

Result<Mail> render(const store::OutboxMessage& message);

// The language a message is written in: "en", "nl", "de" or "it". Matches the primary
// subtag case-insensitively ("nl-BE" -> "nl"); anything else -> "en".
std::string_view message_language(std::string_view language);

// UTC times as the messages show them: "2024-03-01T10:00:00Z" and, per language,
// "1 March 2024 at 10:00 UTC", "1 maart 2024 om 10:00 UTC", "1. März 2024 um 10:00 UTC",
// "1 marzo 2024 alle 10:00 UTC".
std::string rfc3339_utc(std::int64_t t);
std::string human_utc(std::int64_t t, std::string_view language);

}  // namespace gatehouse::notify
