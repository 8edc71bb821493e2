-- The tenant vault: one data key per tenant, wrapped by the master key, and named
-- secrets sealed by it. A removed secret keeps its row (sealed is NULL) so that its
-- version number is never used again: an old sealed value cannot come back as new.
CREATE TABLE tenant_keys (
  tenant     TEXT PRIMARY KEY NOT NULL,
  key_id     TEXT NOT NULL,
  wrapped    TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TABLE vault_secrets (
  tenant     TEXT NOT NULL,
  name       TEXT NOT NULL,
  version    INTEGER NOT NULL CHECK (version >= 1),
  sealed     TEXT,
  updated_at INTEGER NOT NULL,
  updated_by TEXT NOT NULL,
  PRIMARY KEY (tenant, name)
);

-- Bumped by every change to the two tables above; daemons poll it each second.
CREATE TABLE vault_state (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  generation INTEGER NOT NULL
);
INSERT INTO vault_state (id, generation) VALUES (1, 0);
