//! Protobuf messages and the gRPC service of the hub, generated from `proto/hub/v1/*.proto`.

#![allow(missing_docs, clippy::all, clippy::pedantic, unreachable_pub)]

/// Version 1 of the hub's protobuf package `hub.v1`.
pub mod v1 {
    tonic::include_proto!("hub.v1");
}
