use super::*;
use crate::v1::keys::{acl_key, dir_key};

const D5: &str = concat!(
    "00000000340000000000000002000500001000000000000000f1536500f15365110000000a000000110000000a000000",
    "1100000067000000950000000a010000a50000008a000000000000000000000000000000000000000800000003000300",
    "0c000000000000000100000000f1536500f153650000000021000000520000002400000001000100450000008a000000",
    "09000000000000000200000000f1536500f1536500000000410000002a0000004000000000000100490000008a000000",
    "68656c6c6f2e747874000000000000008000000000000000010000001700000004000000000002000500000082000000",
    "0900000082000000a5147f6e7cac3a7076f942cb5e00d896c0cdb4699cdaa9eea4c563a934f1d52b3566363463663133",
    "383964313534373100000000000000006c696e6b00000000010000005200000068656c6c6f2e74787400000000000000",
    "373365366539643735643139643764610000000000000000636165363639343164396566626434303465346438383735",
    "38656136373637300000000000000000643736383364653030306331333638390000000000000000",
);

fn hash(text: &str) -> Hash {
    Hash::from_hex(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn d4_aci_bytes() -> Result<(), FlistError> {
    let mut out = Vec::new();
    let aci = AciRecord {
        uname: "root".into(),
        gname: "root".into(),
        mode: 0o755,
        uid: 0,
        gid: 0,
    };
    encode_aci(&aci, &mut out)?;
    let expected = concat!(
        "0000000009000000",
        "0000000003000300",
        "ed01000000000000",
        "ffffffffffffffff",
        "ffffffffffffffff",
        "090000002a000000",
        "090000002a000000",
        "0000000000000000",
        "726f6f7400000000",
        "726f6f7400000000",
    );
    assert_eq!(hex::encode(&out), expected);
    assert_eq!(decode_aci(&out)?, aci);
    Ok(())
}

#[test]
fn aci_missing_ids_read_as_minus_one() -> Result<(), FlistError> {
    // An ACI written before uid/gid existed: data section of 1 word only.
    let bytes = hex::decode(concat!(
        "0000000007000000",
        "0000000001000300",
        "ed01000000000000",
        "090000002a000000",
        "090000002a000000",
        "0000000000000000",
        "726f6f7400000000",
        "726f6f7400000000",
    ))
    .unwrap_or_default();
    let aci = decode_aci(&bytes)?;
    assert_eq!((aci.uid, aci.gid, aci.mode), (-1, -1, 0o755));
    Ok(())
}

#[test]
fn d5_decode_small_root() -> Result<(), FlistError> {
    let bytes = hex::decode(D5).unwrap_or_default();
    assert_eq!(bytes.len(), 424);
    let d = decode_dir(&bytes)?;
    assert_eq!(d.name, "");
    assert_eq!(d.location, "");
    assert_eq!(d.parent, "cae66941d9efbd404e4d88758ea67670");
    assert_eq!(d.size, 4096);
    assert_eq!(d.aclkey, "d7683de000c13689");
    assert_eq!((d.mtime, d.ctime), (1_700_000_000, 1_700_000_000));
    assert_eq!(d.contents.len(), 2);
    let file = &d.contents[0];
    assert_eq!((file.name.as_str(), file.size), ("hello.txt", 12));
    assert_eq!(file.aclkey, "5f64cf1389d15471");
    assert_eq!(
        file.kind,
        InodeKind::File {
            block_size: 128,
            blocks: vec![BlockRef {
                id: hash("a5147f6e7cac3a7076f942cb5e00d896"),
                key: hash("c0cdb4699cdaa9eea4c563a934f1d52b"),
            }],
        }
    );
    let link = &d.contents[1];
    assert_eq!((link.name.as_str(), link.size), ("link", 9));
    assert_eq!(link.aclkey, "73e6e9d75d19d7da");
    assert_eq!(
        link.kind,
        InodeKind::Link {
            target: "hello.txt".into()
        }
    );
    Ok(())
}

#[test]
fn dir_round_trip_is_single_segment() -> Result<(), FlistError> {
    let blocks: Vec<BlockRef> = (0..40u8)
        .map(|i| BlockRef {
            id: Hash::blake2b(16, &[i]),
            key: Hash::blake2b(16, &[i, i]),
        })
        .collect();
    let acl = acl_key("root", "root", 0o755, 0, 0);
    let root = dir_key("");
    let names: Vec<String> = (0..300)
        .map(|i| format!("entry with a long name {i} ✓"))
        .collect();
    let mut contents = vec![
        InodeOut {
            name: "sub",
            size: 4096,
            aclkey: &acl,
            mtime: 1,
            ctime: 2,
            kind: InodeOutKind::Dir {
                key: dir_key("a/sub"),
            },
        },
        InodeOut {
            name: "big",
            size: 40 * 524_288,
            aclkey: &acl,
            mtime: 3,
            ctime: 4,
            kind: InodeOutKind::File {
                block_size: 128,
                blocks: &blocks,
            },
        },
        InodeOut {
            name: "empty",
            size: 0,
            aclkey: &acl,
            mtime: 0,
            ctime: 0,
            kind: InodeOutKind::File {
                block_size: 128,
                blocks: &[],
            },
        },
        InodeOut {
            name: "null",
            size: 0,
            aclkey: &acl,
            mtime: 0,
            ctime: 0,
            kind: InodeOutKind::Special {
                kind: special::Type::Chardev,
                data: b"1,3".to_vec(),
            },
        },
    ];
    for name in &names {
        contents.push(InodeOut {
            name,
            size: 7,
            aclkey: &acl,
            mtime: u32::MAX,
            ctime: 0,
            kind: InodeOutKind::Link { target: "../x" },
        });
    }
    let header = DirOut {
        name: "a",
        size: 4096,
        location: "a",
        parent: &root,
        aclkey: &acl,
        mtime: 5,
        ctime: 6,
    };
    let mut out = Vec::new();
    encode_dir(&header, &contents, &mut out)?;
    assert_eq!(out.get(..4), Some(&[0u8, 0, 0, 0][..]), "one segment");
    let words = u32::from_le_bytes([out[4], out[5], out[6], out[7]]) as usize;
    assert_eq!(out.len(), 8 + words * 8, "segment sized exactly");
    assert_eq!(words as u32, dir_words(&header, &contents));

    let d = decode_dir(&out)?;
    assert_eq!((d.name.as_str(), d.location.as_str()), ("a", "a"));
    assert_eq!(
        (d.parent.as_str(), d.size, d.mtime, d.ctime),
        (root.as_str(), 4096, 5, 6)
    );
    assert_eq!(d.contents.len(), contents.len());
    assert_eq!(
        d.contents[0].kind,
        InodeKind::Dir {
            key: dir_key("a/sub")
        }
    );
    assert_eq!(
        d.contents[1].kind,
        InodeKind::File {
            block_size: 128,
            blocks: blocks.clone()
        }
    );
    assert_eq!(
        d.contents[2].kind,
        InodeKind::File {
            block_size: 128,
            blocks: vec![]
        }
    );
    assert_eq!(
        d.contents[3].kind,
        InodeKind::Special {
            kind: special_type::CHARDEV,
            data: b"1,3".to_vec()
        }
    );
    assert_eq!(d.contents[4].name, names[0]);
    assert_eq!(d.contents[4].mtime, u32::MAX);
    Ok(())
}

#[test]
fn malformed_messages_are_errors() {
    let good = hex::decode(D5).unwrap_or_default();
    for cut in [0, 3, 8, 16, 100, 423] {
        assert!(decode_dir(&good[..cut]).is_err(), "truncated at {cut}");
    }
    // Segment table announcing a huge segment.
    assert!(decode_dir(&hex::decode("00000000ffffff0f").unwrap_or_default()).is_err());
    // Far pointer to a segment that does not exist.
    assert!(
        decode_dir(&hex::decode("00000000010000000200000005000000").unwrap_or_default()).is_err()
    );
    // Flip every byte in turn: decoding may fail or succeed, but never panics.
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0xff;
        let _ = decode_dir(&bad);
    }
}

#[test]
fn wrong_block_hash_length_is_rejected() -> Result<(), FlistError> {
    // Build a Dir whose block id is 32 bytes.
    let long = Hash::blake2b(32, b"x");
    let blocks = [BlockRef {
        id: long,
        key: long,
    }];
    let acl = "0000000000000000";
    let contents = [InodeOut {
        name: "f",
        size: 1,
        aclkey: acl,
        mtime: 0,
        ctime: 0,
        kind: InodeOutKind::File {
            block_size: 128,
            blocks: &blocks,
        },
    }];
    let header = DirOut {
        name: "",
        size: 4096,
        location: "",
        parent: "",
        aclkey: acl,
        mtime: 0,
        ctime: 0,
    };
    let mut out = Vec::new();
    encode_dir(&header, &contents, &mut out)?;
    assert!(matches!(
        decode_dir(&out),
        Err(FlistError::BadHashLength {
            got: 32,
            expected: 16,
            ..
        })
    ));
    Ok(())
}

#[test]
fn zero_sized_list_amplification_is_refused() {
    // Root Dir whose `contents` is an inline-composite list announcing 2^20 elements of zero
    // size: a 72-byte message that would otherwise decode into a million entries.
    let mut msg = hex::decode(concat!(
        "0000000009000000", // one segment of 9 words
        "0000000002000500", // root: Dir, 2 data words, 5 pointers
        "0000000000000000",
        "0000000000000000",
        "0000000000000000", // name
        "0000000000000000", // location
        "0900000007000000", // contents: offset 2 (the tag word), inline composite, 0 words
        "0000000000000000", // parent
        "0000000000000000", // aclkey
    ))
    .unwrap_or_default();
    // List tag: 2^20 elements (count in the offset field), zero data and pointer words.
    msg.extend_from_slice(&hex::decode("0000400000000000").unwrap_or_default());
    let err = decode_dir(&msg);
    assert!(
        matches!(err, Err(FlistError::Capnp(_))),
        "{:?}",
        err.map(|d| d.contents.len())
    );
}
