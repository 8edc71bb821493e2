// Sealed blobs (crypto/envelope.h): "gh1.<key id>.<base64url>" as the store keeps tenant
// keys, vault values and system keys. Properties: any text is refused or opened without a
// crash, and only by the key and binding that sealed it; what is sealed opens to itself;
// one changed character, a cut or an added byte makes it refuse.
#include <sodium.h>

#include <cstdint>
#include <string>

#include "crypto/envelope.h"
#include "fuzz.h"

namespace {

using gatehouse::crypto::Binding;
using gatehouse::crypto::Key;

Key fixed_key(std::uint8_t fill) {
  Key key;
  for (std::size_t i = 0; i < Key::size(); ++i) key.data()[i] = static_cast<std::uint8_t>(fill * 13 + i);
  return key;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) { return sodium_init() < 0 ? 1 : 0; }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Key key = fixed_key(1);
  static const Key other = fixed_key(2);
  Binding binding("tenant-secret");
  binding.add("acme").add("api-token").add(std::int64_t{3});
  auto input = gatehouse::fuzz::as_text(data, size);

  // Arbitrary text: refused (it was not sealed here), never a crash.
  FUZZ_CHECK(!gatehouse::crypto::open(key, binding, input), input);
  FUZZ_CHECK(!gatehouse::crypto::open(other, binding, input), input);
  if (auto id = gatehouse::crypto::blob_key_id(input)) FUZZ_CHECK(id->size() == 16, input);

  // The input as a value: opens to itself with the same key and binding only.
  const std::string sealed = gatehouse::crypto::seal(key, binding, input);
  auto opened = gatehouse::crypto::open(key, binding, sealed);
  FUZZ_CHECK(opened && opened->reveal() == input, sealed);
  FUZZ_CHECK(!gatehouse::crypto::open(other, binding, sealed), sealed);
  Binding elsewhere("tenant-secret");
  elsewhere.add("acme").add("api-token").add(std::int64_t{2});
  FUZZ_CHECK(!gatehouse::crypto::open(key, elsewhere, sealed), sealed);

  // One character changed (where the input's first byte says), or cut short.
  if (size > 0) {
    std::string edited = sealed;
    const std::size_t at = data[0] % edited.size();
    edited[at] = edited[at] == 'A' ? 'B' : 'A';
    FUZZ_CHECK(!gatehouse::crypto::open(key, binding, edited), edited);
    FUZZ_CHECK(!gatehouse::crypto::open(key, binding, std::string_view(sealed).substr(0, at)), sealed);
  }
  return 0;
}
