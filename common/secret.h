#pragma once
// Secrets (passwords, keys, vault values) live in a type that cannot be copied by
// accident, keeps its bytes in sodium_malloc'ed memory (locked against swapping, guard
// pages on both sides, a canary checked when freed), wipes them when it goes, and never
// prints. A moved-from Secret is empty and leaves nothing behind: the bytes are never in
// a std::string's inline buffer.
#include <cstddef>
#include <string>
#include <string_view>

namespace gatehouse {

class Secret {
 public:
  Secret() = default;
  // Copies `value` into secure memory and wipes the caller's string in place: its bytes
  // become NUL, its size stays. Taken by reference, not by value: moving a short string
  // into a parameter copies its inline buffer and leaves the bytes in the caller's.
  explicit Secret(std::string&& value);
  // A copy; the caller's string is the caller's to wipe.
  explicit Secret(const std::string& value) : Secret(copy_of(value)) {}
  static Secret copy_of(std::string_view value);  // the caller wipes `value` itself
  // `size` writable bytes of secure memory, zeroed; fill them through data().
  static Secret with_size(std::size_t size);

  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  Secret(Secret&& other) noexcept : data_(other.data_), size_(other.size_) {
    other.data_ = nullptr;
    other.size_ = 0;
  }
  Secret& operator=(Secret&& other) noexcept;
  ~Secret() { release(); }

  // An explicit second copy, for the rare holder that needs one (e.g. a pool of
  // connections each binding with the same service password).
  Secret clone() const { return copy_of(reveal()); }

  // Deliberately named so that every use is visible in review.
  // Never a null pointer, also when empty: C APIs (libsodium, memcpy) declare their
  // pointers non-null even for zero bytes.
  std::string_view reveal() const { return {static_cast<const char*>(data_ ? data_ : &empty_), size_}; }
  unsigned char* data() { return static_cast<unsigned char*>(data_ ? data_ : &scratch_); }
  const unsigned char* data() const { return static_cast<const unsigned char*>(data_ ? data_ : &empty_); }
  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }

 private:
  void release() noexcept;
  void* data_ = nullptr;
  std::size_t size_ = 0;
  static inline const unsigned char empty_ = 0;
  unsigned char scratch_ = 0;  // what data() of an empty Secret points at (nothing is written)
};

// Process hardening for a holder of secrets: not dumpable (no core file, no ptrace by
// the same user, /proc/PID/mem closed) and a core size limit of zero.
void forbid_core_dumps();

}  // namespace gatehouse
