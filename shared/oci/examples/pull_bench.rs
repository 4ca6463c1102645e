//! Docker conversion benchmark: builds an image of ~100 MiB compressed (random and text files
//! in four gzip layers), pushes it to the local test registry, then times the conversion end to
//! end: resolve, pull, apply, store blocks (directory store), write the flist.
//!
//! ```sh
//! HUB_TEST_REGISTRY=127.0.0.1:5056 cargo run --release -p hub-oci --example pull_bench
//! ```

use std::sync::Arc;
use std::time::Instant;

use hub_convert::ConvertOptions;
use hub_flist::Format;
use hub_oci::{
    ImageOptions, ImageRef, NoImageProgress, Platform, Registry, RegistryOptions, convert_resolved,
};
use hub_testkit::TarBuilder;
use hub_testkit::registry::{Layer, Pusher, TestImage};
use rand::{Rng, SeedableRng};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const LAYERS: usize = 4;
const FILES_PER_LAYER: usize = 50;
const FILE_SIZE: usize = 1 << 20;

/// One layer: two files in five random (incompressible), the others text (~4:1 with gzip).
fn layer(index: usize, rng: &mut rand::rngs::StdRng) -> Result<Layer, BoxError> {
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
    let mut tar = TarBuilder::new();
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
        tar = tar.file(&format!("layer{index}/file{file:03}"), 0o644, &data);
    }
    Ok(Layer::gzip(&tar.finish()?)?)
}

async fn push(registry: &str, repo: &str) -> Result<u64, BoxError> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let layers = (0..LAYERS)
        .map(|i| layer(i, &mut rng))
        .collect::<Result<Vec<_>, _>>()?;
    let total = layers.iter().map(|layer| layer.blob.len() as u64).sum();
    Pusher::new(registry)
        .push(repo, "1", &TestImage::new(layers))
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
        let (_dir, store) = hub_testkit::dir_store().await?;
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
