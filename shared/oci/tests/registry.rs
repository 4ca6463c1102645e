//! Daemonless conversion against the real test registries (`./hub test` starts them):
//! whiteouts, opaque directories and hard links compared with `podman export`, platform
//! selection, authentication, missing images and corrupt blobs.

mod common;

use std::sync::Arc;

use common::{TestResult, podman, registry, snapshot, tree_of_tar, without_stubs};
use hub_convert::ConvertOptions;
use hub_flist::{Format, NodeKind};
use hub_oci::{
    Credentials, ImageOptions, ImageRef, NoImageProgress, OciError, Platform, Registry,
    RegistryOptions, STARTUP_PATH, convert_resolved,
};
use hub_testkit::registry::{Layer, Pusher, TestImage, digest, unique_repo};
use hub_testkit::{BoxError, TarBuilder, dir_store};
use oci_client::secrets::RegistryAuth;

fn options(registry: &str) -> RegistryOptions {
    RegistryOptions {
        insecure: vec![registry.to_owned()],
        ..RegistryOptions::default()
    }
}

fn image_ref(text: &str) -> ImageRef {
    ImageRef::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// 600 KiB of varied bytes: more than one 512 KiB block.
fn big_content(seed: u8) -> Vec<u8> {
    (0..600 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ seed)
        .collect()
}

/// Three layers (gzip, zstd, plain) exercising whiteouts, an opaque directory, hard links
/// within and across layers, owners and special modes.
fn layered_image() -> Result<TestImage, BoxError> {
    let lower = TarBuilder::new()
        .dir("etc", 0o755)
        .file("etc/passwd", 0o644, b"root:x:0:0::/root:/bin/sh\n")
        .file("etc/keep", (0o600, 0, 42), b"old\n")
        .dir("bin", 0o755)
        .file("bin/tool", 0o4755, &big_content(1))
        .symlink("bin/sh", "tool")
        .dir("a", (0o750, 1000, 1000))
        .file("a/one", (0o640, 1000, 1000), b"one")
        .dir("a/sub", (0o755, 1000, 1000))
        .file("a/sub/two", (0o644, 1000, 1000), b"two")
        .dir("opq", 0o755)
        .file("opq/x", 0o644, b"x")
        .dir("opq/sub", 0o755)
        .file("opq/sub/y", 0o644, b"y")
        .finish()?;
    let middle = TarBuilder::new()
        .dir("a", (0o750, 1000, 1000))
        .whiteout("a/one")
        .dir("opq", 0o700)
        .opaque("opq")
        .file("opq/new", 0o644, b"new")
        .hardlink("bin/tool-link", "bin/tool", 0o4755)
        .file("etc/keep", (0o600, 0, 42), b"new content\n")
        .dir("tmp", 0o1777)
        .finish()?;
    let upper = TarBuilder::new()
        .whiteout("a/sub")
        .dir("data", (0o755, 33, 33))
        .file("data/f", (0o644, 33, 33), &big_content(2))
        .hardlink("data/g", "data/f", (0o644, 33, 33))
        .symlink("data/abs", "/etc/passwd")
        .finish()?;
    let mut image = TestImage::new(vec![
        Layer::gzip(&lower)?,
        Layer::zstd(&middle)?,
        Layer::plain(&upper),
    ]);
    image.config = serde_json::json!({
        "Entrypoint": ["/bin/tool", "--mode", "x"],
        "Cmd": ["serve"],
        "Env": ["PATH=/usr/bin:/bin", "GREETING=a=b"],
        "WorkingDir": "/data",
        "ExposedPorts": {"8080/tcp": {}},
        "Volumes": {"/data": {}},
    });
    Ok(image)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layers_apply_like_podman_export() -> TestResult {
    let Some(reg) = registry() else { return Ok(()) };
    let repo = unique_repo("layers");
    let image = layered_image()?;
    let digest = Pusher::new(&reg).push(&repo, "1", &image).await?;
    let reference = format!("{reg}/{repo}:1");

    let client = Registry::new(None, &options(&reg));
    let resolved = client
        .resolve(&image_ref(&reference), &Platform::default())
        .await?;
    assert_eq!(resolved.manifest_digest, digest);
    assert_eq!(resolved.layers.len(), 3);
    assert_eq!(resolved.index_digest, None);
    let (_dir, store) = dir_store().await?;
    let opts = ImageOptions {
        convert: ConvertOptions::new(Format::Fl),
        ..ImageOptions::default()
    };
    let conv = convert_resolved(
        &client,
        &resolved,
        store.clone(),
        &opts,
        Arc::new(NoImageProgress),
    )
    .await?;
    let tree = &conv.flist.tree;

    // What the layers say, checked directly.
    assert!(tree.lookup("a/one").is_none(), "whiteout");
    assert!(tree.lookup("a/sub").is_none(), "whiteout of a directory");
    assert!(tree.lookup("opq/x").is_none() && tree.lookup("opq/sub").is_none());
    assert!(tree.lookup("opq/new").is_some());
    let node = |p: &str| tree.lookup(p).map(|id| tree.node(id).clone());
    let tool = node("bin/tool").ok_or("bin/tool")?;
    assert_eq!(tool.attr.mode, 0o4755);
    let link = node("bin/tool-link").ok_or("hard link across layers")?;
    match (&tool.kind, &link.kind) {
        (NodeKind::File { blocks: a, .. }, NodeKind::File { blocks: b, .. }) => {
            assert_eq!(a.len(), 2);
            assert_eq!(a, b, "a hard link shares the content");
        }
        other => panic!("unexpected kinds {other:?}"),
    }
    assert_eq!(node("tmp").map(|n| n.attr.mode), Some(0o1777));
    assert_eq!(
        node("etc/keep").map(|n| (n.attr.uid, n.attr.gid, n.kind.size())),
        Some((0, 42, 12))
    );
    assert_eq!(node("opq").map(|n| n.attr.mode), Some(0o700));

    // Image configuration → metadata and /.startup.toml.
    let meta = &conv.flist.meta;
    assert_eq!(
        meta.get_json("entrypoint"),
        Some(serde_json::json!(["/bin/tool", "--mode", "x", "serve"]))
    );
    assert_eq!(
        meta.get_json("environ"),
        Some(serde_json::json!({"PATH": "/usr/bin:/bin", "GREETING": "a=b"}))
    );
    assert_eq!(
        meta.get_json("port"),
        Some(serde_json::json!({"tcp/8080": 8080}))
    );
    assert_eq!(
        meta.get_json("volume"),
        Some(serde_json::json!({"/data": {}}))
    );
    assert!(tree.lookup(STARTUP_PATH.trim_start_matches('/')).is_some());

    // The same image through podman: `podman create` + `podman export`.
    let Some(podman) = podman() else {
        return Ok(());
    };
    let tmp = tempfile::tempdir()?;
    let tar = tmp.path().join("export.tar");
    podman.export(&reference, "linux/amd64", &tar).await?;
    let theirs = snapshot(&tree_of_tar(&tar, store.clone(), Format::Fl).await?);
    let mut ours = snapshot(tree);
    ours.remove(STARTUP_PATH);
    let theirs = without_stubs(theirs, &ours);
    let differences: Vec<String> = ours
        .iter()
        .filter(|(p, w)| theirs.get(*p) != Some(w))
        .map(|(p, w)| format!("ours   {p}: {w} / theirs {:?}", theirs.get(p)))
        .chain(
            theirs
                .iter()
                .filter(|(p, _)| !ours.contains_key(*p))
                .map(|(p, w)| format!("theirs only {p}: {w}")),
        )
        .collect();
    assert!(
        differences.is_empty(),
        "trees differ:\n{}",
        differences.join("\n")
    );
    assert_eq!(ours.len(), 15, "the comparison covered the whole tree");
    Ok(())
}

/// A small single-layer image whose file tells its architecture.
fn arch_image(arch: &str, variant: Option<&str>) -> Result<TestImage, BoxError> {
    let tar = TarBuilder::new()
        .file("arch", 0o644, arch.as_bytes())
        .finish()?;
    let mut image = TestImage::new(vec![Layer::gzip(&tar)?]);
    image.architecture = arch.into();
    image.variant = variant.map(str::to_owned);
    Ok(image)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_arch_index_selects_the_platform() -> TestResult {
    let Some(reg) = registry() else { return Ok(()) };
    let repo = unique_repo("multi");
    let amd = arch_image("amd64", None)?;
    let arm = arch_image("arm64", Some("v8"))?;
    let (index, digests) = Pusher::new(&reg)
        .push_index(&repo, "1", &[&amd, &arm])
        .await?;
    let client = Registry::new(None, &options(&reg));
    let image = image_ref(&format!("{reg}/{repo}:1"));
    let (_dir, store) = dir_store().await?;

    for (platform, expected, digest) in [
        ("", "amd64", &digests[0]),
        ("linux/arm64", "arm64", &digests[1]),
        ("linux/arm64/v8", "arm64", &digests[1]),
    ] {
        let platform = Platform::parse_or_default(platform)?;
        let resolved = client.resolve(&image, &platform).await?;
        assert_eq!(&resolved.manifest_digest, digest);
        assert_eq!(resolved.index_digest.as_deref(), Some(index.as_str()));
        let conv = convert_resolved(
            &client,
            &resolved,
            store.clone(),
            &ImageOptions::default(),
            Arc::new(NoImageProgress),
        )
        .await?;
        let file = conv.flist.tree.lookup("arch").ok_or("arch file")?;
        assert_eq!(
            conv.flist.tree.node(file).kind.size(),
            expected.len() as u64
        );
    }

    let missing = client.resolve(&image, &"linux/s390x".parse()?).await;
    match missing {
        Err(e @ OciError::NoMatchingPlatform { .. }) => {
            assert_eq!(e.code(), "image_not_found");
            assert!(!e.is_transient());
            let text = e.to_string();
            assert!(
                text.contains("linux/s390x") && text.contains("linux/amd64, linux/arm64/v8"),
                "{text}"
            );
        }
        other => panic!("expected no matching platform, got {other:?}"),
    }

    // A pinned index digest resolves the same way.
    let pinned = image_ref(&format!("{reg}/{repo}@{index}"));
    let resolved = client.resolve(&pinned, &Platform::default()).await?;
    assert_eq!(resolved.manifest_digest, digests[0]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticated_registry_right_and_wrong_credentials() -> TestResult {
    let Some((reg, user, pass)) = common::auth_registry() else {
        return Ok(());
    };
    let repo = unique_repo("private");
    let tar = TarBuilder::new()
        .file("secret", 0o600, b"s3cret")
        .finish()?;
    let image = TestImage::new(vec![Layer::gzip(&tar)?]);
    Pusher::with_auth(&reg, RegistryAuth::Basic(user.clone(), pass.clone()))
        .push(&repo, "1", &image)
        .await?;
    let reference = image_ref(&format!("{reg}/{repo}:1"));
    let opts = options(&reg);

    let right = Credentials::new(&user, &pass);
    let client = Registry::new(Some(&right), &opts);
    let resolved = client.resolve(&reference, &Platform::default()).await?;
    let (_dir, store) = dir_store().await?;
    let conv = convert_resolved(
        &client,
        &resolved,
        store,
        &ImageOptions::default(),
        Arc::new(NoImageProgress),
    )
    .await?;
    assert!(conv.flist.tree.lookup("secret").is_some());

    let wrong = Credentials::new(&user, "not-the-password");
    let err = Registry::new(Some(&wrong), &opts)
        .resolve(&reference, &Platform::default())
        .await
        .err()
        .ok_or("wrong credentials accepted")?;
    assert!(matches!(err, OciError::BadCredentials { .. }), "{err:?}");
    assert_eq!(err.code(), "pull_failed");
    assert!(!err.is_transient());
    let text = err.to_string();
    assert!(text.contains("refused the credentials"), "{text}");
    assert!(!text.contains("not-the-password"), "never the password");

    let anonymous = Registry::new(None, &opts)
        .resolve(&reference, &Platform::default())
        .await
        .err()
        .ok_or("anonymous pull accepted")?;
    assert_eq!(anonymous.code(), "image_not_found", "{anonymous}");
    assert!(anonymous.to_string().contains("requires authentication"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_images_and_unreachable_registries() -> TestResult {
    let Some(reg) = registry() else { return Ok(()) };
    let repo = unique_repo("present");
    let tar = TarBuilder::new().file("f", 0o644, b"f").finish()?;
    Pusher::new(&reg)
        .push(&repo, "1", &TestImage::new(vec![Layer::gzip(&tar)?]))
        .await?;
    let client = Registry::new(None, &options(&reg));
    for missing in [
        format!("{reg}/{repo}:nope"),
        format!("{reg}/{}:1", unique_repo("absent")),
    ] {
        let err = client
            .resolve(&image_ref(&missing), &Platform::default())
            .await
            .err()
            .ok_or("missing image resolved")?;
        assert_eq!(err.code(), "image_not_found", "{missing}: {err}");
        assert!(!err.is_transient());
    }

    let down = "127.0.0.1:9";
    let err = Registry::new(None, &options(down))
        .resolve(&image_ref(&format!("{down}/x:1")), &Platform::default())
        .await
        .err()
        .ok_or("nothing listens there")?;
    assert!(matches!(err, OciError::Unreachable { .. }), "{err:?}");
    assert_eq!(err.code(), "pull_failed");
    assert!(err.is_transient(), "an unreachable registry is retried");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_v2_manifests_and_pinned_digests() -> TestResult {
    let Some(reg) = registry() else { return Ok(()) };
    let repo = unique_repo("docker");
    let tar = TarBuilder::new()
        .dir("app", 0o755)
        .file("app/run", 0o755, b"#!/bin/sh\n")
        .finish()?;
    let mut image = TestImage::new(vec![Layer::gzip(&tar)?.docker()]);
    image.docker = true;
    image.config = serde_json::json!({"Entrypoint": null, "Cmd": ["/app/run", "--port", "80"], "WorkingDir": "/app"});
    let digest = Pusher::new(&reg).push(&repo, "v2", &image).await?;
    let client = Registry::new(None, &options(&reg));
    let by_tag = client
        .resolve(
            &image_ref(&format!("{reg}/{repo}:v2")),
            &Platform::default(),
        )
        .await?;
    let by_digest = client
        .resolve(
            &image_ref(&format!("{reg}/{repo}@{digest}")),
            &Platform::default(),
        )
        .await?;
    assert_eq!(by_tag.manifest_digest, digest);
    let opts = ImageOptions::default();
    assert_eq!(
        by_tag.source_key(&opts),
        by_digest.source_key(&opts),
        "same content, same key"
    );
    assert_eq!(by_tag.run.argv(), ["/app/run", "--port", "80"]);

    let (_dir, store) = dir_store().await?;
    let conv = convert_resolved(
        &client,
        &by_tag,
        store.clone(),
        &opts,
        Arc::new(NoImageProgress),
    )
    .await?;
    // The flist serialises and the startup file decodes from the store.
    let bytes = hub_flist::write_bytes(&conv.flist)?;
    let back = hub_flist::read_bytes(&bytes)?;
    let out = tempfile::tempdir()?;
    hub_convert::unpack(
        &back,
        store,
        out.path(),
        &hub_convert::UnpackOptions::default(),
    )
    .await?;
    let startup = std::fs::read_to_string(out.path().join(".startup.toml"))?;
    let doc: toml::Table = toml::from_str(&startup)?;
    let args = &doc["startup"]["entry"]["args"];
    assert_eq!(args["name"].as_str(), Some("/app/run"));
    assert_eq!(args["dir"].as_str(), Some("/app"));
    assert_eq!(
        std::fs::read(out.path().join("app/run"))?,
        b"#!/bin/sh\n".to_vec()
    );
    Ok(())
}

/// Flips one byte in the middle of a blob in the registry's storage (`./hub test` exports
/// `HUB_TEST_REGISTRY_STORAGE`, the registry's filesystem root).
fn corrupt_blob(storage: &str, blob: &[u8]) -> TestResult {
    let hex = digest(blob).trim_start_matches("sha256:").to_owned();
    let path = std::path::Path::new(storage)
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(&hex)
        .join("data");
    let mut bytes = std::fs::read(&path)?;
    let middle = bytes.len() / 2;
    let byte = bytes.get_mut(middle).ok_or("empty blob")?;
    *byte ^= 0x55;
    std::fs::write(&path, bytes)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_blobs_are_digest_mismatches() -> TestResult {
    let Some(reg) = registry() else { return Ok(()) };
    let Some(storage) = std::env::var("HUB_TEST_REGISTRY_STORAGE")
        .ok()
        .filter(|s| !s.is_empty())
    else {
        eprintln!("HUB_TEST_REGISTRY_STORAGE is unset: skipping");
        return Ok(());
    };
    // Unique content: registry blobs are shared by content across repositories.
    let unique: Vec<u8> = (0..256 * 1024u32)
        .map(|i| (i ^ rand::random::<u32>()) as u8)
        .collect();
    let tar = TarBuilder::new().file("payload", 0o644, &unique).finish()?;
    // A gzip layer (the decoder trips first) and a bare tar (only the digest tells).
    for layer in [Layer::gzip(&tar)?, Layer::plain(&tar)] {
        let repo = unique_repo("corrupt");
        let image = TestImage::new(vec![layer]);
        Pusher::new(&reg).push(&repo, "1", &image).await?;
        let blob = &image.layers.first().ok_or("layer")?.blob;
        corrupt_blob(&storage, blob)?;
        let client = Registry::new(None, &options(&reg));
        let resolved = client
            .resolve(&image_ref(&format!("{reg}/{repo}:1")), &Platform::default())
            .await?;
        let (_dir, store) = dir_store().await?;
        let err = convert_resolved(
            &client,
            &resolved,
            store,
            &ImageOptions::default(),
            Arc::new(NoImageProgress),
        )
        .await
        .err()
        .ok_or("a corrupt blob converted")?;
        assert!(matches!(err, OciError::DigestMismatch { .. }), "{err:?}");
        assert_eq!(err.code(), "pull_failed");
        assert!(!err.is_transient());
        assert!(err.to_string().contains("hashes to sha256:"), "{err}");
    }
    Ok(())
}
