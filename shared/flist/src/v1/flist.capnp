# Cap'n Proto schema of the .flist format (spec flist-formats.md, A.4.2).
#
# The generated Rust code is committed as `flist_capnp.rs` next to this file so that builds do
# not need the `capnp` compiler. To regenerate after editing this schema, install the compiler
# (`apt-get install capnproto`) and run, from a scratch crate depending on `capnpc` (same minor
# version as the `capnp` workspace dependency):
#
#   capnpc::CompilerCommand::new()
#       .src_prefix("<this dir>")
#       .file("<this dir>/flist.capnp")
#       .default_parent_module(vec!["v1".into()])   // the module lives at crate::v1
#       .output_path("<this dir>")
#       .run()
#
# The generated file is excluded from rustfmt and clippy (see `v1/mod.rs`).

@0xae9223e76351538a;

struct FileBlock {
  hash @0 :Data;
  key  @1 :Data;
}

struct File {
  blockSize @0 :UInt16;
  blocks    @1 :List(FileBlock);
}

struct Link {
  target @0 :Text;
}

struct Special {
  type @0 :Type;
  enum Type {
    socket   @0;
    block    @1;
    chardev  @2;
    fifopipe @3;
    unknown  @4;
  }
  data @1 :Data;
}

struct SubDir {
  key @0 :Text;
}

struct Inode {
  name @0 :Text;
  size @1 :UInt64;
  attributes :union {
    dir     @2 :SubDir;
    file    @3 :File;
    link    @4 :Link;
    special @5 :Special;
  }
  aclkey           @6 :Text;
  modificationTime @7 :UInt32;
  creationTime     @8 :UInt32;
}

struct Dir {
  name             @0 :Text;
  location         @1 :Text;
  contents         @2 :List(Inode);
  parent           @3 :Text;
  size             @4 :UInt64;
  aclkey           @5 :Text;
  modificationTime @6 :UInt32;
  creationTime     @7 :UInt32;
}

struct UserGroup {
  name   @0 :Text;
  iyoId  @1 :Text;
  iyoInt @2 :UInt64;
}

struct ACI {
  uname  @0 :Text;
  gname  @1 :Text;
  mode   @2 :UInt16;
  rights @3 :List(Right);
  struct Right {
    right       @0 :Text;
    usergroupid @1 :UInt16;
  }
  id  @4 :UInt32;
  uid @5 :Int64 = -1;
  gid @6 :Int64 = -1;
}
