//! Chunk encode throughput of both formats (MB/s), with its parts: BLAKE2b (blake2b_simd),
//! Snappy and XXTEA. Run with `cargo bench -p hub-flist --bench chunk`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hub_flist::Format;
use hub_flist::chunk::{self, CHUNK_SIZE};

/// Half text-like (compressible), half pseudo-random (incompressible), like typical binaries.
fn sample_chunk() -> Vec<u8> {
    let mut out = Vec::with_capacity(CHUNK_SIZE);
    let words = [
        "lorem ", "ipsum ", "dolor ", "sit ", "amet, ", "flist ", "chunk\n",
    ];
    let mut i = 0usize;
    while out.len() < CHUNK_SIZE / 2 {
        out.extend_from_slice(words[i % words.len()].as_bytes());
        i = i.wrapping_mul(31).wrapping_add(7);
    }
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while out.len() < CHUNK_SIZE {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(CHUNK_SIZE);
    out
}

fn bench(c: &mut Criterion) {
    let plain = sample_chunk();
    let mut g = c.benchmark_group("chunk");
    g.throughput(Throughput::Bytes(plain.len() as u64));
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(20);
    for format in [Format::Flist, Format::Fl] {
        g.bench_function(format!("encode {format}"), |b| {
            b.iter(|| chunk::encode(format, black_box(&plain)))
        });
        let encoded = chunk::encode(format, &plain);
        let block = encoded.block_ref();
        g.bench_function(format!("decode {format}"), |b| {
            b.iter(|| chunk::decode(format, &block, black_box(&encoded.data)))
        });
        g.bench_function(format!("blake2b_simd {}", format.hash_len()), |b| {
            b.iter(|| chunk::plain_key(format, black_box(&plain)))
        });
    }
    g.bench_function("snappy compress", |b| {
        b.iter(|| snap::raw::Encoder::new().compress_vec(black_box(&plain)))
    });
    let compressed = snap::raw::Encoder::new()
        .compress_vec(&plain)
        .unwrap_or_default();
    let key = [7u8; 16];
    g.throughput(Throughput::Bytes(compressed.len() as u64));
    g.bench_function("xxtea encrypt (compressed chunk)", |b| {
        b.iter(|| chunk::xxtea::encrypt(black_box(&compressed), &key))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
