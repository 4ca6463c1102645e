//! Docker conversion benchmark: builds an image of ~100 MiB compressed (random and text files
//! in four gzip layers), pushes it to the local test registry, then times the conversion end to
//! end: resolve, pull, apply, store blocks (directory store), write the flist.
//!
//! ```sh
//! HUB_TEST_REGISTRY=127.0.0.1:5056 cargo run --release -p hub-oci --example pull_bench
//! ```

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use hub_convert::ConvertOptions;
use hub_flist::Format;
use hub_oci::{
    ImageOptions, ImageRef, NoImageProgress, Platform, Registry, RegistryOptions, convert_resolved,
};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const LAYERS: usize = 4;
const FILES_PER_LAYER: usize = 50;
const FILE_SIZE: usize = 1 << 20;

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// One layer: two files in five random (incompressible), the others text (~4:1 with gzip).
fn layer(index: usize, rng: &mut rand::rngs::StdRng) -> Result<Vec<u8>, BoxError> {
    let words = [
        "container",
        "flist",
        "chunk",
        "zero",
        "hub",
        "layer",
        "registry",
        "node",
    ];
    let mut tar = tar::Builder::new(Vec::new());
    for file in 0..FILES_PER_LAYER {
        let mut data = vec![0u8; FILE_SIZE];
        if file % 5 < 2 {
            rng.fill(data.as_mut_slice());
        } else {
            let mut text = String::with_capacity(FILE_SIZE + 16);
            while text.len() < FILE_SIZE {
                let word = words[rng.random_range(0..words.len())];
                text.push_str(word);
                text.push(if rng.random_bool(0.1) { '\n' } else { ' ' });
            }
            data.copy_from_slice(&text.as_bytes()[..FILE_SIZE]);
        }
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(
            &mut h,
            format!("layer{index}/file{file:03}"),
            data.as_slice(),
        )?;
    }
    let raw = tar.into_inner()?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw)?;
    Ok(gz.finish()?)
}

async fn push(registry: &str, repo: &str) -> Result<u64, BoxError> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..ClientConfig::default()
    });
    let auth = RegistryAuth::Anonymous;
    let mut descriptors = Vec::new();
    let mut total = 0u64;
    for i in 0..LAYERS {
        let blob = layer(i, &mut rng)?;
        let digest = sha256(&blob);
        let r = Reference::with_digest(registry.into(), repo.into(), digest.clone());
        client.auth(&r, &auth, RegistryOperation::Push).await?;
        client.push_blob(&r, blob.clone(), &digest).await?;
        total += blob.len() as u64;
        descriptors.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": digest, "size": blob.len(),
        }));
    }
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
    }))?;
    let config_digest = sha256(&config);
    let r = Reference::with_digest(registry.into(), repo.into(), config_digest.clone());
    client.push_blob(&r, config.clone(), &config_digest).await?;
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": descriptors,
    }))?;
    let tag = Reference::with_tag(registry.into(), repo.into(), "1".into());
    client
        .push_manifest_raw(
            &tag,
            manifest,
            http::HeaderValue::from_static("application/vnd.oci.image.manifest.v1+json"),
        )
        .await?;
    Ok(total)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let registry = std::env::var("HUB_TEST_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5056".into());
    let repo = format!("bench/pull-{}", std::process::id());
    let compressed = push(&registry, &repo).await?;
    let expanded = (LAYERS * FILES_PER_LAYER * FILE_SIZE) as u64;
    println!(
        "image {registry}/{repo}:1: {LAYERS} layers, {:.1} MiB compressed, {:.1} MiB of files",
        compressed as f64 / 1048576.0,
        expanded as f64 / 1048576.0
    );
    for format in [Format::Flist, Format::Fl] {
        let dir = tempfile::tempdir()?;
        let store = hub_store::open(&format!("dir://{}", dir.path().display())).await?;
        let image = ImageRef::parse(&format!("{registry}/{repo}:1"))?;
        let start = Instant::now();
        let client = Registry::new(
            None,
            &RegistryOptions {
                insecure: vec![registry.clone()],
                ..RegistryOptions::default()
            },
        );
        let resolved = client.resolve(&image, &Platform::default()).await?;
        let resolve = start.elapsed();
        let options = ImageOptions {
            convert: ConvertOptions::new(format),
            ..ImageOptions::default()
        };
        let conversion = convert_resolved(
            &client,
            &resolved,
            store,
            &options,
            Arc::new(NoImageProgress),
        )
        .await?;
        let converted = start.elapsed();
        let flist = conversion.flist;
        let bytes = tokio::task::spawn_blocking(move || hub_flist::write_bytes(&flist)).await??;
        let total = start.elapsed();
        println!(
            "{format:>6}: resolve {:.3} s, pull+apply+store {:.3} s, write {:.3} s, total {:.3} s \
             ({:.0} MiB/s compressed, {} blocks written, flist {} bytes)",
            resolve.as_secs_f64(),
            (converted - resolve).as_secs_f64(),
            (total - converted).as_secs_f64(),
            total.as_secs_f64(),
            compressed as f64 / 1048576.0 / total.as_secs_f64(),
            conversion.stats.blocks_written,
            bytes.len(),
        );
    }
    Ok(())
}
