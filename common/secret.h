#pragma once
// Secrets live in a type that wipes itself and never prints.
#include <sodium.h>

#include <string>
#include <string_view>

namespace gatehouse {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  Secret(const Secret& other) : value_(other.value_) {}
  Secret(Secret&& other) noexcept : value_(std::move(other.value_)) { other.wipe(); }
  Secret& operator=(const Secret& other) {
    if (this != &other) {
      wipe();
      value_ = other.value_;
    }
    return *this;
  }
  Secret& operator=(Secret&& other) noexcept {
    if (this != &other) {
      wipe();
      value_ = std::move(other.value_);
      other.wipe();
    }
    return *this;
  }
  ~Secret() { wipe(); }

  // Deliberately named so that every use is visible in review.
  std::string_view reveal() const { return value_; }
  bool empty() const { return value_.empty(); }
  std::size_t size() const { return value_.size(); }

 private:
  void wipe() {
    if (!value_.empty()) sodium_memzero(value_.data(), value_.size());
    value_.clear();
  }
  std::string value_;
};

}  // namespace gatehouse
