//! Every bad input exits 2 with one line naming the input and the accepted values, and the
//! engine is never invoked: `docker` on PATH is a recorder that would leave a file behind.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use common::regcache;

struct Recorder {
    dir: tempfile::TempDir,
}

impl Recorder {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("docker");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$@\" >> {}/invoked\nexit 0\n",
                dir.path().display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        Self { dir }
    }

    fn env(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(
            "PATH".to_owned(),
            format!("{}:/usr/bin:/bin", self.dir.path().display()),
        )])
    }

    fn invoked(&self) -> bool {
        self.dir.path().join("invoked").exists()
    }
}

/// CLI flags, the message expected on stdout.
const CASES: &[(&[&str], &str)] = &[
    (
        &["--mode=maxx"],
        "input `mode`: `maxx` is not accepted; accepted values: min, max",
    ),
    (
        &["--compression=brotli"],
        "input `compression`: `brotli` is not accepted; accepted values: uncompressed, gzip, estargz, zstd",
    ),
    (
        &["--compression-level=10"],
        "input `compression-level`: `10` is not accepted; accepted values: 0-9 for gzip",
    ),
    (
        &["--compression=zstd", "--compression-level=23"],
        "input `compression-level`: `23` is not accepted; accepted values: 0-22 for zstd",
    ),
    (
        &["--compression=estargz", "--compression-level=x"],
        "input `compression-level`: `x` is not accepted; accepted values: 0-9 for estargz",
    ),
    (
        &["--compression=uncompressed", "--compression-level=1"],
        "input `compression-level`: `1` is not accepted; accepted values: none: `uncompressed` takes no level",
    ),
    (
        &["--ignore-error=yes"],
        "input `ignore-error`: `yes` is not accepted; accepted values: true, false",
    ),
    (
        &["--force-compression=1"],
        "input `force-compression`: `1` is not accepted; accepted values: true, false",
    ),
    (
        &[
            "--oci-mediatypes=false",
            "--compression=zstd",
            "--image-manifest=false",
        ],
        "input `oci-mediatypes`: compression=zstd needs oci-mediatypes=true",
    ),
    (
        &[
            "--oci-mediatypes=false",
            "--compression=estargz",
            "--image-manifest=false",
        ],
        "input `oci-mediatypes`: compression=estargz needs oci-mediatypes=true",
    ),
    (
        &["--oci-mediatypes=false"],
        "input `oci-mediatypes`: image-manifest=true needs oci-mediatypes=true",
    ),
    (
        &["--cache-ref=127.0.0.1:5055/app:dev"],
        "input `cache-ref`: `127.0.0.1:5055/app:dev` is also an image tag",
    ),
    (
        &["--cache-ref=127.0.0.1:5055/App:cache"],
        "input `cache-ref`: the repository path `App` has uppercase letters",
    ),
    (
        &["--cache-ref=127.0.0.1:5055/app:c,type=local,dest=/tmp/x"],
        "input `cache-ref`: `127.0.0.1:5055/app:c,type=local,dest=/tmp/x` contains ','",
    ),
    (
        &["--cache-ref=127.0.0.1:5055/app:c\"x"],
        "input `cache-ref`: `127.0.0.1:5055/app:c\"x` contains '\"'",
    ),
    (
        &["--cache-ref=127.0.0.1:5055/app:c\ntype=local"],
        "contains '\\n', which would inject fields",
    ),
    (
        &["--cache-ref=not a ref"],
        "input `cache-ref`: `not a ref` is not a valid image reference",
    ),
    (
        &["--tags=127.0.0.1:5055/Org/app:dev"],
        "input `tags`: the repository path `Org/app` has uppercase letters",
    ),
    (
        &["--cache-to=type=registry,ref=127.0.0.1:5055/app:x,mode=maxx"],
        "input `cache-to`: entry `type=registry,ref=127.0.0.1:5055/app:x,mode=maxx`: mode: `maxx` is not accepted",
    ),
    (
        &["--cache-to=type=registry,ref=127.0.0.1:5055/app:x,mdoe=max"],
        "key `mdoe` is unknown for type=registry",
    ),
    (
        &["--cache-to=gha"],
        "input `cache-to`: entry `gha`: `gha` would be read as the registry image docker.io/library/gha; write `type=gha`",
    ),
    (
        &["--cache-from=ref=127.0.0.1:5055/app:x"],
        "input `cache-from`: entry `ref=127.0.0.1:5055/app:x`: `ref=127.0.0.1:5055/app:x` has no `type=`",
    ),
    (
        &["--cache-to=type=registry,ref=127.0.0.1:5055/app:x,ignore-error=maybe"],
        "ignore-error: `maybe` is not accepted",
    ),
    (
        &["--push=maybe"],
        "input `push`: `maybe` is not accepted; accepted values: true, false",
    ),
    (
        &["--secrets=novalue"],
        "input `secrets`: item 1 is not `id=value`",
    ),
    (
        &["--secret=novalue"],
        "input `secret`: field 1 is not `key=value`",
    ),
    (
        &["--secret=id=tok"],
        "input `secret`: the secret `tok` names no source",
    ),
    (
        &["--secret=tok=hunter2"],
        "input `secret`: field 1 has the key `tok`",
    ),
    (
        &["--secret-envs=GH"],
        "input `secret-envs`: item 1 is not `id=VARIABLE`",
    ),
    (
        &["--ulimit=nofile=lots"],
        "input `ulimit`: `nofile=lots` is not `name=soft[:hard]`",
    ),
    (
        &["--shm-size=huge"],
        "input `shm-size`: `huge` is not a size",
    ),
    (
        &["--add-hosts=docker"],
        "input `add-hosts`: `docker` is not `host:ip`",
    ),
    (
        &["--call=lint"],
        "input `call`: `lint` is not accepted; accepted values: build, check, outline, targets",
    ),
    (
        &["--buildx-args=--label 'unclosed"],
        "input `buildx-args`: unbalanced quotes",
    ),
];

#[test]
fn each_bad_input_exits_2_with_its_message_and_no_build() {
    for (flags, message) in CASES {
        let recorder = Recorder::new();
        let mut args = vec!["build", "--tag", "127.0.0.1:5055/app:dev"];
        args.extend_from_slice(flags);
        let run = regcache(&args, &recorder.env());
        assert_eq!(run.code, Some(2), "{flags:?}\n{}", run.log());
        assert!(
            run.stdout.contains(message),
            "{flags:?}: expected `{message}` in\n{}",
            run.log()
        );
        assert_eq!(
            run.stdout
                .lines()
                .filter(|l| l.starts_with("error:"))
                .count(),
            1,
            "one line for one bad input: {}",
            run.log()
        );
        assert!(!recorder.invoked(), "{flags:?}: docker was invoked");
    }
}

#[test]
fn all_bad_inputs_are_reported_together() {
    let recorder = Recorder::new();
    let run = regcache(
        &[
            "build",
            "--tag",
            "r/app:dev",
            "--mode=maxx",
            "--compression=lz4",
            "--pull=nope",
        ],
        &recorder.env(),
    );
    assert_eq!(run.code, Some(2), "{}", run.log());
    let errors: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 3, "{}", run.log());
    assert!(!recorder.invoked());
}

#[test]
fn action_inputs_are_validated_the_same_way_and_annotated() {
    let recorder = Recorder::new();
    let mut env = recorder.env();
    env.insert("GITHUB_ACTIONS".into(), "true".into());
    env.insert("INPUT_TAGS".into(), "127.0.0.1:5055/app:dev".into());
    env.insert("INPUT_MODE".into(), "maxx".into());
    env.insert(
        "INPUT_CACHE-TO".into(),
        "type=registry,ref=127.0.0.1:5055/app:x, mode=max".into(),
    );
    let run = regcache(&["action"], &env);
    assert_eq!(run.code, Some(2), "{}", run.log());
    assert!(
        run.stdout.contains(
            "::error title=input `mode`::`maxx` is not accepted; accepted values: min, max"
        ),
        "{}",
        run.log()
    );
    assert!(run.stdout.contains("::error title=input `cache-to`::entry `type=registry,ref=127.0.0.1:5055/app:x, mode=max`: key ` mode` is unknown for type=registry"), "{}", run.log());
    assert!(!recorder.invoked());
}

#[test]
fn no_tags_and_no_cache_ref_builds_without_a_registry_cache_and_says_so_once() {
    let recorder = Recorder::new();
    let run = regcache(&["build", "."], &recorder.env());
    assert_eq!(run.code, Some(0), "{}", run.log());
    let warning = "warning: no registry cache: neither cache-ref nor tags name a repository, so this build runs without a registry cache; set cache-ref (e.g. ghcr.io/owner/app) to keep one";
    assert_eq!(run.stdout.matches(warning).count(), 1, "{}", run.log());
    let invoked = std::fs::read_to_string(recorder.dir.path().join("invoked")).unwrap();
    assert!(invoked.starts_with("buildx build"), "{invoked}");
    assert!(!invoked.contains("--cache-"), "{invoked}");
}

#[test]
fn with_the_policy_off_the_log_names_the_entries_given_as_inputs() {
    let recorder = Recorder::new();
    let run = regcache(
        &[
            "build",
            "--tag",
            "127.0.0.1:5055/app:dev",
            "--cache-policy",
            "off",
            "--cache-from",
            "type=registry,ref=127.0.0.1:5055/app:mine",
            "--cache-to",
            "type=local,dest=/tmp/regcache-cache-out",
            ".",
        ],
        &recorder.env(),
    );
    assert_eq!(run.code, Some(0), "{}", run.log());
    assert!(
        run.stdout.contains(
            "regcache: reading type=registry,ref=127.0.0.1:5055/app:mine (cache-from input)"
        ),
        "{}",
        run.log()
    );
    assert!(
        run.stdout
            .contains("regcache: writing type=local,dest=/tmp/regcache-cache-out (cache-to input)"),
        "{}",
        run.log()
    );
}
