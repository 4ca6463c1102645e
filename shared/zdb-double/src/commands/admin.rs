//! Namespace administration: `NSNEW`, `NSDEL`, `NSSET`, `NSINFO`.

use bytes::Bytes;

use super::{Session, err};
use crate::namespace::{Catalog, DEFAULT_NAMESPACE, NamespaceSettings};
use crate::resp::Reply;

/// Longest namespace name.
const MAX_NAMESPACE: usize = 128;
/// Longest `NSSET` value.
const MAX_NSSET_VALUE: usize = 63;
/// Free space reported by `NSINFO`: the double keeps data in memory, so any large figure will do.
const REPORTED_FREE_SPACE: u64 = 1 << 40;

impl Session {
    pub(super) fn nsnew(&self, catalog: &mut Catalog, args: &[Bytes]) -> Reply {
        if !self.admin {
            return err("Permission denied");
        }
        let [_, name] = args else {
            return err("Unexpected arguments");
        };
        if name.len() > MAX_NAMESPACE {
            return err("Namespace too long");
        }
        let forbidden = name.as_ref() == DEFAULT_NAMESPACE
            || name.as_ref() == b"."
            || name.as_ref() == b".."
            || name.contains(&b'/');
        if forbidden {
            return err("This name is not allowed");
        }
        if !catalog.create(name.clone(), NamespaceSettings::default()) {
            return err("This namespace is not available");
        }
        Reply::ok()
    }

    pub(super) fn nsdel(&self, catalog: &mut Catalog, args: &[Bytes]) -> Reply {
        if !self.admin {
            return err("Permission denied");
        }
        let [_, name] = args else {
            return err("Unexpected arguments");
        };
        if name.as_ref() == DEFAULT_NAMESPACE {
            return err("Cannot remove default namespace");
        }
        if catalog.get(name).is_none() {
            return err("This namespace doesn't exists");
        }
        if *name == self.namespace {
            return err("Cannot remove namespace you're currently using.");
        }
        catalog.remove(name);
        Reply::ok()
    }

    pub(super) fn nsset(&self, catalog: &mut Catalog, args: &[Bytes]) -> Reply {
        if !self.admin {
            return err("Permission denied");
        }
        let [_, name, property, value] = args else {
            return err("Unexpected arguments");
        };
        let Some(ns) = catalog.get_mut(name) else {
            return err("Namespace not found");
        };
        if value.len() > MAX_NSSET_VALUE {
            return err("Argument too long");
        }
        let property = property.to_ascii_lowercase();
        let is_default = ns.name.as_ref() == DEFAULT_NAMESPACE;
        if is_default && !matches!(property.as_slice(), b"mode" | b"lock" | b"freeze") {
            return err("Cannot update default namespace");
        }
        let flag = value.first() == Some(&b'1');
        match property.as_slice() {
            b"password" => {
                ns.settings.password =
                    (value.as_ref() != b"*").then(|| String::from_utf8_lossy(value).into_owned());
            }
            b"public" => ns.settings.public = flag,
            b"worm" => ns.settings.worm = flag,
            b"lock" => ns.locked = flag,
            b"freeze" => ns.frozen = flag,
            // atoll semantics: anything unparsable counts as 0 (unlimited).
            b"maxsize" => {
                ns.settings.maxsize = std::str::from_utf8(value)
                    .ok()
                    .and_then(|text| text.parse().ok())
                    .unwrap_or(0);
            }
            // The double behaves like a server started with `--mode user`.
            b"mode" => {
                return err("This server instance is configured to use a single runtime mode");
            }
            _ => return err("Invalid property"),
        }
        Reply::ok()
    }
}

pub(super) fn nsinfo(catalog: &Catalog, args: &[Bytes]) -> Reply {
    let [_, name] = args else {
        return err("Unexpected arguments");
    };
    let Some(ns) = catalog.get(name) else {
        return err("Namespace not found");
    };
    let yes_no = |flag: bool| if flag { "yes" } else { "no" };
    let settings = &ns.settings;
    let mut text = format!(
        "# namespace\nname: {}\nentries: {}\npublic: {}\nworm: {}\nlocked: {}\npassword: {}\n\
         data_size_bytes: {}\ndata_size_mb: {:.2}\ndata_limits_bytes: {}\n\
         index_size_bytes: {}\nindex_size_kb: {:.2}\nnext_internal_id: 0x{:08x}\nmode: userkey\n\
         stats_index_io_errors: 0\nstats_index_io_error_last: 0\nstats_index_faults: 0\n\
         stats_data_io_errors: 0\nstats_data_io_error_last: 0\nstats_data_faults: 0\n",
        String::from_utf8_lossy(&ns.name),
        ns.entries.len(),
        yes_no(settings.public),
        yes_no(settings.worm),
        yes_no(ns.locked),
        yes_no(settings.password.is_some()),
        ns.data_size,
        ns.data_size as f64 / (1024.0 * 1024.0),
        settings.maxsize,
        ns.index_size,
        ns.index_size as f64 / 1024.0,
        ns.next_seq,
    );
    if settings.maxsize > 0 {
        let available = settings.maxsize.saturating_sub(ns.data_size);
        text.push_str(&format!("space_available: {available}\n"));
    }
    let free_mb = REPORTED_FREE_SPACE as f64 / (1024.0 * 1024.0);
    text.push_str(&format!(
        "index_disk_freespace_bytes: {REPORTED_FREE_SPACE}\nindex_disk_freespace_mb: {free_mb:.2}\n\
         data_disk_freespace_bytes: {REPORTED_FREE_SPACE}\ndata_disk_freespace_mb: {free_mb:.2}\n"
    ));
    Reply::Bulk(Bytes::from(text))
}
