#include "common/secret.h"

#include <sodium.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace gatehouse {
namespace {

void* secure_alloc(std::size_t size) {
  // sodium_malloc needs the page size sodium_init() records; calling it again is cheap.
  static const bool ready = sodium_init() >= 0;
  if (!ready) std::abort();
  void* p = sodium_malloc(size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace

Secret::Secret(std::string&& value) {
  if (!value.empty()) {
    data_ = secure_alloc(value.size());
    std::memcpy(data_, value.data(), value.size());
    size_ = value.size();
    sodium_memzero(value.data(), value.size());
  }
}

Secret Secret::copy_of(std::string_view value) {
  Secret s;
  if (!value.empty()) {
    s.data_ = secure_alloc(value.size());
    std::memcpy(s.data_, value.data(), value.size());
    s.size_ = value.size();
  }
  return s;
}

Secret Secret::with_size(std::size_t size) {
  Secret s;
  if (size > 0) {
    s.data_ = secure_alloc(size);
    sodium_memzero(s.data_, size);
    s.size_ = size;
  }
  return s;
}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    release();
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

void Secret::release() noexcept {
  if (data_ != nullptr) sodium_free(data_);  // wipes, then unmaps with its guard pages
  data_ = nullptr;
  size_ = 0;
}

void forbid_core_dumps() {
  struct rlimit none {};
  ::setrlimit(RLIMIT_CORE, &none);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

}  // namespace gatehouse
