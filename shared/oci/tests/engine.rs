//! Docker Engine mode end to end against `podman system service` (`DOCKER_HOST`, started by
//! `./hub test`): pull from the test registry, create without starting, export, remove.

mod common;

use std::sync::Arc;

use common::{TestResult, registry, service, snapshot, without_stubs};
use hub_convert::ConvertOptions;
use hub_flist::Format;
use hub_oci::{
    Engine, EngineOptions, ImageOptions, ImageRef, NoImageProgress, Platform, Registry,
    RegistryOptions, STARTUP_PATH, convert_resolved,
};
use hub_testkit::registry::{Layer, Pusher, TestImage, unique_repo};
use hub_testkit::{TarBuilder, dir_store};

fn engine_options() -> Option<EngineOptions> {
    let host = service("DOCKER_HOST")?;
    Some(EngineOptions {
        docker_host: Some(host),
        remove_images: true,
        ..EngineOptions::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_export_matches_the_registry_conversion() -> TestResult {
    let (Some(reg), Some(engine_opts)) = (registry(), engine_options()) else {
        eprintln!("DOCKER_HOST or HUB_TEST_REGISTRY unset: skipping");
        return Ok(());
    };
    let repo = unique_repo("engine");
    let lower = TarBuilder::new()
        .dir("etc", 0o755)
        .file("etc/motd", 0o644, b"hello\n")
        .dir("srv", (0o750, 101, 102))
        .file("srv/old", (0o600, 101, 102), b"old")
        .finish()?;
    let upper = TarBuilder::new()
        .whiteout("srv/old")
        .file("srv/new", (0o640, 101, 102), &vec![7u8; 700_000])
        .symlink("srv/link", "new")
        .finish()?;
    let mut image = TestImage::new(vec![Layer::gzip(&lower)?, Layer::gzip(&upper)?]);
    // Neither Cmd nor Entrypoint: the engine needs a placeholder command to create a container.
    image.config = serde_json::json!({"Env": ["A=1"]});
    Pusher::new(&reg).push(&repo, "1", &image).await?;
    let reference = ImageRef::parse(&format!("{reg}/{repo}:1"))?;
    let (_dir, store) = dir_store().await?;
    let opts = ImageOptions {
        convert: ConvertOptions::new(Format::Flist),
        ..ImageOptions::default()
    };

    let engine = Engine::connect(&engine_opts).await?;
    engine.ping().await?;
    let pulled = engine.pull(&reference, &Platform::default(), None).await?;
    assert!(pulled.id.starts_with("sha256:"));
    assert_eq!(engine.leases_of(&pulled.id), 1);
    assert!(pulled.source_key(&opts).starts_with("engine:sha256:"));
    let from_engine = engine
        .convert(&pulled, store.clone(), &opts, Arc::new(NoImageProgress))
        .await?;
    let id = pulled.id.clone();
    engine.release(pulled).await;
    assert_eq!(engine.leases_of(&id), 0);

    let registry = Registry::new(
        None,
        &RegistryOptions {
            insecure: vec![reg.clone()],
            ..RegistryOptions::default()
        },
    );
    let resolved = registry.resolve(&reference, &Platform::default()).await?;
    let from_registry = convert_resolved(
        &registry,
        &resolved,
        store.clone(),
        &opts,
        Arc::new(NoImageProgress),
    )
    .await?;

    let ours = snapshot(&from_registry.flist.tree);
    let theirs = without_stubs(snapshot(&from_engine.flist.tree), &ours);
    assert_eq!(ours, theirs);
    assert!(ours.contains_key("/srv/new") && !ours.contains_key("/srv/old"));
    assert!(
        !ours.contains_key(STARTUP_PATH),
        "no command, no startup file"
    );
    assert_eq!(
        from_engine.flist.meta.get_json("environ"),
        Some(serde_json::json!({"A": "1"}))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_pull_errors() -> TestResult {
    let (Some(reg), Some(engine_opts)) = (registry(), engine_options()) else {
        return Ok(());
    };
    let engine = Engine::connect(&engine_opts).await?;
    let missing = ImageRef::parse(&format!("{reg}/{}:1", unique_repo("absent")))?;
    let err = engine
        .pull(&missing, &Platform::default(), None)
        .await
        .err()
        .ok_or("a missing image was pulled")?;
    assert_eq!(err.code(), "image_not_found", "{err}");

    let down = EngineOptions {
        docker_host: Some("unix:///nonexistent/docker.sock".into()),
        ..EngineOptions::default()
    };
    let err = Engine::connect(&down)
        .await
        .err()
        .ok_or("connected to nothing")?;
    assert!(err.is_transient(), "{err}");
    Ok(())
}
