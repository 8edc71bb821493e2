#include "store/database.h"
#include "store/sqlite_store.h"

namespace gatehouse::store {

Result<std::unique_ptr<Database>> open_database(const config::StoreConfig& config) {
  if (config.backend == "sqlite") {
    auto opened = SqliteStore::open(config.path);
    if (!opened) return opened.error();
    return std::unique_ptr<Database>(std::move(opened.value()));
  }
  return make_error("store.backend", "[store] backend \"" + config.backend + "\" is not part of this build");
}

}  // namespace gatehouse::store
