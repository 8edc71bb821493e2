// application/x-www-form-urlencoded bodies and query strings (daemon/form.h): parse_form.
// Properties: at most one field per '&'-separated part; encoding the fields again with
// url_encode ("k=v&…") and parsing that gives the same fields in the same order;
// form_value finds the first value of a name; wipe_form empties the fields.
#include "daemon/form.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gatehouse::daemon;
  auto text = gatehouse::fuzz::as_text(data, size);
  FormFields fields = parse_form(text);

  std::size_t parts = 1;
  for (char c : text) parts += c == '&';
  FUZZ_CHECK(fields.size() <= parts, text);

  std::string encoded;
  for (const auto& [k, v] : fields) {
    if (!encoded.empty()) encoded += '&';
    encoded += url_encode(k) + "=" + url_encode(v);
  }
  FUZZ_CHECK(parse_form(encoded) == fields, encoded);

  // form_value finds the first value (checked for the first 16 fields: it is a linear search).
  for (std::size_t i = 0; i < fields.size() && i < 16; ++i) {
    const auto& k = fields[i].first;
    for (const auto& [k2, v2] : fields) {
      if (k2 == k) {
        FUZZ_CHECK(form_value(fields, k) == v2, k);
        break;
      }
    }
  }
  wipe_form(fields);
  FUZZ_CHECK(fields.empty(), text);
  return 0;
}
