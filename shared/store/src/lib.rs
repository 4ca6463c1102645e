//! Block stores: local directory, 0-db and a sharding router
