//! Runs the conversion benchmark: `cargo run --release -p hub-convert --example bench --
//! <work dir> [size in MiB] [fl|flist ...]`. Prints one line per step, then the JSON report.

use hub_convert::bench::{BenchOptions, run};
use hub_flist::Format;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let work = args.next().unwrap_or_else(|| "/tmp/hub-bench".into());
    let mut opts = BenchOptions::new(work);
    if let Some(mib) = args.next() {
        opts.size = mib.parse::<u64>()? << 20;
    }
    let formats: Vec<Format> = args.filter_map(|a| a.parse::<Format>().ok()).collect();
    if !formats.is_empty() {
        opts.formats = formats;
    }
    let report = run(&opts, &|line| println!("{line}")).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
