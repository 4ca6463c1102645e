//! Logging, tracing and OpenTelemetry setup, health endpoints and graceful shutdown
