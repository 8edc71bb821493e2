#include "common/secret.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace gatehouse {
// Named so that the unity build keeps these helpers apart from the other test files'.
namespace secret_cases {
namespace {

// A copy would be a second, unaccounted-for place the bytes live.
static_assert(!std::is_copy_constructible_v<Secret>);
static_assert(!std::is_copy_assignable_v<Secret>);
static_assert(std::is_nothrow_move_constructible_v<Secret>);
static_assert(std::is_nothrow_move_assignable_v<Secret>);
// Nothing converts into a Secret behind the caller's back.
static_assert(!std::is_convertible_v<std::string, Secret>);
static_assert(!std::is_convertible_v<const char*, Secret>);

// Short values fit a std::string's inline buffer, long ones do not; a Secret must leave
// nothing behind in either case.
std::vector<std::string> sample_values() {
  return {std::string("a"), std::string("pw"), std::string(15, 's'), std::string(16, 'l'),
          std::string("with\0nul", 8), std::string(4096, 'x')};
}

void expect_empty(const Secret& s, const std::string& what) {
  EXPECT_TRUE(s.empty()) << what;
  EXPECT_EQ(s.size(), 0u) << what;
  EXPECT_TRUE(s.reveal().empty()) << what;
  // Never null, though: C APIs take the pointer of an empty value too (UBSan's nonnull).
  EXPECT_NE(s.data(), nullptr) << what;
  EXPECT_NE(s.reveal().data(), nullptr) << what;
}

TEST(Secret, DefaultIsEmpty) { expect_empty(Secret(), "default"); }

TEST(Secret, KeepsEveryByteOfItsValue) {
  for (const auto& v : sample_values()) {
    Secret s{std::string(v)};
    EXPECT_EQ(s.size(), v.size());
    EXPECT_EQ(s.reveal(), v);
    EXPECT_FALSE(s.empty());
  }
}

TEST(Secret, EmptyStringGivesAnEmptySecret) {
  expect_empty(Secret(std::string()), "Secret(\"\")");
  expect_empty(Secret::copy_of(""), "copy_of(\"\")");
  expect_empty(Secret::with_size(0), "with_size(0)");
}

TEST(Secret, MoveConstructionEmptiesTheSource) {
  for (const auto& v : sample_values()) {
    Secret source{std::string(v)};
    const unsigned char* storage = source.data();
    Secret target(std::move(source));
    expect_empty(source, "moved-from, " + std::to_string(v.size()) + " bytes");
    EXPECT_EQ(target.reveal(), v);
    // Moved, not copied: no second copy of the bytes was made.
    EXPECT_EQ(target.data(), storage);
  }
}

TEST(Secret, MoveAssignmentEmptiesTheSourceAndReplacesTheTarget) {
  for (const auto& v : sample_values()) {
    Secret source{std::string(v)};
    Secret target{std::string("previous value")};
    target = std::move(source);
    expect_empty(source, "moved-from, " + std::to_string(v.size()) + " bytes");
    EXPECT_EQ(target.reveal(), v);
  }
  Secret target{std::string("previous value")};
  target = Secret();
  expect_empty(target, "assigned an empty Secret");
}

TEST(Secret, SelfMoveAssignmentKeepsTheValue) {
  Secret s{std::string("keep me")};
  Secret& alias = s;
  s = std::move(alias);
  EXPECT_EQ(s.reveal(), "keep me");
}

TEST(Secret, CloneIsAnEqualButSeparateCopy) {
  for (const auto& v : sample_values()) {
    const Secret original{std::string(v)};
    Secret copy = original.clone();
    EXPECT_EQ(copy.reveal(), v);
    EXPECT_EQ(original.reveal(), v);
    EXPECT_NE(copy.data(), original.data());
    copy.data()[0] ^= 1;  // changing the clone leaves the original alone
    EXPECT_EQ(original.reveal(), v);
  }
  expect_empty(Secret().clone(), "clone of empty");
}

TEST(Secret, CopyOfCopiesAndLeavesTheArgumentAlone) {
  for (const auto& v : sample_values()) {
    std::string source = v;
    Secret s = Secret::copy_of(source);
    EXPECT_EQ(s.reveal(), v);
    EXPECT_EQ(source, v) << "copy_of leaves wiping the argument to its caller";
    EXPECT_NE(static_cast<const void*>(s.data()), static_cast<const void*>(source.data()));
  }
}

TEST(Secret, WithSizeIsZeroedAndWritable) {
  for (std::size_t n : {1u, 15u, 16u, 32u, 1000u, 65536u}) {
    Secret s = Secret::with_size(n);
    ASSERT_EQ(s.size(), n);
    EXPECT_EQ(s.reveal(), std::string(n, '\0')) << n;
    for (std::size_t i = 0; i < n; ++i) s.data()[i] = static_cast<unsigned char>('a' + i % 26);
    EXPECT_EQ(s.reveal().front(), 'a');
    EXPECT_EQ(s.reveal().back(), static_cast<char>('a' + (n - 1) % 26));
  }
}

TEST(Secret, MovedInStringIsWipedInPlace) {
  // The caller's own string is checked, not a parameter that is gone afterwards: a short
  // value lives in its inline buffer, which moving it elsewhere would copy and leave.
  for (const auto& v : sample_values()) {
    std::string handed = v;
    Secret s(std::move(handed));
    EXPECT_EQ(s.reveal(), v);
    EXPECT_EQ(handed, std::string(v.size(), '\0')) << v.size() << " bytes left in the caller's string";
  }
}

TEST(Secret, CallersLvalueIsCopiedAndLeftAlone) {
  // A copy is the caller's to wipe; Secret must not pretend otherwise by wiping a copy.
  for (const auto& v : sample_values()) {
    const std::string mine = v;
    Secret s(mine);
    EXPECT_EQ(s.reveal(), v);
    EXPECT_EQ(mine, v);
    EXPECT_NE(static_cast<const void*>(s.data()), static_cast<const void*>(mine.data()));
  }
}

}  // namespace
}  // namespace secret_cases
}  // namespace gatehouse
