//! The benchmark behind `hubctl bench`: a reproducible corpus converted from a directory and
//! from a `.tar.gz`, next to `gzip -dc` alone (the floor for archives), then verify and merge.
//!
//! Every figure is measured in this process: wall time, CPU seconds of all threads
//! (`getrusage`), peak resident memory (reset before each step through
//! `/proc/self/clear_refs` where the kernel allows it), blocks written and deduplicated.

mod corpus;
mod probe;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use hub_flist::{Attr, BlockRef, Flist, Format, Hash, NodeKind};
use hub_store::SharedStore;
use nix::sys::resource::{UsageWho, getrusage};
use serde::{Deserialize, Serialize};

pub use corpus::{CorpusStats, generate as generate_corpus, write_tar_gz};
use probe::{Probe, cpu_seconds};

use crate::{ConvertError, ConvertOptions, MergeMode, NoProgress, VerifyOptions};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Scratch directory: corpus, archive and stores go here (the corpus is reused across runs
    /// when the size and seed match; stores are removed once the conversions are over).
    pub work_dir: PathBuf,
    /// Corpus size in bytes (about; the last file may overshoot).
    pub size: u64,
    /// Generator seed: the same seed gives the same corpus.
    pub seed: u64,
    /// Formats to measure.
    pub formats: Vec<Format>,
    /// Conversion settings (the format field is overridden per step).
    pub convert: ConvertOptions,
    /// Entries in each of the two flists of the merge step.
    pub merge_entries: usize,
    /// Run only the merge steps (no corpus, no conversions).
    pub merge_only: bool,
    /// Leave the merge steps out: the caller measures them elsewhere (`hubctl bench` runs
    /// them in a fresh process, as worker-merge runs merges).
    pub skip_merge: bool,
}

impl BenchOptions {
    /// The default benchmark (1 GiB corpus, both formats, 100,000-entry merge) in `work_dir`.
    pub fn new(work_dir: impl Into<PathBuf>) -> Self {
        BenchOptions {
            work_dir: work_dir.into(),
            size: 1 << 30,
            seed: 1,
            formats: vec![Format::Fl, Format::Flist],
            convert: ConvertOptions::default(),
            merge_entries: 100_000,
            merge_only: false,
            skip_merge: false,
        }
    }
}

/// One measured step.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Measurement {
    /// Step name: `dir`, `tar.gz`, `gzip -dc`, `verify`, `merge`.
    pub step: String,
    /// Output format, when the step has one.
    pub format: Option<String>,
    /// Uncompressed input bytes (file contents), or entries for `merge`, blocks for `verify`.
    pub input: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Input megabytes (10^6 bytes) per second, for conversions and `gzip -dc`.
    pub mb_per_s: Option<f64>,
    /// Block checks per second, for `verify`.
    pub checks_per_s: Option<f64>,
    /// CPU seconds (user + system) of every thread involved.
    pub cpu_seconds: f64,
    /// Peak resident memory during the step, in bytes.
    pub peak_rss_bytes: u64,
    /// Distinct blocks written to the store.
    pub blocks_written: u64,
    /// Blocks that were duplicates within the run.
    pub blocks_deduped: u64,
    /// (written + deduplicated) / written: how much deduplication saved.
    pub dedup_ratio: Option<f64>,
    /// Wall time of each phase, for `merge`.
    pub merge_phases: Option<MergePhases>,
}

/// Where a merge step's time went (wall-clock seconds; the two inputs are read in parallel).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct MergePhases {
    /// Parsing both inputs into trees.
    pub read: f64,
    /// Combining the trees.
    pub merge: f64,
    /// Serialising the result.
    pub write: f64,
}

/// All measurements of a run.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// The corpus (`None` for a merge-only run).
    pub corpus: Option<CorpusStats>,
    /// Size of the corpus as `.tar.gz` (0 for a merge-only run).
    pub tar_gz_bytes: u64,
    /// Cores available to the process.
    pub cores: usize,
    /// Steps in the order they ran.
    pub results: Vec<Measurement>,
}

/// Runs the whole benchmark; `log` receives a line per step as it completes.
pub async fn run(
    opts: &BenchOptions,
    log: &(dyn Fn(&str) + Send + Sync),
) -> Result<BenchReport, ConvertError> {
    let work = opts.work_dir.clone();
    tokio::fs::create_dir_all(&work)
        .await
        .map_err(|e| ConvertError::io("work dir", e))?;
    let mut results = Vec::new();
    let mut push = |m: Measurement| {
        log(&describe(&m));
        results.push(m);
    };
    let mut corpus = None;
    let mut tar_gz_bytes = 0;
    if !opts.merge_only {
        log(&format!(
            "preparing a {} MiB corpus (seed {})",
            opts.size >> 20,
            opts.seed
        ));
        let (stats, bytes) = conversion_steps(opts, &mut push).await?;
        corpus = Some(stats);
        tar_gz_bytes = bytes;
    }
    if !opts.skip_merge {
        for &format in &opts.formats {
            push(merge_step(&work, format, opts.merge_entries).await?);
        }
    }
    Ok(BenchReport {
        corpus,
        tar_gz_bytes,
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        results,
    })
}

/// Directory and `.tar.gz` conversions with verify, per format, then `gzip -dc`; returns the
/// corpus and the archive's size.
async fn conversion_steps(
    opts: &BenchOptions,
    push: &mut impl FnMut(Measurement),
) -> Result<(CorpusStats, u64), ConvertError> {
    let work = opts.work_dir.clone();
    let (corpus, tar_gz, tar_gz_bytes) = prepare(&work, opts.size, opts.seed).await?;
    let corpus_dir = work.join("corpus");
    // Every step writes into a store of its own, and all of them are removed only once the
    // conversions are over: deleting tens of thousands of files makes ext4 slow to create new
    // ones for minutes afterwards (inode allocation skips recently deleted inodes), which
    // would charge one step's clean-up to the next step's figures.
    let mut stores = Vec::new();
    for &format in &opts.formats {
        let copts = ConvertOptions {
            format,
            ..opts.convert.clone()
        };
        let (store_dir, store) = fresh_store(&work, &format!("store-dir-{format}")).await?;
        stores.push(store_dir);
        let probe = Probe::start();
        let conv = crate::convert_dir(
            &corpus_dir,
            SharedStore::clone(&store),
            &copts,
            Arc::new(NoProgress),
        )
        .await?;
        push(probe.conversion("dir", format, &conv.stats));

        let probe = Probe::start();
        let report = crate::verify(
            &conv.flist,
            SharedStore::clone(&store),
            &VerifyOptions::default(),
        )
        .await?;
        let mut m = probe.finish("verify", Some(format), report.blocks_checked);
        m.checks_per_s = Some(report.blocks_checked as f64 / m.seconds.max(1e-9));
        push(m);
        drop(conv);

        let (store_dir, store) = fresh_store(&work, &format!("store-targz-{format}")).await?;
        stores.push(store_dir);
        let input = tokio::fs::File::open(&tar_gz)
            .await
            .map_err(|e| ConvertError::io("corpus.tar.gz", e))?;
        let probe = Probe::start();
        let conv = crate::convert_archive(input, store, &copts, Arc::new(NoProgress)).await?;
        push(probe.conversion("tar.gz", format, &conv.stats));
    }
    push(gzip_floor(&tar_gz, corpus.bytes).await?);
    for store_dir in &stores {
        remove(store_dir).await?;
    }
    Ok((corpus, tar_gz_bytes))
}

/// Generates the corpus and its archive, or reuses them when a previous run used the same
/// size and seed.
async fn prepare(
    work: &Path,
    size: u64,
    seed: u64,
) -> Result<(CorpusStats, PathBuf, u64), ConvertError> {
    let work = work.to_owned();
    tokio::task::spawn_blocking(move || {
        let marker = work.join("corpus.stamp");
        let stamp = format!("size={size} seed={seed} v1");
        let dir = work.join("corpus");
        let archive = work.join("corpus.tar.gz");
        let io = |e| ConvertError::io(work.display(), e);
        if std::fs::read_to_string(&marker).ok().as_deref() != Some(stamp.as_str()) {
            let _ = std::fs::remove_file(&marker);
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(io)?;
            }
            corpus::generate(&dir, size, seed).map_err(io)?;
            corpus::write_tar_gz(&dir, &archive).map_err(io)?;
            std::fs::write(&marker, &stamp).map_err(io)?;
        }
        // Statistics are cheap to recompute and keep the stamp format trivial.
        let stats = measure_dir(&dir).map_err(io)?;
        let tar_gz_bytes = std::fs::metadata(&archive).map_err(io)?.len();
        Ok((stats, archive, tar_gz_bytes))
    })
    .await?
}

/// Counts files, directories, links and bytes of an existing corpus.
fn measure_dir(dir: &Path) -> std::io::Result<CorpusStats> {
    let mut stats = CorpusStats::default();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if meta.is_dir() {
                stats.dirs += 1;
                stack.push(entry.path());
            } else if meta.is_symlink() {
                stats.symlinks += 1;
            } else {
                stats.files += 1;
                stats.bytes += meta.len();
                if name.starts_with("dup") {
                    stats.duplicate_bytes += meta.len();
                } else if name.starts_with("bin") {
                    stats.binary_bytes += meta.len();
                }
            }
        }
    }
    Ok(stats)
}

async fn fresh_store(work: &Path, name: &str) -> Result<(PathBuf, SharedStore), ConvertError> {
    let dir = work.join(name);
    remove(&dir).await?;
    let store = hub_store::open(&format!("dir://{}", dir.display())).await?;
    Ok((dir, store))
}

async fn remove(dir: &Path) -> Result<(), ConvertError> {
    match tokio::fs::remove_dir_all(dir).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(ConvertError::io(dir.display(), e))
        }
        _ => Ok(()),
    }
}

/// `gzip -dc` of the archive into nothing: the floor for any `.tar.gz` conversion.
async fn gzip_floor(archive: &Path, bytes: u64) -> Result<Measurement, ConvertError> {
    let probe = Probe::start();
    let status = tokio::process::Command::new("gzip")
        .arg("-dc")
        .arg(archive)
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .map_err(|e| ConvertError::io("gzip -dc", e))?;
    if !status.success() {
        return Err(ConvertError::io(
            "gzip -dc",
            std::io::Error::other(format!("exited with {status}")),
        ));
    }
    let mut m = probe.finish("gzip -dc", None, bytes);
    // The work happened in the child: report its CPU time and peak memory.
    m.cpu_seconds = cpu_seconds(UsageWho::RUSAGE_CHILDREN) - probe.child_cpu;
    m.peak_rss_bytes = getrusage(UsageWho::RUSAGE_CHILDREN)
        .map(|u| u64::try_from(u.max_rss()).unwrap_or(0) * 1024)
        .unwrap_or(0);
    m.mb_per_s = Some(bytes as f64 / 1e6 / m.seconds.max(1e-9));
    Ok(m)
}

/// Read + merge + write of two flists of `entries` entries each.
async fn merge_step(
    work: &Path,
    format: Format,
    entries: usize,
) -> Result<Measurement, ConvertError> {
    let per_dir = 1000;
    let dirs = entries.div_ceil(per_dir + 1).max(1);
    let (a, b) = tokio::task::spawn_blocking(move || {
        Ok::<_, ConvertError>((
            hub_flist::write_bytes(&synthetic(format, dirs, per_dir, 1))?,
            hub_flist::write_bytes(&synthetic(format, dirs, per_dir, 2))?,
        ))
    })
    .await??;
    let (store_dir, store) = fresh_store(work, "store-merge").await?;
    let probe = Probe::start();
    let started = Instant::now();
    // The inputs are independent: read them on two threads, as a worker would.
    let (a, b) = tokio::join!(
        tokio::task::spawn_blocking(move || hub_flist::read_bytes(&a)),
        tokio::task::spawn_blocking(move || hub_flist::read_bytes(&b)),
    );
    let inputs = vec![a??, b??];
    let read = started.elapsed();
    let merged = crate::merge(inputs, MergeMode::FirstWins, format, store).await?;
    let merge = started.elapsed();
    let written = tokio::task::spawn_blocking(move || hub_flist::write_bytes(&merged)).await??;
    let write = started.elapsed();
    let mut m = probe.finish("merge", Some(format), 2 * (dirs * (per_dir + 1)) as u64);
    m.merge_phases = Some(MergePhases {
        read: read.as_secs_f64(),
        merge: (merge - read).as_secs_f64(),
        write: (write - merge).as_secs_f64(),
    });
    drop(written);
    remove(&store_dir).await?;
    Ok(m)
}

/// An flist of `dirs × per_dir` files with fake, distinct blocks (a same-format merge never
/// reads them).
fn synthetic(format: Format, dirs: usize, per_dir: usize, salt: u8) -> Flist {
    let mut flist = Flist::new(format);
    let tree = &mut flist.tree;
    let root = tree.root();
    for d in 0..dirs {
        let Ok(dir) = tree.insert(
            root,
            format!("dir{d:05}"),
            Attr::default_dir(),
            NodeKind::dir(),
        ) else {
            continue;
        };
        for f in 0..per_dir {
            let mut raw = [salt; 32];
            raw[..8].copy_from_slice(&((d * per_dir + f) as u64).to_le_bytes());
            let Ok(hash) = Hash::new(raw.get(..format.hash_len()).unwrap_or(&raw)) else {
                continue;
            };
            let block = BlockRef {
                id: hash,
                key: hash,
            };
            let kind = NodeKind::File {
                size: 4096,
                blocks: Arc::from(vec![block]),
            };
            let _ = tree.insert(
                dir,
                format!("file-{salt}-{f:05}"),
                Attr::with_mode(0o644),
                kind,
            );
        }
    }
    flist
}

/// One line for logs.
pub fn describe(m: &Measurement) -> String {
    let mut line = format!(
        "{:<9} {:<6} {:>8.2}s cpu {:>7.2}s rss {:>5} MiB",
        m.step,
        m.format.as_deref().unwrap_or("-"),
        m.seconds,
        m.cpu_seconds,
        m.peak_rss_bytes >> 20
    );
    if let Some(rate) = m.mb_per_s {
        line.push_str(&format!("  {rate:>7.1} MB/s"));
    }
    if let Some(rate) = m.checks_per_s {
        line.push_str(&format!("  {rate:>9.0} checks/s ({} blocks)", m.input));
    }
    if let Some(ratio) = m.dedup_ratio {
        line.push_str(&format!(
            "  blocks {} written, {} deduped (x{ratio:.2})",
            m.blocks_written, m.blocks_deduped
        ));
    }
    if m.step == "merge" {
        line.push_str(&format!("  {} entries", m.input));
        if let Some(p) = m.merge_phases {
            line.push_str(&format!(
                " (read {:.3}s, merge {:.3}s, write {:.3}s)",
                p.read, p.merge, p.write
            ));
        }
    }
    line
}
