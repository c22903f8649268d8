//! How many cache records the builder holds before a build: with none, a step the build
//! reports cached came from the caches it imported (`cache::export`). The default builder of a
//! daemon on a unix socket (the `docker` driver) is asked through the Engine API, which answers
//! in a few milliseconds (`GET /system/df?type=build-cache`, API 1.42+; the daemon's
//! `BuildCache` list is its BuildKit's disk usage); any other builder through
//! `docker buildx du`, which starts the CLI and its plugin (about 80 ms on this kind of machine).

use std::path::PathBuf;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use serde::Deserialize;

use crate::env::Env;

/// How long the builder may take to say what it holds.
const DEADLINE: Duration = Duration::from_secs(10);
/// The most of the daemon's answer read: past it the builder holds thousands of records.
const ANSWER_LIMIT: usize = 16 << 20;

/// The number of cache records the build's builder holds, or why it could not be told.
pub fn cache_records(builder: Option<&str>, env: &Env) -> Result<usize, String> {
    crate::runtime::block_on(async {
        tokio::time::timeout(DEADLINE, async {
            match default_builder_socket(builder, env) {
                Some(socket) => ask_daemon(socket).await,
                None => ask_buildx(builder).await,
            }
        })
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {}s", DEADLINE.as_secs())))
    })
}

/// The daemon's socket when the build goes to its default builder: no builder named (the
/// `builder` input, `BUILDX_BUILDER`, or the one `docker buildx use` keeps in
/// `$DOCKER_CONFIG/buildx/current`, whose `Name` is empty for the default: buildx
/// `store/store.go`), no docker context chosen, and `DOCKER_HOST` a unix socket or unset.
fn default_builder_socket(builder: Option<&str>, env: &Env) -> Option<PathBuf> {
    let set = |name: &str| env.get(name).is_some_and(|v| !v.is_empty());
    if builder.is_some() || set("BUILDX_BUILDER") || set("DOCKER_CONTEXT") {
        return None;
    }
    let config = env.docker_config_dir()?;
    let named = |file: &str, key: &str| -> Option<String> {
        let text = std::fs::read(config.join(file)).ok()?;
        let value: serde_json::Value = serde_json::from_slice(&text).ok()?;
        Some(value.get(key)?.as_str()?.to_owned())
    };
    let chosen = |name: Option<String>| name.is_some_and(|n| !n.is_empty() && n != "default");
    if chosen(named("buildx/current", "Name")) || chosen(named("config.json", "currentContext")) {
        return None;
    }
    let host = env
        .get("DOCKER_HOST")
        .filter(|h| !h.is_empty())
        .unwrap_or("unix:///var/run/docker.sock");
    host.strip_prefix("unix://").map(PathBuf::from)
}

#[derive(Deserialize)]
struct DiskUsage {
    #[serde(rename = "BuildCache", default)]
    build_cache: Option<Vec<serde_json::Value>>,
}

async fn ask_daemon(socket: PathBuf) -> Result<usize, String> {
    let stream = tokio::net::UnixStream::connect(&socket)
        .await
        .map_err(|e| format!("{}: {e}", socket.display()))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = hyper::Request::get("/system/df?type=build-cache")
        .header("Host", "docker")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = Limited::new(response.into_body(), ANSWER_LIMIT)
        .collect()
        .await
        .map_err(|e| format!("the daemon's disk usage: {e}"))?
        .to_bytes();
    if !status.is_success() {
        return Err(format!("the daemon answered {status} to GET /system/df"));
    }
    let usage: DiskUsage = serde_json::from_slice(&body)
        .map_err(|e| format!("the daemon's disk usage is not JSON: {e}"))?;
    Ok(usage.build_cache.map_or(0, |records| records.len()))
}

async fn ask_buildx(builder: Option<&str>) -> Result<usize, String> {
    let mut command = tokio::process::Command::new("docker");
    command.args(["buildx", "du"]);
    if let Some(builder) = builder {
        command.args(["--builder", builder]);
    }
    let out = command
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("docker buildx du: {e}"))?;
    if !out.status.success() {
        return Err(format!("docker buildx du exited with {}", out.status));
    }
    Ok(du_records(&String::from_utf8_lossy(&out.stdout)))
}

/// The records `docker buildx du` lists: its table's rows, between the `ID` header and the
/// totals (`Reclaimable:`, `Total:`; an empty builder prints only these).
fn du_records(text: &str) -> usize {
    text.lines()
        .map(str::trim)
        .filter(|line| {
            !line.is_empty()
                && line.split_whitespace().next() != Some("ID")
                && !["Reclaimable:", "Total:", "Shared:", "Private:"]
                    .iter()
                    .any(|total| line.starts_with(total))
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn du_counts_table_rows_not_totals() {
        assert_eq!(du_records("Reclaimable:\t0B\nTotal:\t\t0B\n"), 0);
        let two = "ID\t\t\t\t\t\tRECLAIMABLE\tSIZE\t\tLAST ACCESSED\n\
            winl61fbuaq5owovdpllcxsip\t\t\ttrue \t2.036MB\t\tLess than a second ago\n\
            kfxvqwkoeoe5ww0dqus29m81u*\t\t\ttrue \t2.032MB\t\tLess than a second ago\n\
            Shared:\t\t1MB\nPrivate:\t3MB\nReclaimable:\t4.07MB\nTotal:\t\t4.07MB\n";
        assert_eq!(du_records(two), 2);
    }

    #[test]
    fn only_the_daemons_default_builder_is_asked_through_its_socket() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("buildx")).unwrap();
        let config = dir.path().to_string_lossy().into_owned();
        let env = |extra: &[(&str, &str)]| {
            let mut vars = vec![
                ("DOCKER_CONFIG".to_owned(), config.clone()),
                ("DOCKER_HOST".to_owned(), "unix:///run/d.sock".to_owned()),
            ];
            vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            Env::from_os(vars.into_iter().map(|(k, v)| (k.into(), v.into())))
        };
        let current = |name: &str| {
            std::fs::write(
                dir.path().join("buildx/current"),
                format!(r#"{{"Key":"unix:///run/d.sock","Name":"{name}","Global":false}}"#),
            )
            .unwrap()
        };
        current("");
        assert_eq!(
            default_builder_socket(None, &env(&[])),
            Some(PathBuf::from("/run/d.sock"))
        );
        assert_eq!(default_builder_socket(Some("ci"), &env(&[])), None);
        assert_eq!(
            default_builder_socket(None, &env(&[("BUILDX_BUILDER", "ci")])),
            None
        );
        assert_eq!(
            default_builder_socket(None, &env(&[("DOCKER_CONTEXT", "remote")])),
            None
        );
        assert_eq!(
            default_builder_socket(None, &env(&[("DOCKER_HOST", "tcp://127.0.0.1:2376")])),
            None
        );
        current("builder-1");
        assert_eq!(default_builder_socket(None, &env(&[])), None);
        current("default");
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"currentContext":"remote"}"#,
        )
        .unwrap();
        assert_eq!(default_builder_socket(None, &env(&[])), None);
    }
}
