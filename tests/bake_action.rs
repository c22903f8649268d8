//! docker/bake-action's own specification of the arguments it gives buildx, run through
//! regcache as the runner runs the bake sub-action: `regcache action bake` with the case's
//! `INPUT_*` and `GITHUB_*`, and a recording `docker` first on `PATH` that answers
//! `buildx version` with the case's version and `bake --print` with the table's definition.
//! The cases are bake-action v7.1.0's `getArgs` table (`tests/data/bake-action-getargs.json`
//! says where from); regcache must give the same arguments in the same order, apart from its
//! own cache `--set`s, its progress flag and the metadata file.

mod common;

use common::{GetArgsTable, read_nul, regcache, repo_root};

/// Records the run's arguments (NUL-separated); answers `buildx version` and `--print`.
const FAKE_DOCKER: &str = r#"#!/bin/sh
if [ "$1" = buildx ] && [ "$2" = version ]; then
  echo "github.com/docker/buildx v$FAKE_BUILDX_VERSION 0000000"
  exit 0
fi
for word in "$@"; do
  if [ "$word" = --print ]; then
    printf '%s\0' "$@" > "$FAKE_PRINT_ARGV"
    cat "$FAKE_DEFINITION"
    exit 0
  fi
done
printf '%s\0' "$@" > "$FAKE_ARGV"
"#;

/// The argv as bake-action's table writes it: from `bake`, without regcache's own cache
/// overrides, progress flag and metadata file.
fn comparable(argv: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut words = argv.iter().skip(1); // `buildx`: the table starts at `bake`.
    while let Some(word) = words.next() {
        match word.as_str() {
            "--progress=rawjson" => {}
            "--metadata-file" => {
                words.next();
            }
            "--set" => {
                let value = words.next().expect("--set has a value");
                let field = value
                    .split_once('=')
                    .map_or(value.as_str(), |(k, _)| k)
                    .split_once('.')
                    .map(|(_, f)| f);
                let ours = matches!(field, Some("cache-from" | "cache-to"))
                    && value.contains(",ref=")
                    && value.contains("/bake-getargs:");
                if !ours {
                    out.extend([word.clone(), value.clone()]);
                }
            }
            _ => out.push(word.clone()),
        }
    }
    out
}

#[test]
fn the_bake_action_getargs_table_gives_the_same_bake_arguments() {
    let getargs = GetArgsTable::new("bake-action-getargs.json", FAKE_DOCKER);
    let cases = getargs.cases();
    assert_eq!(cases.len(), 17, "bake-action's 17 cases");
    // A registry that answers, so every target gets a cache tag to write: its `--set`s must
    // leave bake-action's arguments as they are.
    let cache_ref = format!("{}/bake-getargs", common::registry());
    let workspace = getargs.dir.path().join("workspace");
    std::fs::create_dir(&workspace).unwrap();
    let definition = repo_root().join("tests/data/bake-action-def.json");

    let mut failures = Vec::new();
    let mut cache_sets = 0;
    for case in cases {
        let number = case["case"].as_u64().unwrap();
        let (temp, mut env) = getargs.case_env(case, str::to_owned);
        let printed = temp.join("print");
        let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
        env.extend([
            ("GITHUB_WORKSPACE".to_owned(), path(&workspace)),
            // A path that exists: regcache checks the engine's socket before the run.
            ("DOCKER_HOST".to_owned(), format!("unix://{}", path(&temp))),
            ("DOCKER_CONFIG".to_owned(), path(&temp)),
            ("FAKE_PRINT_ARGV".to_owned(), path(&printed)),
            ("FAKE_DEFINITION".to_owned(), path(&definition)),
        ]);
        if !case["inputs"]
            .as_object()
            .unwrap()
            .contains_key("cache-policy")
        {
            env.insert("INPUT_CACHE-REF".into(), cache_ref.clone());
        }
        let run = regcache(&["action", "bake"], &env);
        let expected: Vec<String> = case["expected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap().to_owned())
            .filter(|w| w != "${metadata}")
            .filter(|w| w != "--metadata-file")
            .collect();
        let argv = read_nul(&temp.join("argv"));
        cache_sets += argv
            .iter()
            .filter(|w| w.contains(".cache-to=type=registry,ref=") && w.contains("/bake-getargs:"))
            .count();
        let got = comparable(&argv);
        // The definition is resolved with the same source, files, sets and switches: the
        // arguments without the default provenance it decides, then `--print`.
        let print = read_nul(&printed);
        let mut print_expected = Vec::new();
        let mut words = expected.iter();
        while let Some(word) = words.next() {
            if word == "--set" {
                let value = words.next().unwrap();
                if !value.contains(".attest=type=provenance,") {
                    print_expected.extend([word.clone(), value.clone()]);
                }
            } else {
                print_expected.push(word.clone());
            }
        }
        print_expected.push("--print".into());
        let print_ok = print.get(1..) == Some(print_expected.as_slice());
        if run.code != Some(0) || got != expected || !print_ok {
            failures.push(format!(
                "case {number}: exit {:?}\n  expected {expected:?}\n  got      {got:?}\n  print    {print:?}\n{}",
                run.code,
                run.log()
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
    // Every case but the one with the policy off wrote each of the three targets' tags.
    assert_eq!(cache_sets, 16 * 3, "regcache's own cache-to per target");
}
