#pragma once
// The store conformance suite: every backend must pass conformance_test.cc. A backend
// joins with one line beside its own tests (see sqlite_store_test.cc):
//   GATEHOUSE_STORE_CONFORMANCE(Sqlite, sqlite_backend());
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "common/result.h"
#include "store/store.h"
#include "store/tenancy_store.h"
#include "unit/store/temp_dir.h"

namespace gatehouse::store::conformance {

// One open handle on a backend's storage, seen through the narrow interfaces.
struct StoreHandle {
  std::shared_ptr<void> owner;  // keeps the backend object alive
  TenantStore* tenants = nullptr;
  UserStore* users = nullptr;
  SessionStore* sessions = nullptr;
  KeyValueStore* kv = nullptr;
  LockoutStore* lockout = nullptr;
  AuditStore* audit = nullptr;
  TenancyStore* tenancy = nullptr;
  BatchStore* batch = nullptr;
};

struct StoreBackend {
  std::string name;
  // Opens a handle on fresh storage that belongs to `dir`. Calling it again with the
  // same dir opens a second, independent handle on the same data, as a second
  // process (the admin CLI beside the daemon) would.
  std::function<Result<StoreHandle>(const std::filesystem::path& dir)> open;
};

inline void PrintTo(const StoreBackend& backend, std::ostream* os) { *os << backend.name; }

inline std::string backend_name(const ::testing::TestParamInfo<StoreBackend>& info) {
  return info.param.name;
}

class StoreConformanceTest : public ::testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override {
    store_ = open_handle();
    ASSERT_TRUE(store_.owner) << "backend did not open";
  }

  StoreHandle open_handle() {
    auto handle = GetParam().open(dir_.path());
    if (!handle) {
      ADD_FAILURE() << GetParam().name << ": " << handle.error().code << ": "
                    << handle.error().message;
      return {};
    }
    return std::move(handle).value();
  }

  test_support::TempDir dir_;
  StoreHandle store_;
};

inline constexpr std::int64_t kT0 = 1'700'000'000;
inline constexpr const char* kTenant = "acme";

class TenantsTest : public StoreConformanceTest {};
class SessionsTest : public StoreConformanceTest {};
class KeyValueTest : public StoreConformanceTest {};
class LockoutStoreTest : public StoreConformanceTest {};
class AuditStoreTest : public StoreConformanceTest {};

// Users need a home tenant.
class UsersTest : public StoreConformanceTest {
 protected:
  void SetUp() override {
    StoreConformanceTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(store_.tenants->add_tenant({kTenant, kT0, "", ""}).ok());
  }
};

// Two handles on one storage: the admin CLI beside the daemon.
class SharedStorageTest : public UsersTest {};

// The tenancy model (tenancy_store_test.cc): tenants acme and globex exist.
class TenancyStoreTest : public StoreConformanceTest {
 protected:
  void SetUp() override {
    StoreConformanceTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(store_.tenancy) << "backend has no TenancyStore";
    ASSERT_TRUE(store_.tenants->add_tenant({kTenant, kT0, "", ""}).ok());
    ASSERT_TRUE(store_.tenants->add_tenant({"globex", kT0, "", ""}).ok());
    db_ = store_.tenancy;
  }
  TenancyStore* db_ = nullptr;
};

}  // namespace gatehouse::store::conformance

#define GATEHOUSE_STORE_CONFORMANCE(prefix, backend)                                             \
  namespace gatehouse::store::conformance {                                                      \
  INSTANTIATE_TEST_SUITE_P(prefix, TenantsTest, ::testing::Values(backend), backend_name);       \
  INSTANTIATE_TEST_SUITE_P(prefix, UsersTest, ::testing::Values(backend), backend_name);         \
  INSTANTIATE_TEST_SUITE_P(prefix, SessionsTest, ::testing::Values(backend), backend_name);      \
  INSTANTIATE_TEST_SUITE_P(prefix, KeyValueTest, ::testing::Values(backend), backend_name);      \
  INSTANTIATE_TEST_SUITE_P(prefix, SharedStorageTest, ::testing::Values(backend), backend_name); \
  INSTANTIATE_TEST_SUITE_P(prefix, LockoutStoreTest, ::testing::Values(backend), backend_name);  \
  INSTANTIATE_TEST_SUITE_P(prefix, AuditStoreTest, ::testing::Values(backend), backend_name);    \
  INSTANTIATE_TEST_SUITE_P(prefix, TenancyStoreTest, ::testing::Values(backend), backend_name);  \
  }
