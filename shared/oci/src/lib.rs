//! Container image to flist conversion: OCI registry pulls and Docker Engine exports
