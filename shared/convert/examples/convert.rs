//! Converts one directory or archive into a fresh `dir://` store and prints timing and
//! statistics (handy under `perf`): `cargo run --release -p hub-convert --example convert --
//! <dir or archive> <store dir> [fl|flist]`.

use std::sync::Arc;
use std::time::Instant;

use hub_convert::{ConvertOptions, NoProgress, convert_archive, convert_dir};
use hub_flist::Format;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(input), Some(store_dir)) = (args.next(), args.next()) else {
        return Err("usage: convert <dir or archive> <store dir> [fl|flist]".into());
    };
    let format = args.next().map_or(Ok(Format::Fl), |name| name.parse())?;
    let store = hub_store::open(&format!("dir://{store_dir}")).await?;
    let opts = ConvertOptions::new(format);
    let started = Instant::now();
    let conv = if std::path::Path::new(&input).is_dir() {
        convert_dir(input.as_ref(), store, &opts, Arc::new(NoProgress)).await?
    } else {
        let file = tokio::fs::File::open(&input).await?;
        convert_archive(file, store, &opts, Arc::new(NoProgress)).await?
    };
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{format}: {:.2}s, {:.1} MB/s, {:?}",
        secs,
        conv.stats.content_bytes as f64 / 1e6 / secs,
        conv.stats
    );
    Ok(())
}
