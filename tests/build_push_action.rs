//! build-push-action's own specification of the arguments it gives buildx, run through
//! regcache as the runner runs it: `regcache action` with the case's `INPUT_*` and
//! `GITHUB_*`, and a recording `docker` first on `PATH` (the program regcache starts). The
//! cases are build-push-action v7.3.0's `getArgs` table (`tests/data/build-push-action-getargs.json`
//! says where from); regcache must give the same arguments, apart from its own progress and
//! cache flags and the paths of its temporary files.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{GetArgsTable, read_nul, regcache};

/// Records its arguments (NUL-separated) and answers `docker buildx version` with the case's
/// version, as buildx prints it.
const FAKE_DOCKER: &str = r#"#!/bin/sh
if [ "$1" = buildx ] && [ "$2" = version ]; then
  echo "github.com/docker/buildx v$FAKE_BUILDX_VERSION 0000000"
  exit 0
fi
printf '%s\0' "$@" > "$FAKE_ARGV"
"#;

/// The argv as build-push-action's table writes it: `build …` without regcache's own flags,
/// with the temporary paths as the table's placeholders.
fn comparable(argv: &[String], temp: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut words = argv.iter().skip(1); // `buildx`: the table starts at `build`.
    while let Some(word) = words.next() {
        match word.as_str() {
            "--progress=rawjson" => {}
            "--cache-from" | "--cache-to" => {
                words.next();
            }
            "--iidfile" | "--metadata-file" => {
                out.push(word.clone());
                words.next();
                out.push(if word == "--iidfile" {
                    "${iidfile}".into()
                } else {
                    "${metadata}".into()
                });
            }
            _ => {
                let temp = temp.to_string_lossy();
                let secret = regex::Regex::new(&format!(
                    "src={}/regcache-[^/]+/secret-[0-9]+",
                    regex::escape(&temp)
                ))
                .unwrap();
                out.push(secret.replace_all(word, "src=$${tmpName}").into_owned());
            }
        }
    }
    out
}

#[test]
fn the_build_push_action_getargs_table_gives_the_same_buildx_arguments() {
    let getargs = GetArgsTable::new("build-push-action-getargs.json", FAKE_DOCKER);
    let cases = getargs.cases();
    assert_eq!(cases.len(), 20, "the 20 cases for buildx 0.10 and later");
    let fixtures = getargs.dir.path().join("fixtures");
    std::fs::create_dir(&fixtures).unwrap();
    std::fs::write(fixtures.join("secret.txt"), "a secret\n").unwrap();
    let fill = |text: &str| text.replace("${fixturesDir}", &fixtures.to_string_lossy());

    let mut failures = Vec::new();
    for case in cases {
        let number = case["case"].as_u64().unwrap();
        let (temp, env) = getargs.case_env(case, fill);
        let run = regcache(&["action"], &env);
        let expected: Vec<String> = case["expected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| fill(w.as_str().unwrap()))
            .collect();
        let argv = read_nul(&temp.join("argv"));
        let got = comparable(&argv, &temp);
        if run.code != Some(0) || got != expected {
            failures.push(format!(
                "case {number}: exit {:?}\n  expected {expected:?}\n  got      {got:?}\n{}",
                run.code, run.stdout
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// One `regcache action` with the recording `docker`, in a GitHub run.
fn run_with_fake_docker(extra: &[(&str, &str)]) -> (common::Run, tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("docker"), FAKE_DOCKER).unwrap();
    std::fs::set_permissions(
        dir.path().join("docker"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let mut env: BTreeMap<String, String> = BTreeMap::from([
        ("PATH".into(), format!("{}:/usr/bin:/bin", path(""))),
        ("GITHUB_ACTIONS".into(), "true".into()),
        ("GITHUB_REPOSITORY".into(), "owner/app".into()),
        ("GITHUB_RUN_ID".into(), "5".into()),
        ("GITHUB_RUN_ATTEMPT".into(), "1".into()),
        ("GITHUB_OUTPUT".into(), path("output")),
        ("GITHUB_STEP_SUMMARY".into(), path("summary")),
        ("RUNNER_TEMP".into(), path("")),
        // A path that exists: regcache checks the engine's socket before the build.
        ("DOCKER_HOST".into(), format!("unix://{}", path(""))),
        ("FAKE_ARGV".into(), path("argv")),
        ("FAKE_BUILDX_VERSION".into(), "0.13.1".into()),
        ("INPUT_CONTEXT".into(), ".".into()),
        ("INPUT_SECRETS".into(), "TOKEN=hunter2-debug-secret".into()),
    ]);
    for (name, value) in extra {
        env.insert((*name).into(), (*value).into());
    }
    let run = regcache(&["action"], &env);
    let argv = std::fs::read_to_string(dir.path().join("argv"))
        .unwrap_or_default()
        .split_terminator('\0')
        .map(str::to_owned)
        .collect();
    (run, dir, argv)
}

#[test]
fn debug_lines_only_in_the_runners_debug_mode_with_the_argv_and_no_secret() {
    let (quiet, _dir, _) = run_with_fake_docker(&[]);
    assert_eq!(quiet.code, Some(0), "{}", quiet.log());
    assert!(!quiet.stdout.contains("::debug::"), "{}", quiet.log());

    let (debug, _dir, argv) = run_with_fake_docker(&[("RUNNER_DEBUG", "1")]);
    assert_eq!(debug.code, Some(0), "{}", debug.log());
    let line = debug
        .stdout
        .lines()
        .find(|l| l.starts_with("::debug::argv: docker buildx build '--progress=rawjson' "))
        .unwrap_or_else(|| panic!("no argv debug line\n{}", debug.log()));
    // The whole argv, shell-quoted, with the secret as the path of its file.
    assert!(
        line.ends_with(&format!(" {}", argv.last().unwrap())),
        "{line}"
    );
    assert!(line.contains("--secret 'id=TOKEN,src="), "{line}");
    assert!(
        !debug
            .stdout
            .replace("::add-mask::hunter2-debug-secret", "")
            .contains("hunter2")
    );
}

#[test]
fn docker_build_summary_false_turns_the_job_summary_off() {
    let (on, dir_on, _) = run_with_fake_docker(&[]);
    assert_eq!(on.code, Some(0), "{}", on.log());
    assert!(dir_on.path().join("summary").exists());
    let (off, dir_off, _) = run_with_fake_docker(&[("DOCKER_BUILD_SUMMARY", "false")]);
    assert_eq!(off.code, Some(0), "{}", off.log());
    assert!(!dir_off.path().join("summary").exists());
    assert!(
        dir_off.path().join("output").exists(),
        "outputs are still written"
    );
}
