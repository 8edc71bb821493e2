// Request targets and paths (daemon/request_hygiene.h): normalise_target, normalise_path.
// Properties of an accepted path: it starts with '/', has no "//", no "." or ".."
// segment, no byte the path grammar refuses, escapes only as %XX with upper-case hex and
// never for an unreserved character; normalising it again changes nothing, and so does
// normalising the target rebuilt from path and query.
#include "daemon/request_hygiene.h"

#include "common/text.h"
#include "fuzz.h"

namespace {

using gatehouse::normalise_path;
using gatehouse::daemon::normalise_target;

bool upper_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

void check_normal_path(const std::string& p) {
  FUZZ_CHECK(!p.empty() && p[0] == '/', p);
  FUZZ_CHECK(p.find("//") == std::string::npos, p);
  std::size_t start = 1;
  while (start <= p.size()) {
    auto end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    auto seg = std::string_view(p).substr(start, end - start);
    FUZZ_CHECK(seg != "." && seg != "..", p);
    start = end + 1;
  }
  for (std::size_t i = 0; i < p.size(); ++i) {
    auto c = static_cast<unsigned char>(p[i]);
    FUZZ_CHECK(c > 0x20 && c < 0x7f && c != '\\' && c != '#', p);
    if (c == '%') {
      FUZZ_CHECK(i + 2 < p.size() && upper_hex(p[i + 1]) && upper_hex(p[i + 2]), p);
      auto v = static_cast<unsigned char>(gatehouse::hex_value(p[i + 1]) * 16 + gatehouse::hex_value(p[i + 2]));
      FUZZ_CHECK(!gatehouse::is_unreserved(v) && v != '/' && v != '\\' && v >= 0x20 && v != 0x7f, p);
    }
  }
  auto again = normalise_path(p);
  FUZZ_CHECK(again && *again == p, p);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto input = gatehouse::fuzz::as_text(data, size);

  if (auto path = normalise_path(input)) check_normal_path(*path);

  if (auto t = normalise_target(input)) {
    check_normal_path(t.value().path);
    FUZZ_CHECK(t->path.find('?') == std::string::npos, t->path);
    for (unsigned char c : t->query) FUZZ_CHECK(c > 0x20 && c != 0x7f && c != '#', t->query);
    std::string rebuilt = t->path + (t->query.empty() ? "" : "?" + t->query);
    auto again = normalise_target(rebuilt);
    FUZZ_CHECK(again && again->path == t->path && again->query == t->query, rebuilt);
  }
  return 0;
}
