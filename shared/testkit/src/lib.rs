//! Helpers for tests against the real PostgreSQL, NATS and Redis
