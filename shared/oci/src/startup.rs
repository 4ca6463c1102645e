//! `/.startup.toml` (flist-formats A.9): how zos starts a container flist.
//!
//! Written by hand rather than through a TOML serialiser: the layout is fixed (the tables in
//! the order zos and the original hub use) and only strings and keys need escaping.

use std::fmt::Write as _;

use crate::RunConfig;

/// Path of the file in the flist.
pub const STARTUP_PATH: &str = "/.startup.toml";

/// The `/.startup.toml` text for `run`, or `None` when the image names no command at all.
///
/// Docker semantics (hub-api D21): `name` is the first element of `Entrypoint ++ Cmd`, `args`
/// the rest (the original hub dropped `Cmd` when the entrypoint had several elements); `env`
/// from `Env` split at the first `=`; `dir` is `WorkingDir`, or `/`.
pub fn startup_toml(run: &RunConfig) -> Option<String> {
    let argv = run.argv();
    let (name, args) = argv.split_first()?;
    let dir = if run.working_dir.is_empty() {
        "/"
    } else {
        run.working_dir.as_str()
    };
    let mut out = String::new();
    out.push_str("[startup.entry]\nname = \"core.system\"\n\n[startup.entry.args]\n");
    // Writing into a String cannot fail.
    let _ = writeln!(out, "name = {}", string(name));
    let args: Vec<String> = args.iter().map(|a| string(a)).collect();
    let _ = writeln!(out, "args = [{}]", args.join(", "));
    let _ = writeln!(out, "dir = {}", string(dir));
    out.push_str("\n[startup.entry.args.env]\n");
    for (key, value) in run.environ() {
        let _ = writeln!(out, "{} = {}", key_text(&key), string(&value));
    }
    Some(out)
}

/// A TOML basic string: `"` and `\` escaped, control characters as escapes.
fn string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A key: bare when it only has `A-Za-z0-9_-`, quoted otherwise.
fn key_text(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { key.to_owned() } else { string(key) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(entrypoint: &[&str], cmd: &[&str], env: &[&str], dir: &str) -> RunConfig {
        let v = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect();
        RunConfig {
            entrypoint: v(entrypoint),
            cmd: v(cmd),
            env: v(env),
            working_dir: dir.into(),
            ..RunConfig::default()
        }
    }

    #[test]
    fn layout_of_a9() {
        let text = startup_toml(&run(&[], &["/bin/sh", "-c", "echo hi"], &["A=1"], ""));
        assert_eq!(
            text.as_deref(),
            Some(
                "[startup.entry]\nname = \"core.system\"\n\n[startup.entry.args]\n\
                 name = \"/bin/sh\"\nargs = [\"-c\", \"echo hi\"]\ndir = \"/\"\n\n\
                 [startup.entry.args.env]\nA = \"1\"\n"
            )
        );
        assert_eq!(startup_toml(&run(&[], &[], &["A=1"], "/x")), None);
    }

    #[test]
    fn parses_back_with_docker_semantics() -> Result<(), toml::de::Error> {
        let cfg = run(
            &["/entry.sh", "--mode=\"x\""],
            &["serve", "C:\\path\nline"],
            &["PATH=/bin", "weird.key=v=w", "TAB=\t\u{1}"],
            "/srv/app",
        );
        let text = startup_toml(&cfg).unwrap_or_default();
        let doc: toml::Table = toml::from_str(&text)?;
        let args = &doc["startup"]["entry"]["args"];
        assert_eq!(
            doc["startup"]["entry"]["name"].as_str(),
            Some("core.system")
        );
        assert_eq!(args["name"].as_str(), Some("/entry.sh"));
        let list: Vec<&str> = args["args"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        assert_eq!(list, ["--mode=\"x\"", "serve", "C:\\path\nline"]);
        assert_eq!(args["dir"].as_str(), Some("/srv/app"));
        assert_eq!(args["env"]["weird.key"].as_str(), Some("v=w"));
        assert_eq!(args["env"]["TAB"].as_str(), Some("\t\u{1}"));
        assert_eq!(args["env"]["PATH"].as_str(), Some("/bin"));
        Ok(())
    }
}
