//! Worker that merges flists

fn main() {}
