//! Worker that converts uploaded archives into flists and verifies uploaded flists

fn main() {}
