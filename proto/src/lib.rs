//! Protobuf messages and gRPC service of the hub
