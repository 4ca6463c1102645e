//! Streaming archive to flist conversion, merge and verify
