#include "auth/session_codec.h"

namespace gatehouse::auth {

namespace {
constexpr std::string_view kContext = "gatehouse-session-v1";
}  // namespace

SessionCodec::SessionCodec(const crypto::Key& key) : box_(key, std::string(kContext)) {}

std::string SessionCodec::seal(std::string_view session_id) const { return box_.seal(session_id); }

std::optional<std::string> SessionCodec::open(std::string_view cookie_value) const {
  auto id = box_.open(cookie_value, kSessionIdBytes);
  if (!id || id->size() != kSessionIdBytes) return std::nullopt;
  return id;
}

}  // namespace gatehouse::auth
