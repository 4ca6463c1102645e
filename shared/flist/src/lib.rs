//! Reader and writer of the .flist (0-flist) and .fl (rfs) formats, chunk codec, tree model
