//! A NATS connection with a prefix of its own, cleaned up when the test ends.

use futures::TryStreamExt;

use crate::{TestkitError, nats_url};

/// A fresh prefix for NATS subjects, streams and buckets: `t` and 16 hex digits, which is valid
/// in all three and in the hub's `nats_prefix` setting.
pub fn test_nats_prefix() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("t{}", id.get(..16).unwrap_or(&id))
}

/// A NATS connection for one test, with a unique prefix.
///
/// Call [`NatsTest::cleanup`] at the end of the test to delete every stream (and so every work
/// queue, object-store and key-value bucket) whose name starts with the prefix. If the test
/// panics first, `Drop` does the same from a helper thread.
pub struct NatsTest {
    url: String,
    prefix: String,
    client: async_nats::Client,
    cleaned: bool,
}

impl NatsTest {
    /// Connect to [`nats_url`] with a new [`test_nats_prefix`].
    pub async fn connect() -> Result<Self, TestkitError> {
        let url = nats_url();
        let client = async_nats::connect(&url)
            .await
            .map_err(|err| nats_error(&url, err))?;
        Ok(Self {
            url,
            prefix: test_nats_prefix(),
            client,
            cleaned: false,
        })
    }

    /// The server URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The test's prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The connection.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// A JetStream context on the connection.
    pub fn jetstream(&self) -> async_nats::jetstream::Context {
        async_nats::jetstream::new(self.client.clone())
    }

    /// Delete the test's streams and buckets.
    pub async fn cleanup(mut self) -> Result<(), TestkitError> {
        self.cleaned = true;
        delete_streams(&self.jetstream(), &self.url, &self.prefix).await
    }
}

impl Drop for NatsTest {
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        let (url, prefix) = (self.url.clone(), self.prefix.clone());
        // Drop cannot await; a thread with its own runtime works whatever runtime (if any) the
        // test used.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    if let Ok(client) = async_nats::connect(&url).await {
                        let js = async_nats::jetstream::new(client);
                        if let Err(err) = delete_streams(&js, &url, &prefix).await {
                            eprintln!("hub-testkit: leftover NATS streams of {prefix}: {err}");
                        }
                    }
                });
            }
        });
        let _ = cleanup.join();
    }
}

/// Delete the streams named `<prefix>…`, `OBJ_<prefix>…` (object stores) and `KV_<prefix>…`.
async fn delete_streams(
    js: &async_nats::jetstream::Context,
    url: &str,
    prefix: &str,
) -> Result<(), TestkitError> {
    let names: Vec<String> = js
        .stream_names()
        .try_collect()
        .await
        .map_err(|err| nats_error(url, err))?;
    let owned = |name: &str| {
        [
            name,
            name.trim_start_matches("OBJ_"),
            name.trim_start_matches("KV_"),
        ]
        .iter()
        .any(|candidate| candidate.starts_with(prefix))
    };
    for name in names.into_iter().filter(|name| owned(name)) {
        js.delete_stream(&name)
            .await
            .map_err(|err| nats_error(url, err))?;
    }
    Ok(())
}

fn nats_error(url: &str, err: impl std::fmt::Display) -> TestkitError {
    TestkitError::Nats {
        url: url.to_owned(),
        message: err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_unique_and_valid_names() {
        let (a, b) = (test_nats_prefix(), test_nats_prefix());
        assert_ne!(a, b);
        assert_eq!(a.len(), 17);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[tokio::test]
    async fn cleanup_deletes_only_the_tests_streams() -> Result<(), Box<dyn std::error::Error>> {
        use async_nats::jetstream::stream::Config;
        let mine = NatsTest::connect().await?;
        let other = NatsTest::connect().await?;
        let js = mine.jetstream();
        for (name, subject) in [
            (
                format!("{}_jobs", mine.prefix()),
                format!("{}.jobs", mine.prefix()),
            ),
            (
                format!("OBJ_{}_up", mine.prefix()),
                format!("{}.obj", mine.prefix()),
            ),
            (
                format!("{}_jobs", other.prefix()),
                format!("{}.jobs", other.prefix()),
            ),
        ] {
            js.create_stream(Config {
                name,
                subjects: vec![subject],
                ..Default::default()
            })
            .await?;
        }
        let other_stream = format!("{}_jobs", other.prefix());
        let my_prefix = mine.prefix().to_owned();
        mine.cleanup().await?;
        let left: Vec<String> = js.stream_names().try_collect().await?;
        assert!(left.contains(&other_stream), "another test's streams stay");
        assert!(
            !left.iter().any(|name| name.contains(&my_prefix)),
            "{left:?}"
        );
        drop(other);
        let left: Vec<String> = js.stream_names().try_collect().await?;
        assert!(!left.contains(&other_stream), "Drop cleans up too");
        Ok(())
    }
}
