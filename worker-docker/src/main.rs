//! Worker that converts container images into flists

fn main() {}
