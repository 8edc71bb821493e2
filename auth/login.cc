#include "auth/login.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <optional>

#include "common/log.h"
#include "common/text.h"
#include "common/run_blocking.h"

namespace gatehouse::auth {

namespace asio = boost::asio;
using directory::AuthStatus;

namespace {

// How long an attempt waits for earlier ones at the same account or address.
constexpr std::chrono::seconds kBusyWait{15};

// The password was proved right, the account just cannot be used as it is: not a
// guess, so it neither counts towards a lock nor clears the count.
bool password_was_right(AuthStatus s) {
  return s == AuthStatus::password_expired || s == AuthStatus::must_change_password;
}

std::string lock_detail(const Attempt& attempt) {
  const auto& lock = attempt.lock();
  if (!lock) return "account locked: its last allowed attempts are still being checked";
  return "account locked (" + lock->reason + ")" +
         (lock->until == 0 ? std::string(" until an administrator unlocks it")
                           : " until " + config::format_rfc3339(lock->until));
}

}  // namespace

std::string normalise_username(std::string_view raw) {
  raw = trim_blanks(raw);
  if (raw.empty() || raw.size() > 256) return {};
  for (unsigned char c : raw)
    if (c < 0x20 || c == 0x7f) return {};
  return std::string(raw);
}

LoginService::LoginService(std::vector<std::shared_ptr<directory::Directory>> directories,
                           SessionManager& sessions, Lockout& lockout, AuditSink& audit,
                           store::GroupCommit& writer)
    : directories_(std::move(directories)),
      sessions_(sessions),
      lockout_(lockout),
      audit_(audit),
      writer_(writer) {}

void LoginService::audit(AuditEventType type, const std::string& user, const IpAddress& client,
                         const std::string& source, const std::string& detail) {
  // A failure to store is logged by the sink; the login itself goes on.
  (void)audit_.record(AuditEvent{type, user, client, source, "", detail});
}

asio::awaitable<LoginResult> LoginService::ask_directories(const std::string& username, const Secret& password,
                                                           asio::thread_pool& blocking) {
  LoginResult result;
  bool infrastructure_failed = false;
  std::string infrastructure_detail;
  for (const auto& dir : directories_) {
    // (No co_await inside ?: — g++ 12 destroys the temporaries of such expressions twice.)
    std::optional<Result<directory::AuthOutcome>> answer;
    if (dir->asynchronous()) {
      answer.emplace(co_await dir->authenticate_async(username, password));
    } else {
      answer.emplace(co_await run_blocking(blocking, [&] { return dir->authenticate(username, password); }));
    }
    Result<directory::AuthOutcome>& outcome = *answer;
    if (!outcome) {
      infrastructure_failed = true;
      infrastructure_detail = dir->name() + ": " + outcome.error().message;
      continue;
    }
    if (outcome->status == AuthStatus::bad_credentials) {
      result.directory = dir->name();
      result.detail = outcome->detail;
      continue;
    }
    // The password was right for this directory: it decides, whatever the outcome.
    result.directory = dir->name();
    result.outcome = outcome->status;
    result.detail = outcome->detail;
    if (outcome->status == AuthStatus::ok) {
      result.status = LoginStatus::success;
      result.identity = std::move(outcome->identity);
    }
    co_return result;
  }
  if (infrastructure_failed) {
    result.status = LoginStatus::unavailable;
    result.detail = infrastructure_detail;
  }
  co_return result;
}

asio::awaitable<Result<LoginResult>> LoginService::login(std::string raw_username, const Secret& password,
                                                         IpAddress client, asio::thread_pool& blocking) {
  const std::string username = normalise_username(raw_username);
  // Unusable names still count against the client address (and their own account).
  const std::string typed = username.empty() ? raw_username.substr(0, 256) : username;
  const std::string address = client.to_string();

  auto judge = [&] { return lockout_.begin(typed, client); };
  auto attempt = co_await writer_.run(judge);
  if (!attempt) co_return attempt.error();
  LoginResult result;
  // Busy: earlier attempts at this account (or from this address) are still with the
  // directory and could reach a limit; wait for their answers and judge again.
  if (attempt->verdict() == Verdict::busy) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    const auto give_up = std::chrono::steady_clock::now() + kBusyWait;
    while (attempt->verdict() == Verdict::busy && std::chrono::steady_clock::now() < give_up) {
      timer.expires_after(std::chrono::milliseconds(5));
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      attempt = co_await writer_.run(judge);
      if (!attempt) co_return attempt.error();
    }
  }
  switch (attempt->verdict()) {
    case Verdict::busy:
      result.status = LoginStatus::unavailable;
      result.detail = "earlier attempts for this account or address did not finish in time";
      log::error("login.unavailable", {{"user", typed}, {"client", address}, {"detail", result.detail}});
      co_return result;
    case Verdict::throttled:
      // Not audited: a flood of refused requests must not become a flood of rows.
      result.status = LoginStatus::throttled;
      result.retry_after = attempt->retry_after();
      result.detail = "client address throttled after too many failed logins";
      log::warning("login.throttled",
                   {{"user", typed}, {"client", address}, {"retry_after", std::to_string(result.retry_after)}});
      co_return result;
    case Verdict::locked:
      result.outcome = AuthStatus::bad_credentials;
      result.account_locked = true;
      result.detail = lock_detail(*attempt);
      {
        auto st = co_await writer_.run([&]() -> Status {
          audit(AuditEventType::login_locked, typed, client, "", result.detail);
          return Ok{};
        });
        if (!st)
          log::error("audit.store_failed", {{"audit_event", "login.locked"}, {"error", st.error().message}});
      }
      co_return result;
    case Verdict::allowed:
      break;
  }

  if (username.empty()) {
    result.detail = "unusable user name";
  } else if (password.empty()) {
    // An empty password would be an unauthenticated bind in LDAP; refuse it everywhere.
    result.detail = "empty password";
  } else {
    result = co_await ask_directories(username, password, blocking);
  }

  switch (result.status) {
    case LoginStatus::success: {
      // One job: the lockout reset, the session and its audit record commit together.
      auto session = co_await writer_.run([&]() -> Result<NewSession> {
        if (auto st = lockout_.succeeded(*attempt, result.identity.username); !st)
          log::error("lockout.store_failed", {{"user", typed}, {"error", st.error().message}});
        auto created = sessions_.create(result.identity, result.directory);
        if (!created) return created.error();
        audit(AuditEventType::login_success, result.identity.username, client, result.directory,
              result.identity.username == typed ? "" : "signed in as \"" + typed + "\"");
        return created;
      });
      if (!session) co_return session.error();
      result.session = std::move(session.value());
      co_return result;
    }
    case LoginStatus::unavailable:
      // Neither a failure nor a success: the attempt's reservation is simply released.
      log::error("login.unavailable", {{"user", typed}, {"client", address}, {"detail", result.detail}});
      co_return result;
    case LoginStatus::failed:
    case LoginStatus::throttled:
      break;
  }
  std::string detail = std::string(directory::to_string(result.outcome)) +
                       (result.detail.empty() ? "" : ": " + result.detail);
  auto recorded = co_await writer_.run([&]() -> Status {
    if (password_was_right(result.outcome)) {
      audit(AuditEventType::login_failure, typed, client, result.directory, detail);
      return Ok{};
    }
    auto counted = lockout_.failed(*attempt);
    if (!counted) {
      log::error("lockout.store_failed", {{"user", typed}, {"error", counted.error().message}});
    }
    audit(AuditEventType::login_failure, typed, client, result.directory, detail);
    if (counted && counted->locked_now) {
      result.locked_now = true;
      const auto& policy = lockout_.config();
      audit(AuditEventType::lockout_locked, typed, client, result.directory,
            std::to_string(counted->account_failures) + " failed logins within " +
                config::format_duration(policy.window) +
                (counted->locked_until == 0 ? "; locked until an administrator unlocks it"
                                            : "; locked until " + config::format_rfc3339(counted->locked_until)));
    }
    return Ok{};
  });
  if (!recorded)
    log::error("login.store_failed", {{"user", typed}, {"error", recorded.error().message}});
  co_return result;
}

}  // namespace gatehouse::auth
