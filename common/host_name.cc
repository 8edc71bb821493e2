#include "common/host_name.h"

namespace gatehouse {

bool is_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t label = 0;
  char previous = '.';
  for (char c : name) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (c == '.') {
      if (label == 0 || previous == '-') return false;
      label = 0;
    } else if (alnum || c == '-') {
      if (c == '-' && label == 0) return false;
      if (++label > 63) return false;
    } else {
      return false;
    }
    previous = c;
  }
  return previous != '-' && previous != '.';
}

}  // namespace gatehouse
