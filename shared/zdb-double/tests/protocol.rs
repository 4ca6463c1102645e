//! Speaks raw RESP to the double and checks the exact reply bytes a real 0-db sends (zero-db §11:
//! the replies a protocol-faithful double must give).

use std::time::{Duration, Instant};

use hub_zdb_double::{DoubleConfig, NamespaceSettings, ZdbDouble};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Encodes a request as a RESP array of bulk strings.
fn cmd(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

struct Client {
    stream: TcpStream,
}

impl Client {
    async fn connect(zdb: &ZdbDouble) -> Self {
        let stream = TcpStream::connect(zdb.addr()).await.expect("connect");
        Self { stream }
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    async fn read_exact(&mut self, len: usize) -> Vec<u8> {
        let mut reply = vec![0; len];
        tokio::time::timeout(IO_TIMEOUT, self.stream.read_exact(&mut reply))
            .await
            .expect("reply in time")
            .expect("read reply");
        reply
    }

    /// Sends `request` and checks the reply is exactly `expected`.
    async fn expect(&mut self, request: &[&[u8]], expected: &[u8]) {
        self.send_raw(&cmd(request)).await;
        let reply = self.read_exact(expected.len()).await;
        assert_eq!(
            String::from_utf8_lossy(&reply),
            String::from_utf8_lossy(expected),
            "reply to {:?}",
            request
                .iter()
                .map(|a| String::from_utf8_lossy(a))
                .collect::<Vec<_>>()
        );
    }

    /// Reads one bulk reply and returns its payload.
    async fn bulk(&mut self, request: &[&[u8]]) -> Vec<u8> {
        self.send_raw(&cmd(request)).await;
        let header = self.read_line().await;
        let len: usize = header
            .strip_prefix('$')
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("bulk header expected, got {header:?}"));
        let mut data = self.read_exact(len + 2).await;
        assert_eq!(data.split_off(len), b"\r\n");
        data
    }

    async fn read_line(&mut self) -> String {
        let mut line = Vec::new();
        while !line.ends_with(b"\r\n") {
            line.extend(self.read_exact(1).await);
        }
        line.truncate(line.len() - 2);
        String::from_utf8(line).expect("utf-8 line")
    }

    /// Asserts the server closed the connection (EOF or reset).
    async fn expect_closed(&mut self) {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(IO_TIMEOUT, self.stream.read(&mut byte))
            .await
            .expect("close in time");
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "connection still open: {read:?}"
        );
    }
}

async fn start() -> ZdbDouble {
    ZdbDouble::start(DoubleConfig::default())
        .await
        .expect("start double")
}

fn protected(password: &str, public: bool) -> NamespaceSettings {
    NamespaceSettings {
        password: Some(password.to_owned()),
        public,
        ..NamespaceSettings::default()
    }
}

#[tokio::test]
async fn ping_info_and_unknown_commands() {
    let zdb = start().await;
    let mut c = Client::connect(&zdb).await;
    c.expect(&[b"PING"], b"+PONG\r\n").await;
    c.expect(&[b"ping"], b"+PONG\r\n").await;
    let info = c.bulk(&[b"INFO"]).await;
    assert!(String::from_utf8_lossy(&info).contains("0-db (zdb)"));
    for request in [
        &[&b"HELLO"[..], b"3"][..],
        &[b"CLIENT", b"SETINFO", b"LIB-NAME", b"redis-rs"],
        &[b"COMMAND"],
        &[b"QUIT"],
    ] {
        c.expect(request, b"-Command not supported\r\n").await;
    }
    // Still usable after all those errors.
    c.expect(&[b"PING"], b"+PONG\r\n").await;
}

#[tokio::test]
async fn set_get_exists_del_exact_replies() {
    let zdb = start().await;
    let mut c = Client::connect(&zdb).await;
    c.expect(&[b"SET", b"k1", b"value"], b"$2\r\nk1\r\n").await;
    c.expect(&[b"SET", b"k1", b"value"], b"$-1\r\n").await;
    c.expect(&[b"SET", b"k1", b"other"], b"$2\r\nk1\r\n").await;
    c.expect(&[b"GET", b"k1"], b"$5\r\nother\r\n").await;
    c.expect(&[b"GET", b"nope"], b"$-1\r\n").await;
    c.expect(&[b"EXISTS", b"k1"], b":1\r\n").await;
    c.expect(&[b"EXISTS", b"nope"], b":0\r\n").await;
    c.expect(&[b"SET", b"empty", b""], b"$5\r\nempty\r\n").await;
    c.expect(&[b"GET", b"empty"], b"$0\r\n\r\n").await;
    c.expect(&[b"DBSIZE"], b":2\r\n").await;
    c.expect(&[b"DEL", b"k1"], b"+OK\r\n").await;
    c.expect(&[b"DEL", b"k1"], b"-Key not found\r\n").await;
    c.expect(&[b"EXISTS", b"k1"], b":0\r\n").await;
    c.expect(&[b"GET", b"k1"], b"$-1\r\n").await;
    c.expect(&[b"DBSIZE"], b":1\r\n").await;
    // Binary keys and values, CRLF included.
    c.expect(
        &[b"SET", b"\x00\r\n\xff", b"\r\n\x00"],
        b"$4\r\n\x00\r\n\xff\r\n",
    )
    .await;
    c.expect(&[b"GET", b"\x00\r\n\xff"], b"$3\r\n\r\n\x00\r\n")
        .await;
}

#[tokio::test]
async fn key_limits_and_argument_counts() {
    let zdb = start().await;
    let mut c = Client::connect(&zdb).await;
    let long = [b'k'; 256];
    let max = [b'k'; 255];
    c.expect(&[b"SET", &long, b"v"], b"-Key too large\r\n")
        .await;
    c.expect(&[b"SET", b"", b"v"], b"-Invalid argument, key needed\r\n")
        .await;
    c.expect(&[b"SET", &max, b"v"], b"$255\r\n").await;
    c.read_exact(255 + 2).await;
    c.expect(&[b"GET", &long], b"-Invalid key\r\n").await;
    c.expect(&[b"GET", b""], b"-Invalid argument\r\n").await;
    c.expect(&[b"EXISTS", &long], b"-Invalid key\r\n").await;
    c.expect(&[b"EXISTS", b""], b"-Invalid argument\r\n").await;
    c.expect(&[b"SET", b"k"], b"-Unexpected arguments\r\n")
        .await;
    c.expect(&[b"GET"], b"-Unexpected arguments\r\n").await;
    c.expect(&[b"GET", b"a", b"b"], b"-Unexpected arguments\r\n")
        .await;
    c.expect(&[b"EXISTS"], b"-Unexpected arguments\r\n").await;
    c.expect(&[b"DEL"], b"-Unexpected arguments\r\n").await;
    c.expect(&[b"SELECT"], b"-Invalid argument\r\n").await;
    c.send_raw(b"*0\r\n").await;
    assert_eq!(c.read_exact(20).await, b"-Missing arguments\r\n");
    c.expect(&[b"PING"], b"+PONG\r\n").await;
}

#[tokio::test]
async fn inline_request_is_refused_and_closed() {
    let zdb = start().await;
    let mut c = Client::connect(&zdb).await;
    c.send_raw(b"PING\r\n").await;
    assert_eq!(
        c.read_exact(36).await,
        b"-Malformed request, array expected\r\n"
    );
    c.expect_closed().await;
}

#[tokio::test]
async fn payload_limit_is_8_mib_inclusive() {
    let zdb = start().await;
    let mut c = Client::connect(&zdb).await;
    let max = vec![7u8; 8 * 1024 * 1024];
    c.expect(&[b"SET", b"big", &max], b"$3\r\nbig\r\n").await;
    assert_eq!(
        zdb.value("default", b"big").map(|v| v.len()),
        Some(max.len())
    );

    let mut c = Client::connect(&zdb).await;
    // The header alone is enough for the server to refuse; it must not wait for the payload.
    c.send_raw(b"*3\r\n$3\r\nSET\r\n$2\r\nk2\r\n$8388609\r\n")
        .await;
    assert_eq!(c.read_exact(18).await, b"-Payload too big\r\n");
    c.expect_closed().await;
    assert_eq!(zdb.key_count("default"), Some(1));
}

#[tokio::test]
async fn namespaces_are_isolated_and_selection_starts_in_default() {
    let zdb = start().await;
    let mut c = Client::connect(&zdb).await;
    c.expect(&[b"NSNEW", b"a"], b"+OK\r\n").await;
    c.expect(&[b"SET", b"k", b"in-default"], b"$1\r\nk\r\n")
        .await;
    c.expect(&[b"SELECT", b"a"], b"+OK\r\n").await;
    c.expect(&[b"GET", b"k"], b"$-1\r\n").await;
    c.expect(&[b"SET", b"k", b"in-a"], b"$1\r\nk\r\n").await;
    c.expect(&[b"DBSIZE"], b":1\r\n").await;
    c.expect(&[b"SELECT", b"missing"], b"-Namespace not found\r\n")
        .await;
    // A new connection starts in default again.
    let mut d = Client::connect(&zdb).await;
    d.expect(&[b"GET", b"k"], b"$10\r\nin-default\r\n").await;
    c.expect(&[b"GET", b"k"], b"$4\r\nin-a\r\n").await;
}

#[tokio::test]
async fn password_and_public_rules() {
    let zdb = start().await;
    zdb.create_namespace("pub", protected("secret", true))
        .expect("create");
    zdb.create_namespace("priv", protected("hidden", false))
        .expect("create");
    let mut c = Client::connect(&zdb).await;

    // Public with password: selectable without password, read-only.
    c.expect(&[b"SELECT", b"pub", b"secret"], b"+OK\r\n").await;
    c.expect(&[b"SET", b"k", b"v"], b"$1\r\nk\r\n").await;
    c.expect(&[b"SELECT", b"pub"], b"+OK\r\n").await;
    c.expect(&[b"GET", b"k"], b"$1\r\nv\r\n").await;
    c.expect(
        &[b"SET", b"k2", b"v"],
        b"-Namespace is in read-only mode\r\n",
    )
    .await;
    c.expect(&[b"DEL", b"k"], b"-Namespace is in read-only mode\r\n")
        .await;

    // Wrong password: refused, and the connection stays where it was (read-only on pub).
    c.expect(&[b"SELECT", b"priv", b"wrong"], b"-Access denied\r\n")
        .await;
    c.expect(&[b"GET", b"k"], b"$1\r\nv\r\n").await;
    c.expect(
        &[b"SELECT", b"priv"],
        b"-Namespace protected and private\r\n",
    )
    .await;
    c.expect(&[b"SELECT", b"priv", b"hidden"], b"+OK\r\n").await;
    c.expect(&[b"SET", b"k", b"private"], b"$1\r\nk\r\n").await;

    // A namespace without a password ignores a given password.
    c.expect(&[b"SELECT", b"default", b"whatever"], b"+OK\r\n")
        .await;
    c.expect(&[b"SET", b"k", b"d"], b"$1\r\nk\r\n").await;
    c.expect(
        &[b"SELECT", b"pub", b"x", b"y"],
        b"-Only SECURE extra method supported\r\n",
    )
    .await;
    c.expect(
        &[b"SELECT", b"pub", b"x", b"y", b"z"],
        b"-Too many arguments\r\n",
    )
    .await;
}

#[tokio::test]
async fn admin_password_gates_namespace_commands() {
    let zdb = ZdbDouble::start(DoubleConfig {
        admin_password: Some("root".to_owned()),
        ..DoubleConfig::default()
    })
    .await
    .expect("start");
    let mut c = Client::connect(&zdb).await;
    c.expect(&[b"NSNEW", b"x"], b"-Permission denied\r\n").await;
    c.expect(
        &[b"NSSET", b"default", b"lock", b"1"],
        b"-Permission denied\r\n",
    )
    .await;
    c.expect(&[b"AUTH", b"nope"], b"-Access denied\r\n").await;
    c.expect(&[b"AUTH", b"root"], b"+OK\r\n").await;
    c.expect(&[b"NSNEW", b"x"], b"+OK\r\n").await;
    // Admin rights do not bypass namespace passwords.
    c.expect(&[b"NSSET", b"x", b"password", b"pw"], b"+OK\r\n")
        .await;
    c.expect(&[b"NSSET", b"x", b"public", b"0"], b"+OK\r\n")
        .await;
    c.expect(&[b"SELECT", b"x"], b"-Namespace protected and private\r\n")
        .await;

    let open = start().await;
    let mut c = Client::connect(&open).await;
    c.expect(&[b"AUTH", b"root"], b"-Authentication disabled\r\n")
        .await;
    c.expect(&[b"NSNEW", b"anyone"], b"+OK\r\n").await;
}

#[tokio::test]
async fn namespace_administration() {
    let zdb = start().await;
    let mut c = Client::connect(&zdb).await;
    c.expect(&[b"NSNEW", b"default"], b"-This name is not allowed\r\n")
        .await;
    c.expect(&[b"NSNEW", b"a/b"], b"-This name is not allowed\r\n")
        .await;
    c.expect(&[b"NSNEW", b"n1"], b"+OK\r\n").await;
    c.expect(&[b"NSNEW", b"n1"], b"-This namespace is not available\r\n")
        .await;
    c.expect(&[b"NSLIST"], b"*2\r\n$7\r\ndefault\r\n$2\r\nn1\r\n")
        .await;
    c.expect(&[b"NSSET", b"n1", b"color", b"1"], b"-Invalid property\r\n")
        .await;
    c.expect(
        &[b"NSSET", b"default", b"password", b"x"],
        b"-Cannot update default namespace\r\n",
    )
    .await;
    c.expect(
        &[b"NSSET", b"nope", b"worm", b"1"],
        b"-Namespace not found\r\n",
    )
    .await;
    c.expect(&[b"NSSET", b"n1", b"maxsize", b"10"], b"+OK\r\n")
        .await;
    c.expect(&[b"NSSET", b"n1", b"password", b"pw"], b"+OK\r\n")
        .await;

    let info = String::from_utf8(c.bulk(&[b"NSINFO", b"n1"]).await).expect("utf-8");
    assert!(
        info.starts_with("# namespace\nname: n1\nentries: 0\n"),
        "{info}"
    );
    assert!(info.contains("\npassword: yes\n"), "{info}");
    assert!(info.contains("\ndata_limits_bytes: 10\n"), "{info}");
    assert!(info.contains("\nspace_available: 10\n"), "{info}");
    c.expect(&[b"NSINFO", b"nope"], b"-Namespace not found\r\n")
        .await;

    // maxsize counts payload bytes.
    c.expect(&[b"SELECT", b"n1", b"pw"], b"+OK\r\n").await;
    c.expect(&[b"SET", b"a", b"123456"], b"$1\r\na\r\n").await;
    c.expect(
        &[b"SET", b"b", b"123456"],
        b"-No space left on this namespace\r\n",
    )
    .await;

    // worm: no overwrite, no delete.
    c.expect(&[b"NSSET", b"n1", b"maxsize", b"0"], b"+OK\r\n")
        .await;
    c.expect(&[b"NSSET", b"n1", b"worm", b"1"], b"+OK\r\n")
        .await;
    c.expect(
        &[b"SET", b"a", b"other"],
        b"-Namespace is protected by worm mode\r\n",
    )
    .await;
    c.expect(
        &[b"DEL", b"a"],
        b"-Cannot delete a key when namespace is in worm mode\r\n",
    )
    .await;

    c.expect(
        &[b"NSDEL", b"n1"],
        b"-Cannot remove namespace you're currently using.\r\n",
    )
    .await;
    c.expect(
        &[b"NSDEL", b"default"],
        b"-Cannot remove default namespace\r\n",
    )
    .await;
    c.expect(&[b"NSDEL", b"zz"], b"-This namespace doesn't exists\r\n")
        .await;

    // Deleting a namespace another connection uses: that connection learns on its next
    // command and is disconnected.
    let mut other = Client::connect(&zdb).await;
    other.expect(&[b"NSDEL", b"n1"], b"+OK\r\n").await;
    c.expect(
        &[b"GET", b"a"],
        b"-Your active namespace is not available anymore (probably removed).\r\n",
    )
    .await;
    c.expect_closed().await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_and_counted() {
    let zdb = start().await;
    let mut c = Client::connect(&zdb).await;
    let mut batch = cmd(&[b"SET", b"a", b"1"]);
    batch.extend(cmd(&[b"GET", b"a"]));
    batch.extend(cmd(&[b"EXISTS", b"b"]));
    batch.extend(cmd(&[b"PING"]));
    c.send_raw(&batch).await;
    let expected = b"$1\r\na\r\n$1\r\n1\r\n:0\r\n+PONG\r\n";
    assert_eq!(c.read_exact(expected.len()).await, expected);
    let stats = zdb.stats();
    assert!(stats.pipelined_requests >= 1, "{stats:?}");
    assert_eq!(stats.count("SET"), 1);
    assert_eq!(stats.count("PING"), 1);

    // One request at a time is never counted as pipelining.
    zdb.reset_stats();
    for _ in 0..20 {
        c.expect(&[b"EXISTS", b"a"], b":1\r\n").await;
    }
    assert_eq!(zdb.stats().pipelined_requests, 0);
}

#[tokio::test]
async fn scan_walks_every_key_in_write_order() {
    let zdb = start().await;
    let mut c = Client::connect(&zdb).await;
    c.expect(&[b"SCAN"], b"-No more data\r\n").await;
    let keys: Vec<Vec<u8>> = (0..300u32)
        .map(|i| format!("key{i:04}").into_bytes())
        .collect();
    for key in &keys {
        c.expect(
            &[b"SET", key, b"xy"],
            &[b"$7\r\n".as_slice(), key, b"\r\n"].concat(),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<Vec<u8>> = None;
    loop {
        let request: Vec<&[u8]> = match &cursor {
            None => vec![b"SCAN"],
            Some(cursor) => vec![b"SCAN", cursor],
        };
        c.send_raw(&cmd(&request)).await;
        let head = c.read_line().await;
        if head == "-No more data" {
            break;
        }
        assert_eq!(head, "*2");
        let cursor_header = c.read_line().await;
        assert_eq!(cursor_header, "$17");
        let mut next = c.read_exact(19).await;
        next.truncate(17);
        cursor = Some(next);
        let count: usize = c
            .read_line()
            .await
            .strip_prefix('*')
            .and_then(|n| n.parse().ok())
            .expect("item count");
        for _ in 0..count {
            assert_eq!(c.read_line().await, "*3");
            assert_eq!(c.read_line().await, "$7");
            let mut key = c.read_exact(9).await;
            key.truncate(7);
            assert_eq!(c.read_line().await, ":2");
            assert!(c.read_line().await.starts_with(':'));
            seen.push(key);
        }
    }
    assert_eq!(seen, keys);
    c.expect(&[b"SCAN", b"short"], b"-Invalid key format\r\n")
        .await;
}

#[tokio::test]
async fn faults_fail_writes_drop_requests_and_delay() {
    let zdb = start().await;
    let mut c = Client::connect(&zdb).await;
    zdb.faults().fail_next_writes(1);
    c.expect(&[b"SET", b"k", b"v"], b"-Cannot write data right now\r\n")
        .await;
    c.expect(&[b"SET", b"k", b"v"], b"$1\r\nk\r\n").await;

    zdb.faults().set_reply_delay(Duration::from_millis(150));
    let started = Instant::now();
    c.expect(&[b"PING"], b"+PONG\r\n").await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    zdb.faults().clear();

    zdb.faults().drop_next_requests(1);
    c.send_raw(&cmd(&[b"GET", b"k"])).await;
    c.expect_closed().await;
    let mut c = Client::connect(&zdb).await;
    c.expect(&[b"GET", b"k"], b"$1\r\nv\r\n").await;

    zdb.faults().drop_connections();
    c.expect_closed().await;
    let mut c = Client::connect(&zdb).await;
    c.expect(&[b"PING"], b"+PONG\r\n").await;
}

#[tokio::test]
async fn stop_and_restart_on_the_same_port_keeps_data() {
    let zdb = start().await;
    let addr = zdb.addr();
    let mut c = Client::connect(&zdb).await;
    c.expect(&[b"SET", b"k", b"v"], b"$1\r\nk\r\n").await;

    zdb.stop().await;
    c.expect_closed().await;
    let refused = TcpStream::connect(addr).await;
    assert!(refused.is_err(), "connect should be refused while stopped");

    zdb.restart().await.expect("restart");
    assert_eq!(zdb.addr(), addr);
    let mut c = Client::connect(&zdb).await;
    c.expect(&[b"GET", b"k"], b"$1\r\nv\r\n").await;
    assert_eq!(zdb.stats().open_connections, 1);
    zdb.shutdown().await;
}
