#pragma once
// In-memory fakes and helpers shared by the auth unit tests. They follow the documented
// semantics of the store and directory interfaces, count their calls and can be told
// to fail, so the tests can assert what the code under test asked for.
#include <sodium.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crypto/keys.h"
#include "common/result.h"
#include "common/secret.h"
#include "directory/directory.h"
#include "store/store.h"

namespace gatehouse::auth::testing_support {

using crypto::Key;
using crypto::MasterKey;

inline Key random_key() {
  if (sodium_init() < 0) throw std::runtime_error("sodium_init failed");
  return Key::random();
}

inline MasterKey random_master_key() { return MasterKey::from_key(random_key()); }

class FakeSessionStore final : public store::SessionStore {
 public:
  struct ExpiredCall {
    std::int64_t created_before;
    std::int64_t idle_before;
  };

  Status create_session(const store::SessionRecord& record) override {
    ++create_calls;
    if (fail_create) return make_error("store.io", "injected create failure");
    if (sessions.count(record.id) != 0) return make_error("store.exists", "id in use");
    sessions[record.id] = record;
    return Ok{};
  }

  Result<std::optional<store::SessionRecord>> find_session(const std::string& id) override {
    ++find_calls;
    if (fail_find) return make_error("store.io", "injected find failure");
    auto it = sessions.find(id);
    if (it == sessions.end()) return std::optional<store::SessionRecord>{};
    return std::optional<store::SessionRecord>{it->second};
  }

  Status touch_session(const std::string& id, std::int64_t last_seen) override {
    ++touch_calls;
    touched_at.push_back(last_seen);
    if (fail_touch) return make_error("store.io", "injected touch failure");
    auto it = sessions.find(id);
    if (it == sessions.end()) return make_error("store.not_found", "no such session");
    if (last_seen > it->second.last_seen) it->second.last_seen = last_seen;
    return Ok{};
  }

  Status delete_session(const std::string& id) override {
    ++delete_calls;
    if (fail_delete) return make_error("store.io", "injected delete failure");
    sessions.erase(id);
    return Ok{};
  }

  Result<std::int64_t> delete_expired_sessions(std::int64_t created_before,
                                               std::int64_t idle_before) override {
    expired_calls.push_back({created_before, idle_before});
    if (fail_delete_expired) return make_error("store.io", "injected sweep failure");
    std::int64_t n = 0;
    for (auto it = sessions.begin(); it != sessions.end();) {
      if (it->second.created_at < created_before || it->second.last_seen < idle_before) {
        it = sessions.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    return n;
  }

  Result<std::int64_t> count_sessions(std::int64_t created_since, std::int64_t seen_since) override {
    std::int64_t n = 0;
    for (const auto& [id, r] : sessions)
      if (r.created_at >= created_since && r.last_seen >= seen_since) ++n;
    return n;
  }

  Status update_session(const std::string& id, const store::SessionUpdate& u) override {
    auto it = sessions.find(id);
    if (it == sessions.end()) return make_error("store.not_found", "no such session");
    auto& r = it->second;
    r.user = u.user;
    r.email = u.email;
    r.display_name = u.display_name;
    r.groups = u.groups;
    r.real_party = u.real_party;
    r.effective_party = u.effective_party;
    r.provider_state = u.provider_state;
    r.refresh_at = u.refresh_at;
    return Ok{};
  }

  Result<std::int64_t> delete_user_sessions(const std::string& user) override {
    std::int64_t n = 0;
    for (auto it = sessions.begin(); it != sessions.end();) {
      if (it->second.user == user) {
        it = sessions.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    return n;
  }

  std::map<std::string, store::SessionRecord> sessions;
  int create_calls = 0;
  int find_calls = 0;
  int touch_calls = 0;
  int delete_calls = 0;
  std::vector<std::int64_t> touched_at;
  std::vector<ExpiredCall> expired_calls;
  bool fail_create = false;
  bool fail_find = false;
  bool fail_touch = false;
  bool fail_delete = false;
  bool fail_delete_expired = false;
};

class FakeKeyValueStore final : public store::KeyValueStore {
 public:
  Result<std::optional<std::string>> get_value(const std::string& key) override {
    ++get_calls;
    if (fail) return make_error("store.io", "injected get failure");
    auto it = values.find(key);
    if (it == values.end()) return std::optional<std::string>{};
    return std::optional<std::string>{it->second};
  }

  Result<std::string> put_value_if_absent(const std::string& key, const std::string& value) override {
    ++put_calls;
    if (fail) return make_error("store.io", "injected put failure");
    return values.emplace(key, value).first->second;
  }

  Result<bool> replace_value(const std::string& key, const std::string& expected, const std::string& value) override {
    if (fail) return make_error("store.io", "injected replace failure");
    auto it = values.find(key);
    if (it == values.end() || it->second != expected) return false;
    it->second = value;
    return true;
  }

  Result<bool> remove_value(const std::string& key) override {
    if (fail) return make_error("store.io", "injected remove failure");
    return values.erase(key) == 1;
  }

  std::map<std::string, std::string> values;
  int get_calls = 0;
  int put_calls = 0;
  bool fail = false;
};

// A directory that answers every authenticate() with one scripted result and records
// the user names it was asked about.
class FakeDirectory final : public directory::Directory {
 public:
  FakeDirectory(std::string name, Result<directory::AuthOutcome> answer)
      : name_(std::move(name)), answer_(std::move(answer)) {}

  static directory::AuthOutcome outcome(directory::AuthStatus status, std::string username = "",
                                        std::string tenant = "") {
    directory::AuthOutcome o;
    o.status = status;
    o.detail = std::string(directory::to_string(status));
    if (status == directory::AuthStatus::ok) {
      o.identity.username = std::move(username);
      o.identity.email = o.identity.username + "@example.org";
      o.identity.display_name = "Display " + o.identity.username;
      o.identity.groups = {"staff", "admins"};
      o.identity.tenant = std::move(tenant);
    }
    return o;
  }

  const std::string& name() const override { return name_; }
  // true: the login flow awaits authenticate_async() (the default, which answers
  // inline) instead of running authenticate() on its blocking pool.
  bool asynchronous() const override { return asynchronous_answers; }

  Result<directory::AuthOutcome> authenticate(std::string_view username,
                                              const Secret& password) override {
    asked.emplace_back(username);
    passwords.emplace_back(password.reveal());
    return answer_;
  }

  std::vector<std::string> asked;
  std::vector<std::string> passwords;
  bool asynchronous_answers = false;

 private:
  std::string name_;
  Result<directory::AuthOutcome> answer_;
};

// A fresh directory per test, removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "gatehouse-auth-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed for " + pattern);
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string file(std::string_view name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace gatehouse::auth::testing_support
