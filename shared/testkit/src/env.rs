//! Service URLs from the environment, with the local defaults of the test machines.

/// `DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`.
pub fn database_url() -> String {
    var_or(
        "DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/postgres",
    )
}

/// [`database_url`] with its database replaced by `database`: how a process the test starts
/// (a worker binary) reaches the test's own database.
pub fn database_url_for(database: &str) -> String {
    let server = database_url();
    let base = server
        .rsplit_once('/')
        .map_or(server.as_str(), |(base, _)| base);
    format!("{base}/{database}")
}

/// `NATS_URL`, default `nats://127.0.0.1:4222`.
pub fn nats_url() -> String {
    var_or("NATS_URL", "nats://127.0.0.1:4222")
}

/// `REDIS_URL`, default `redis://127.0.0.1:6379`.
pub fn redis_url() -> String {
    var_or("REDIS_URL", "redis://127.0.0.1:6379")
}

fn var_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| default.to_owned())
}
