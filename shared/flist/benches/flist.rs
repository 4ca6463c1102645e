//! Write and read time of 100,000-entry flists in both formats (the hub's merge budget is 1 s
//! for two of them). Run with `cargo bench -p hub-flist --bench flist`.

use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use hub_flist::{Attr, BlockRef, Flist, Format, Hash, NodeKind, Tree, read_bytes, write_bytes};

/// 100,000 entries: directories of 20 files of 2 blocks each, 3 owners.
fn tree(format: Format) -> Tree {
    let mut tree = Tree::new(Attr::default_dir());
    let hash = |i: usize, salt: u8| {
        let mut b = vec![salt; format.hash_len()];
        b[..8].copy_from_slice(&(i as u64).to_le_bytes());
        Hash::new(&b).unwrap_or_else(|e| panic!("{e}"))
    };
    let mut dir = tree.root();
    for i in 0..100_000 {
        let result = if i % 21 == 0 {
            tree.insert(
                tree.root(),
                format!("dir-{i}"),
                Attr::default_dir(),
                NodeKind::dir(),
            )
            .map(|d| dir = d)
        } else {
            let blocks: Arc<[BlockRef]> = Arc::from(vec![
                BlockRef {
                    id: hash(i, 1),
                    key: hash(i, 2),
                },
                BlockRef {
                    id: hash(i, 3),
                    key: hash(i, 4),
                },
            ]);
            let attr = Attr {
                mode: 0o644,
                uid: (i % 3) as u32,
                mtime: i as i64,
                ..Attr::default()
            };
            tree.insert(
                dir,
                format!("file-{i}.txt"),
                attr,
                NodeKind::File {
                    size: 600_000,
                    blocks,
                },
            )
            .map(drop)
        };
        result.unwrap_or_else(|e| panic!("{e}"));
    }
    tree
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("100k entries");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    for format in [Format::Flist, Format::Fl] {
        let flist = Flist {
            format,
            tree: tree(format),
            meta: Default::default(),
        };
        g.bench_function(format!("write {format}"), |b| {
            b.iter(|| write_bytes(&flist).unwrap_or_else(|e| panic!("{e}")))
        });
        let bytes = write_bytes(&flist).unwrap_or_else(|e| panic!("{e}"));
        g.bench_function(format!("read {format}"), |b| {
            b.iter_batched(
                || (),
                |()| read_bytes(&bytes).unwrap_or_else(|e| panic!("{e}")),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
