//! HTTP and gRPC gateway of the Zero-OS hub

fn main() {}
