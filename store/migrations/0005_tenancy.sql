-- The tenancy model (store/tenancy.h): tenants' display names and languages, superusers
-- named by an administrator, users as of their latest sign-in, delegations, each user's
-- choice of effective party, the e-mail outbox and usage counts.
-- A user is its source (directory or provider) plus its name there. Timestamps are Unix
-- seconds; 0 means "none" wherever a time is optional. No new table or column takes a
-- name that SQLite or PostgreSQL reserves (user, until, order…), so a PostgreSQL backend
-- can use the same names unquoted.

ALTER TABLE tenants ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN language TEXT NOT NULL DEFAULT '';

CREATE TABLE tenant_superusers (
  tenant   TEXT NOT NULL REFERENCES tenants(name),
  source   TEXT NOT NULL,
  name     TEXT NOT NULL,
  added_at INTEGER NOT NULL,
  PRIMARY KEY (tenant, source, name)
) WITHOUT ROWID;
-- The tenants a user is superuser of.
CREATE INDEX tenant_superusers_user ON tenant_superusers(source, name, tenant);

CREATE TABLE known_users (
  source       TEXT NOT NULL,
  name         TEXT NOT NULL,
  email        TEXT NOT NULL DEFAULT '',
  display_name TEXT NOT NULL DEFAULT '',
  real_party   TEXT NOT NULL DEFAULT '',
  superuser_of TEXT NOT NULL DEFAULT '',  -- sorted tenant names, each followed by U+001F
  last_sign_in INTEGER NOT NULL,
  PRIMARY KEY (source, name)
) WITHOUT ROWID;

-- AUTOINCREMENT: an id is never given twice, even after the newest row is deleted, so
-- a choice or an activity row never comes to rest on somebody else's delegation.
CREATE TABLE delegations (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant          TEXT NOT NULL REFERENCES tenants(name),
  email           TEXT NOT NULL,  -- lower-cased (ASCII)
  granted_by      TEXT NOT NULL DEFAULT '',
  created_at      INTEGER NOT NULL,
  ends_at         INTEGER NOT NULL DEFAULT 0,  -- 0: no end
  revoked_at      INTEGER NOT NULL DEFAULT 0,  -- 0: not revoked
  revoked_by      TEXT NOT NULL DEFAULT '',
  expiry_recorded INTEGER NOT NULL DEFAULT 0 CHECK (expiry_recorded IN (0, 1))
);
-- A delegate's delegations by tenant (the rowid in every index keeps each tenant's in
-- id order); a tenant's delegations (also the foreign key's index); the ended ones whose
-- expiry is still to be recorded.
CREATE INDEX delegations_email ON delegations(email, tenant);
CREATE INDEX delegations_tenant ON delegations(tenant);
CREATE INDEX delegations_unrecorded_end ON delegations(ends_at)
  WHERE expiry_recorded = 0 AND revoked_at = 0 AND ends_at != 0;

-- What each user acts for; delegation_id 0: its own tenant. No foreign key on
-- delegation_id, whose 0 names no row.
CREATE TABLE party_choices (
  source        TEXT NOT NULL,
  name          TEXT NOT NULL,
  party         TEXT NOT NULL,
  delegation_id INTEGER NOT NULL DEFAULT 0,
  chosen_at     INTEGER NOT NULL,
  notice        TEXT NOT NULL DEFAULT '',  -- '', 'switched', 'ended'
  PRIMARY KEY (source, name)
) WITHOUT ROWID;
CREATE INDEX party_choices_delegation ON party_choices(delegation_id);

CREATE TABLE delegation_activity (
  delegation_id   INTEGER NOT NULL REFERENCES delegations(id),
  source          TEXT NOT NULL,
  name            TEXT NOT NULL,
  email           TEXT NOT NULL DEFAULT '',
  real_party      TEXT NOT NULL DEFAULT '',
  last_switch_in  INTEGER NOT NULL DEFAULT 0,
  last_switch_out INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (delegation_id, source, name)
) WITHOUT ROWID;

-- E-mails waiting to be sent. A sender claims a message by setting lease_until; until
-- then no other sender takes it. AUTOINCREMENT: ids are never reused after pruning.
CREATE TABLE outbox (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  created_at      INTEGER NOT NULL,
  recipient       TEXT NOT NULL,
  kind            TEXT NOT NULL,
  language        TEXT NOT NULL DEFAULT '',
  payload         TEXT NOT NULL DEFAULT '{}',  -- JSON object, never a secret
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT NOT NULL DEFAULT '',
  sent_at         INTEGER NOT NULL DEFAULT 0,  -- 0: pending
  lease_until     INTEGER NOT NULL DEFAULT 0   -- claimed by a sender until then
);
-- Pending messages by when they are due (claims, the pending list and its stats); sent
-- ones by when they were sent (pruning).
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE sent_at = 0;
CREATE INDEX outbox_sent ON outbox(sent_at) WHERE sent_at != 0;

-- Requests per day, effective party, route and delegation. Writers only ever add.
CREATE TABLE usage_counts (
  day                 TEXT NOT NULL,  -- YYYY-MM-DD (UTC)
  effective_party     TEXT NOT NULL,
  route               TEXT NOT NULL,
  delegation_id       INTEGER NOT NULL DEFAULT 0,  -- 0: not delegated
  delegate_real_party TEXT NOT NULL DEFAULT '',
  requests            INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (day, effective_party, route, delegation_id, delegate_real_party)
) WITHOUT ROWID;
-- One tenant's usage by day (the report for a tenant, its delegations' usage).
CREATE INDEX usage_counts_party ON usage_counts(effective_party, day);
