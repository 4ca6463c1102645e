//! Configuration loading shared by every hub binary (TOML file plus HUB_* overrides)
