//! A protocol-faithful in-process 0-db server for tests
