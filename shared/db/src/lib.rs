//! PostgreSQL schema and queries of the hub
