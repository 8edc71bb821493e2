// A whole configuration file through the loader (config/config.h): parse_config, the
// entry point that load_config and `gatehouse config check` use after reading the file.
// Properties: exactly one of config and errors; every error names the file and a line
// within the text (1 for the file as a whole) and has a message.
#include <algorithm>

#include "config/config.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gatehouse::config;
  auto text = gatehouse::fuzz::as_text(data, size);
  static const std::string file = "fuzz.toml";
  LoadResult result = parse_config(text, file);
  FUZZ_CHECK((result.config == nullptr) == !result.errors.empty(), text);
  const long lines = 1 + std::count(text.begin(), text.end(), '\n');
  for (const auto& e : result.errors) {
    FUZZ_CHECK(e.file == file, e.to_string());
    FUZZ_CHECK(e.line >= 1 && e.line <= lines, e.to_string());
    FUZZ_CHECK(!e.message.empty(), e.to_string());
  }
  return 0;
}
