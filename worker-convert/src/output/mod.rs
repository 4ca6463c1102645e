//! What every job that publishes a flist does at the end: point the flist at the hub's public
//! store, serialise it, precompute its statistics and contents dump, store and record it.

mod dump;
mod settings;
mod store;

pub use dump::{Stats, contents_dump};
pub use settings::PublishSettings;
pub use store::{Encoded, StoredFlist, db_format, describe, encode, store};
