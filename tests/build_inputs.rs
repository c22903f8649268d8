//! build-push-action's inputs on the real engine, given as the runner gives them (`INPUT_*`,
//! build-push-action's list syntax): each reaches the build and changes it as buildx
//! documents, seen from inside the build (files it writes to a local output) or in the pushed
//! image; secrets reach the build and never the log.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command};

use common::{engine_env, engine_lock, fresh_repo, regcache, stored_manifest};

const VALUE_SECRET: &str = "value-secret-9141";
const MULTILINE_SECRET: &str = "multi-line-5521\nsecond line 5522";
const ENV_SECRET: &str = "env-secret-7263";
const FILE_SECRET: &str = "file-secret-6318";

/// Every input that changes the build, each read back from a file the build writes.
const DOCKERFILE: &str = r#"FROM 127.0.0.1:5055/base/busybox:1 AS probe
COPY --from=extra extra.txt /out/extra.txt
RUN --mount=type=secret,id=VALUE --mount=type=secret,id=MULTI \
    --mount=type=secret,id=FROM_ENV --mount=type=secret,id=FROM_FILE \
    mkdir -p /out/secrets && cp /run/secrets/VALUE /run/secrets/MULTI \
    /run/secrets/FROM_ENV /run/secrets/FROM_FILE /out/secrets/
RUN --mount=type=ssh if [ -S "$SSH_AUTH_SOCK" ]; then echo socket > /out/ssh; fi
RUN cat /etc/hosts > /out/hosts && df -k /dev/shm > /out/shm && ulimit -n > /out/nofile
FROM scratch
COPY --from=probe /out /
"#;

/// An ssh-agent on its own socket, stopped when dropped.
struct Agent {
    child: Child,
    socket: std::path::PathBuf,
}

impl Agent {
    fn start(dir: &Path) -> Self {
        let socket = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .spawn()
            .expect("ssh-agent runs (openssh-client)");
        for _ in 0..100 {
            if socket.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(socket.exists(), "ssh-agent made no socket");
        Self { child, socket }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn action_env(inputs: &[(&str, String)]) -> BTreeMap<String, String> {
    let mut env = engine_env().clone();
    env.insert("GITHUB_ACTIONS".into(), "true".into());
    for (name, value) in inputs {
        env.insert(format!("INPUT_{}", name.to_uppercase()), value.clone());
    }
    env
}

#[test]
fn each_build_input_changes_the_build_and_secrets_stay_out_of_the_log() {
    let _engine = engine_lock();
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("context");
    let extra = dir.path().join("extra");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::create_dir_all(&extra).unwrap();
    std::fs::write(context.join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(extra.join("extra.txt"), "from the extra context\n").unwrap();
    let secret_file = dir.path().join("secret.txt");
    std::fs::write(&secret_file, FILE_SECRET).unwrap();
    let agent = Agent::start(dir.path());

    let mut env = action_env(&[
        ("context", context.to_string_lossy().into()),
        ("outputs", format!("type=local,dest={}", out.display())),
        ("network", "none".into()),
        // build-push-action's forms: `id=value`, a quoted value over two lines.
        (
            "secrets",
            format!("VALUE={VALUE_SECRET}\n\"MULTI={MULTILINE_SECRET}\""),
        ),
        ("secret-envs", "FROM_ENV=REGCACHE_TEST_SECRET".into()),
        (
            "secret-files",
            format!("FROM_FILE={}", secret_file.display()),
        ),
        ("build-contexts", format!("extra={}", extra.display())),
        ("ssh", format!("default={}", agent.socket.display())),
        ("add-hosts", "docker:10.180.0.1,db.internal:10.0.0.9".into()),
        ("shm-size", "96m".into()),
        ("ulimit", "nofile=1024:2048".into()),
    ]);
    env.insert("REGCACHE_TEST_SECRET".into(), ENV_SECRET.into());
    let run = regcache(&["action"], &env);
    assert_eq!(run.code, Some(0), "{}", run.log());

    let read = |name: &str| {
        std::fs::read_to_string(out.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}\n{}", run.log()))
    };
    assert_eq!(read("secrets/VALUE"), VALUE_SECRET);
    assert_eq!(read("secrets/MULTI"), MULTILINE_SECRET);
    assert_eq!(read("secrets/FROM_ENV"), ENV_SECRET);
    assert_eq!(read("secrets/FROM_FILE"), FILE_SECRET);
    let log = run.log();
    for secret in [
        VALUE_SECRET,
        ENV_SECRET,
        FILE_SECRET,
        "multi-line-5521",
        "second line 5522",
    ] {
        // Masking commands name the value for the runner; nothing else may.
        let shown = log
            .lines()
            .filter(|l| l.contains(secret) && !l.starts_with("::add-mask::"))
            .count();
        assert_eq!(shown, 0, "{secret} is in the log:\n{log}");
    }
    assert_eq!(read("extra.txt"), "from the extra context\n");
    assert_eq!(read("ssh"), "socket\n");
    let hosts = read("hosts");
    assert!(
        hosts.contains("10.180.0.1\tdocker") || hosts.contains("10.180.0.1 docker"),
        "{hosts}"
    );
    assert!(hosts.contains("db.internal"), "{hosts}");
    // `df -k`: the size column of /dev/shm is 96 MiB in KiB.
    assert!(read("shm").contains(" 98304 "), "{}", read("shm"));
    assert_eq!(read("nofile").trim(), "1024");
}

#[test]
fn annotations_reach_the_pushed_manifest() {
    let _engine = engine_lock();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM 127.0.0.1:5055/base/busybox:1\nRUN echo annotated > /note\n",
    )
    .unwrap();
    let image = format!("{}:annotated", fresh_repo("annotations"));
    let env = action_env(&[
        ("context", dir.path().to_string_lossy().into()),
        // Annotations need OCI media types (buildx docs, "Annotations"); the image exporter
        // pushes docker ones by default.
        (
            "outputs",
            format!("type=image,name={image},push=true,oci-mediatypes=true"),
        ),
        ("network", "none".into()),
        ("provenance", "false".into()),
        (
            "annotations",
            "manifest:org.opencontainers.image.description=built by regcache\norg.example.kind=test"
                .into(),
        ),
    ]);
    let run = regcache(&["action"], &env);
    assert_eq!(run.code, Some(0), "{}", run.log());
    let manifest = stored_manifest(&image).expect("the image was pushed");
    let annotations = &manifest.json["annotations"];
    assert_eq!(
        annotations["org.opencontainers.image.description"], "built by regcache",
        "{:#}",
        manifest.json
    );
    assert_eq!(
        annotations["org.example.kind"], "test",
        "{:#}",
        manifest.json
    );
}

/// A bare repository served by a loopback HTTP server (git's dumb protocol: plain files after
/// `git update-server-info`) at `/<owner>/<name>.git/`, as `GITHUB_SERVER_URL` serves it.
fn served_repository(dir: &Path) -> (common::Server, String) {
    let git = |args: &[&str], cwd: &Path| {
        let out = Command::new("git")
            .args(args)
            .current_dir(cwd)
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(
        work.join("Dockerfile"),
        "FROM scratch\nCOPY hello.txt /from-git.txt\n",
    )
    .unwrap();
    std::fs::write(work.join("hello.txt"), "fetched from the Git context\n").unwrap();
    common::commit_all(&work);
    let sha = git(&["rev-parse", "HEAD"], &work).trim().to_owned();
    let bare = dir.join("app.git");
    git(
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
        dir,
    );
    git(&["update-server-info"], &bare);
    let server = common::Server::start(
        move |path| {
            let path = path.split('?').next()?;
            let file = path.strip_prefix("/owner/app.git/")?;
            (!file.contains(".."))
                .then(|| std::fs::read(bare.join(file)).ok())
                .flatten()
        },
        "",
    );
    (server, sha)
}

#[test]
fn the_default_context_is_the_commit_fetched_with_the_github_token() {
    let _engine = engine_lock();
    let dir = tempfile::tempdir().unwrap();
    let (server, sha) = served_repository(dir.path());
    let out = dir.path().join("out");
    let mut env = action_env(&[
        ("outputs", format!("type=local,dest={}", out.display())),
        ("github-token", "ghs_token_for_git".into()),
    ]);
    for (name, value) in [
        ("GITHUB_SERVER_URL", server.url.as_str()),
        ("GITHUB_REPOSITORY", "owner/app"),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_SHA", sha.as_str()),
        ("GITHUB_RUN_ID", "7"),
        ("GITHUB_RUN_ATTEMPT", "1"),
        ("GITHUB_EVENT_NAME", "push"),
    ] {
        env.insert(name.into(), value.into());
    }
    let run = regcache(&["action"], &env);
    assert_eq!(run.code, Some(0), "{}", run.log());
    assert!(
        run.stdout
            .contains(&format!("context: {}/owner/app.git#{sha}", server.url)),
        "{}",
        run.log()
    );
    assert_eq!(
        std::fs::read_to_string(out.join("from-git.txt")).unwrap(),
        "fetched from the Git context\n"
    );
    // BuildKit sends the GIT_AUTH_TOKEN.<host> secret as basic auth for that host (the
    // scheme is case-insensitive, RFC 9110 §11.1; BuildKit writes `basic`).
    let expected = format!(
        "basic {}",
        base64_encode(b"x-access-token:ghs_token_for_git")
    );
    let requests = server.requests();
    assert!(!requests.is_empty());
    assert!(
        requests
            .iter()
            .all(|r| r.authorization.eq_ignore_ascii_case(&expected)),
        "{requests:#?}"
    );
    assert!(
        run.log()
            .lines()
            .all(|l| !l.contains("ghs_token_for_git") || l.starts_with("::add-mask::")),
        "{}",
        run.log()
    );
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
