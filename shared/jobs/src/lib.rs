//! Job queue on NATS JetStream, upload staging and the worker runtime
