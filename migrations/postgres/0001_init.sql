-- Migration 1: the leader row, the providers' records and their events.
-- Applied by the service at start (src/store/postgres/migrations.rs) inside one transaction that
-- holds an advisory lock, and recorded in mq_lease_schema.

CREATE TABLE IF NOT EXISTS mq_lease_schema (
  version integer PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
);

-- Who owns the state. One row; expiry is judged by the database clock.
CREATE TABLE mq_lease_leader (
  id smallint PRIMARY KEY CHECK (id = 1),
  epoch bigint NOT NULL,
  owner_id text NOT NULL,     -- a random id per process start
  owner_url text NOT NULL,    -- its advertise URL
  expires_at timestamptz NOT NULL
);

-- One versioned record per provider (the store never looks inside).
CREATE TABLE mq_lease_providers (
  key text PRIMARY KEY,
  record bytea NOT NULL
);

-- Each provider's recent history, trimmed by the service.
CREATE TABLE mq_lease_events (
  key text NOT NULL,
  seq bigint NOT NULL,
  event bytea NOT NULL,
  PRIMARY KEY (key, seq)
);
