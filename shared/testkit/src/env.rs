//! Service URLs from the environment, with the local defaults of the test machines.

use crate::TestkitError;

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

/// The address of an optional test service in variable `var` (`./hub test` starts the test
/// registries and podman and sets their variables): `Ok(None)` when unset, so that the test
/// skips; an error when set but nothing answers there, so that a broken set-up fails loudly
/// instead of skipping. `unix://` addresses are sockets, anything else `host:port`.
pub fn optional_service(var: &str) -> Result<Option<String>, TestkitError> {
    match std::env::var(var).ok().filter(|value| !value.is_empty()) {
        Some(value) => answering(var, value).map(Some),
        None => Ok(None),
    }
}

fn answering(var: &str, value: String) -> Result<String, TestkitError> {
    let reachable = match value.strip_prefix("unix://") {
        Some(socket) => std::os::unix::net::UnixStream::connect(socket).is_ok(),
        None => std::net::TcpStream::connect(&value).is_ok(),
    };
    if reachable {
        Ok(value)
    } else {
        Err(TestkitError::Unreachable {
            var: var.to_owned(),
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_optional_but_must_answer_when_named() -> Result<(), Box<dyn std::error::Error>>
    {
        // Nobody sets this variable: the test skips.
        assert_eq!(optional_service("HUB_TESTKIT_NEVER_SET")?, None);
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?.to_string();
        assert_eq!(answering("X", addr.clone())?, addr);
        drop(listener);
        assert!(matches!(
            answering("X", addr),
            Err(TestkitError::Unreachable { .. })
        ));
        let missing = tempfile::tempdir()?.path().join("gone.sock");
        assert!(answering("X", format!("unix://{}", missing.display())).is_err());
        Ok(())
    }
}
