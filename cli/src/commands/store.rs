//! `hubctl store …`: maintenance of block stores on this machine.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use hub_store::{DirStore, LayoutMigration};
use serde::Serialize;

use crate::output::print_json;

/// Sub-commands of `hubctl store`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Move a `dir://` store's blocks from `<hex[0:2]>/<hex>` (older hubs) to `<hex>`, the only
    /// layout released rfs (2.0.6, 2.0.7) reads. Safe while the store is in use; run it again
    /// to finish an interrupted run; a run over a flat store changes nothing.
    MigrateLayout(MigrateArgs),
}

/// Arguments of `store migrate-layout`.
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// The store's root directory, as a path or a `dir://` URL.
    pub dir: String,
    /// One JSON document on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `migrate-layout --json` output; field names are stable.
#[derive(Debug, Serialize)]
struct Report {
    root: PathBuf,
    moved: u64,
    duplicates: u64,
    shard_dirs_removed: u64,
    left_in_place: u64,
}

/// Runs a `store` sub-command.
pub async fn run(command: StoreCommand) -> anyhow::Result<()> {
    match command {
        StoreCommand::MigrateLayout(args) => migrate_layout(args).await,
    }
}

async fn migrate_layout(args: MigrateArgs) -> anyhow::Result<()> {
    let root = store_root(&args.dir)?;
    let store = DirStore::open(&root)
        .await
        .with_context(|| format!("opening the store {}", root.display()))?;
    let LayoutMigration {
        moved,
        duplicates,
        shard_dirs_removed,
        left_in_place,
    } = store
        .migrate_layout()
        .await
        .with_context(|| format!("migrating {} (run again to resume)", root.display()))?;
    if args.json {
        return print_json(&Report {
            root,
            moved,
            duplicates,
            shard_dirs_removed,
            left_in_place,
        });
    }
    println!(
        "{}: moved {moved} blocks flat, removed {duplicates} sharded duplicates and \
         {shard_dirs_removed} shard directories, left {left_in_place} other entries in place",
        root.display()
    );
    Ok(())
}

/// The absolute root of an existing directory store: opening would create a missing one, and
/// a typo must not migrate (and create) an empty store.
fn store_root(arg: &str) -> anyhow::Result<PathBuf> {
    let path = Path::new(arg.strip_prefix("dir://").unwrap_or(arg));
    let root =
        std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))?;
    if !root.is_dir() {
        bail!("{} is not a directory", root.display());
    }
    Ok(root)
}
