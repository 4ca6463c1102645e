//! hubctl: command-line tool for flists and the hub

fn main() {}
