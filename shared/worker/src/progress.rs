//! Progress words every flist-publishing job uses (hub-api §9), so `/listen` followers see the
//! same ending whatever built the flist.

/// The last message of a successful job, as the original hub's upload stream ended.
pub const READY: &str = "Image ready !";

/// Phase recorded while the flist is written, stored and recorded.
pub const PUBLISHING: &str = "publishing";

/// Phase recorded when everything is done; the runtime publishes the result next.
pub const DONE: &str = "done";
