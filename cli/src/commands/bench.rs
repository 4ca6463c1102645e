//! `hubctl bench`: runs hub-convert's benchmark (directory and `.tar.gz` conversion in both
//! formats, `gzip -dc` floor, verify, merge) on a generated corpus and prints the figures.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

use anyhow::Context;
use hub_convert::bench::{BenchOptions, BenchReport, Measurement};

use crate::output::print_json;
use crate::progress;
use crate::units::{human_bytes, parse_size};

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Corpus size (uncompressed), e.g. 1GiB, 2GiB, 256MiB.
    #[arg(long, default_value = "1GiB", value_parser = parse_size)]
    pub size: u64,
    /// Directory for the scratch data (`<DIR>/hubctl-bench`: corpus, archive, stores). Put it
    /// on the disk you want to measure (a tmpfs such as /dev/shm leaves the disk out); it needs
    /// about 5× the corpus size, since every step's store is kept until the run ends.
    #[arg(long, value_name = "DIR", default_value_os_t = std::env::temp_dir())]
    pub dir: PathBuf,
    /// Keep the scratch data; a later run with the same size and seed reuses the corpus.
    #[arg(long)]
    pub keep: bool,
    /// Corpus generator seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Entries in each of the two flists of the merge step.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub merge_entries: usize,
    /// Run only the merge step of each format (no corpus, no conversions).
    #[arg(long)]
    pub merge_only: bool,
    /// Run the merge steps in this process, after the conversions. By default a full run
    /// measures them in a fresh `hubctl bench --merge-only` process, as worker-merge runs
    /// merges: the heap the conversions leave behind is not a merge's cost.
    #[arg(long, conflicts_with = "merge_only")]
    pub merge_in_process: bool,
    /// Print the full report as one JSON document instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// What this command prints with `--json`, as far as the parent of a merge-only run reads it.
#[derive(serde::Deserialize)]
struct MergeOnlyReport {
    results: Vec<Measurement>,
}

/// The merge steps, measured by `hubctl bench --merge-only` in a process of its own (scratch
/// data under `work`).
async fn merge_in_fresh_process(work: &Path, entries: usize) -> anyhow::Result<Vec<Measurement>> {
    let exe = std::env::current_exe().context("locating the hubctl executable")?;
    let output = tokio::process::Command::new(exe)
        .args([
            "bench",
            "--merge-only",
            "--json",
            "--keep",
            "--merge-entries",
        ])
        .arg(entries.to_string())
        .arg("--dir")
        .arg(work.join("merge"))
        .stdin(Stdio::null())
        .output()
        .await
        .context("starting the merge benchmark process")?;
    if !output.status.success() {
        anyhow::bail!(
            "the merge benchmark process failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let report: MergeOnlyReport = serde_json::from_slice(&output.stdout)
        .context("reading the merge benchmark process's report")?;
    Ok(report.results)
}

/// Runs the benchmark; the scratch directory is removed afterwards unless `--keep`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let work = args.dir.join("hubctl-bench");
    let mut opts = BenchOptions::new(&work);
    opts.size = args.size;
    opts.seed = args.seed;
    opts.merge_entries = args.merge_entries;
    opts.merge_only = args.merge_only;
    opts.skip_merge = !args.merge_only && !args.merge_in_process;
    let spinner = progress::spinner(format!("benchmarking in {}", work.display()));
    let log = {
        let spinner = spinner.clone();
        move |line: &str| {
            // Step lines go to stderr as they complete; the spinner steps aside for them.
            spinner.suspend(|| eprintln!("{line}"));
        }
    };
    let mut result = hub_convert::bench::run(&opts, &log)
        .await
        .map_err(anyhow::Error::from);
    if opts.skip_merge
        && let Ok(report) = &mut result
    {
        match merge_in_fresh_process(&work, args.merge_entries).await {
            Ok(merges) => {
                for merge in merges {
                    log(&hub_convert::bench::describe(&merge));
                    report.results.push(merge);
                }
            }
            Err(error) => result = Err(error),
        }
    }
    spinner.finish_and_clear();
    if !args.keep {
        let removed = tokio::fs::remove_dir_all(&work).await;
        if let Err(error) = removed
            && error.kind() != io::ErrorKind::NotFound
        {
            eprintln!("hubctl: warning: cannot remove {}: {error}", work.display());
        }
    }
    let report = result.with_context(|| format!("benchmark in {}", work.display()))?;
    if args.json {
        print_json(&report)?;
    } else {
        io::stdout()
            .lock()
            .write_all(render(&report).as_bytes())
            .context("writing to stdout")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The report as text tables: one per format, then the format-independent figures.
fn render(report: &BenchReport) -> String {
    let mut out = String::new();
    if let Some(c) = &report.corpus {
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "corpus: {} in {} files, {} directories, {} symlinks ({} duplicated, {} \
             incompressible); tar.gz {}; {} cores",
            human_bytes(c.bytes),
            c.files,
            c.dirs,
            c.symlinks,
            human_bytes(c.duplicate_bytes),
            human_bytes(c.binary_bytes),
            human_bytes(report.tar_gz_bytes),
            report.cores,
        );
    } else {
        let _ = writeln!(out, "merge only; {} cores", report.cores);
    }
    let mut formats: Vec<&str> = Vec::new();
    for format in report.results.iter().filter_map(|m| m.format.as_deref()) {
        if !formats.contains(&format) {
            formats.push(format);
        }
    }
    for format in formats {
        let _ = writeln!(out, "\n.{format}");
        let _ = writeln!(
            out,
            "  {:<8} {:>10} {:>9} {:>8} {:>8} {:>10} {:>14} {:>7}",
            "step", "input", "seconds", "MB/s", "CPU s", "peak RSS", "blocks written", "dedup"
        );
        for m in report
            .results
            .iter()
            .filter(|m| m.format.as_deref() == Some(format) && m.mb_per_s.is_some())
        {
            let _ = writeln!(out, "  {}", conversion_row(m));
        }
        for m in report
            .results
            .iter()
            .filter(|m| m.format.as_deref() == Some(format))
        {
            if let Some(rate) = m.checks_per_s {
                let _ = writeln!(
                    out,
                    "  verify:  {rate:.0} checks/s ({} blocks in {:.3} s)",
                    m.input, m.seconds
                );
            } else if m.step == "merge" {
                let _ = writeln!(
                    out,
                    "  merge:   {:.3} s for {} entries in total (read, merge, write; peak RSS {})",
                    m.seconds,
                    m.input,
                    human_bytes(m.peak_rss_bytes)
                );
                if let Some(p) = m.merge_phases {
                    let _ = writeln!(
                        out,
                        "           read {:.3} s, merge {:.3} s, write {:.3} s",
                        p.read, p.merge, p.write
                    );
                }
            }
        }
    }
    if let Some(gzip) = report.results.iter().find(|m| m.step == "gzip -dc") {
        let _ = writeln!(
            out,
            "\ngzip -dc floor: {:.2} s ({:.1} MB/s of uncompressed input)",
            gzip.seconds,
            gzip.mb_per_s.unwrap_or_default()
        );
        for m in report.results.iter().filter(|m| m.step == "tar.gz") {
            let _ = writeln!(
                out,
                "  tar.gz -> .{}: {:.2}x the gzip -dc time",
                m.format.as_deref().unwrap_or("?"),
                m.seconds / gzip.seconds.max(1e-9)
            );
        }
    }
    out
}

fn conversion_row(m: &Measurement) -> String {
    format!(
        "{:<8} {:>10} {:>9.2} {:>8.1} {:>8.2} {:>10} {:>14} {:>7}",
        m.step,
        human_bytes(m.input),
        m.seconds,
        m.mb_per_s.unwrap_or_default(),
        m.cpu_seconds,
        human_bytes(m.peak_rss_bytes),
        m.blocks_written,
        m.dedup_ratio
            .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x")),
    )
}

#[cfg(test)]
mod tests {
    use hub_convert::bench::{CorpusStats, MergePhases};

    use super::*;

    fn step(step: &str, format: Option<&str>, seconds: f64) -> Measurement {
        Measurement {
            step: step.into(),
            format: format.map(Into::into),
            input: 1 << 30,
            seconds,
            ..Measurement::default()
        }
    }

    #[test]
    fn tables_per_format_and_gzip_ratio() {
        let mut dir = step("dir", Some("fl"), 4.0);
        dir.mb_per_s = Some(268.4);
        dir.blocks_written = 2000;
        dir.dedup_ratio = Some(1.25);
        let mut tgz = step("tar.gz", Some("fl"), 6.0);
        tgz.mb_per_s = Some(179.0);
        let mut verify = step("verify", Some("fl"), 0.05);
        verify.input = 2000;
        verify.checks_per_s = Some(40_000.0);
        let mut merge = step("merge", Some("flist"), 0.5);
        merge.input = 200_200;
        merge.merge_phases = Some(MergePhases {
            read: 0.1,
            merge: 0.15,
            write: 0.25,
        });
        let report = BenchReport {
            corpus: Some(CorpusStats::default()),
            tar_gz_bytes: 600 << 20,
            cores: 2,
            results: vec![dir, verify, tgz, step("gzip -dc", None, 5.0), merge],
        };
        let text = render(&report);
        assert_eq!(text.matches("\n.fl\n").count(), 1, "{text}");
        assert_eq!(text.matches("\n.flist\n").count(), 1, "{text}");
        assert!(text.contains("268.4"), "{text}");
        assert!(text.contains("1.25x"), "{text}");
        assert!(
            text.contains("verify:  40000 checks/s (2000 blocks"),
            "{text}"
        );
        assert!(
            text.contains("merge:   0.500 s for 200200 entries"),
            "{text}"
        );
        assert!(
            text.contains("read 0.100 s, merge 0.150 s, write 0.250 s"),
            "{text}"
        );
        assert!(
            text.contains("tar.gz -> .fl: 1.20x the gzip -dc time"),
            "{text}"
        );
        assert!(text.contains("tar.gz 600.0 MiB; 2 cores"), "{text}");
    }
}
