//! The statistics parser on every progress log in `tests/fixtures/buildkit/` (real BuildKit
//! output, sources in its SOURCES.md). Expected counts are written here by reading the files
//! and from SOURCES.md's table; a progress log without an expectation fails the test.

mod common;

use std::io::BufReader;

use regcache::internals::Engine;
use regcache::internals::{BuildStats, ImportOutcome};

fn read_log(source: impl std::io::BufRead) -> std::io::Result<BuildStats> {
    Engine::Buildx.read_log(source)
}

struct Expect {
    file: &'static str,
    /// Dockerfile steps (FROM excluded): total, cached, failed, not run.
    steps: (usize, usize, usize, usize),
    /// BuildKit's history counters: distinct vertices, cached, completed.
    vertices: (usize, usize, usize),
    /// Cache imports in order: ref and whether it was found.
    imports: &'static [(&'static str, Option<bool>)],
    /// Export vertices and their durations in seconds.
    exports: &'static [f64],
    final_error: Option<&'static str>,
}

const MAIN: &str = "127.0.0.1:5055/fixture/app:cache-main";
const FOUND: Option<bool> = Some(true);
const MISSING: Option<bool> = Some(false);

const EXPECTED: &[Expect] = &[
    Expect {
        file: "buildx-0.13.1_buildkit-0.13__a-cold-import-miss-export-max.rawjson.stderr.txt",
        steps: (6, 0, 0, 0),
        vertices: (14, 0, 14),
        imports: &[(MAIN, MISSING)],
        exports: &[0.266],
        final_error: None,
    },
    Expect {
        file: "buildx-0.13.1_buildkit-0.13__b-warm-ephemeral.rawjson.stderr.txt",
        steps: (6, 6, 0, 0),
        vertices: (14, 6, 14),
        imports: &[(MAIN, FOUND)],
        exports: &[0.156],
        final_error: None,
    },
    Expect {
        file: "buildx-0.13.1_buildkit-0.13__c-warm-ephemeral.plain.stderr.txt",
        steps: (6, 6, 0, 0),
        vertices: (14, 6, 14),
        imports: &[(MAIN, FOUND)],
        exports: &[0.1],
        final_error: None,
    },
    Expect {
        file: "buildx-0.13.1_buildkit-0.13__d-partial-hit-branch-fallback.rawjson.stderr.txt",
        steps: (6, 4, 0, 0),
        vertices: (15, 4, 15),
        imports: &[
            ("127.0.0.1:5055/fixture/app:cache-feature-x", MISSING),
            (MAIN, FOUND),
        ],
        exports: &[0.094],
        final_error: None,
    },
    Expect {
        file: "buildx-0.13.1_buildkit-0.13__e-copy-missing-file-error.rawjson.stderr.txt",
        steps: (6, 4, 1, 1),
        vertices: (12, 4, 11),
        imports: &[(MAIN, FOUND)],
        exports: &[],
        final_error: Some(
            "failed to solve: failed to compute cache key: failed to calculate checksum of ref um11u4e96xe6v6npbh8ws2cab::4tht1hq3febijycla4chdvjwt: \"/missing.txt\": not found",
        ),
    },
    Expect {
        file: "buildx-0.13.1_buildkit-0.13__f-export-image-manifest.plain.stderr.txt",
        steps: (6, 6, 0, 0),
        vertices: (14, 6, 14),
        imports: &[(MAIN, FOUND)],
        exports: &[0.1],
        final_error: None,
    },
    Expect {
        file: "buildx-0.13.1_buildkit-0.13__g-export-zstd-cold.plain.stderr.txt",
        steps: (6, 0, 0, 0),
        vertices: (13, 0, 13),
        imports: &[],
        exports: &[0.3],
        final_error: None,
    },
    Expect {
        file: "local-generated_buildx-0.13.1_dockerd-20.10.24-buildkit-v0.8__run1-cold-import-miss-inline-export.rawjson.stderr.txt",
        steps: (5, 0, 0, 0),
        vertices: (12, 0, 12),
        imports: &[("127.0.0.1:5000/demo:buildcache", MISSING)],
        exports: &[0.001],
        final_error: None,
    },
    Expect {
        file: "local-generated_buildx-0.13.1_dockerd-20.10.24-buildkit-v0.8__run2-registry-import-hit-and-miss.plain.stderr.txt",
        steps: (5, 5, 0, 0),
        vertices: (13, 5, 13),
        imports: &[
            ("127.0.0.1:5000/demo:latest", FOUND),
            ("127.0.0.1:5000/demo:missing", MISSING),
        ],
        exports: &[0.0],
        final_error: None,
    },
    Expect {
        file: "local-generated_buildx-0.13.1_dockerd-20.10.24-buildkit-v0.8__run3-registry-import-hit-and-miss.rawjson.stderr.txt",
        steps: (5, 5, 0, 0),
        vertices: (13, 5, 13),
        imports: &[
            ("127.0.0.1:5000/demo:latest", FOUND),
            ("127.0.0.1:5000/demo:missing", MISSING),
        ],
        exports: &[0.0],
        final_error: None,
    },
    Expect {
        file: "local-generated_buildx-0.13.1_dockerd-20.10.24-buildkit-v0.8__run4-copy-missing-file-error.plain.stderr.txt",
        steps: (5, 4, 1, 0),
        vertices: (9, 4, 9),
        imports: &[("127.0.0.1:5000/demo:latest", FOUND)],
        exports: &[],
        final_error: Some(
            "failed to solve: failed to compute cache key: \"/missing.txt\" not found: not found",
        ),
    },
    Expect {
        file: "local-generated_buildx-0.13.1_dockerd-20.10.24-buildkit-v0.8__run5-copy-missing-file-error.rawjson.stderr.txt",
        steps: (5, 4, 1, 0),
        vertices: (9, 4, 9),
        imports: &[("127.0.0.1:5000/demo:latest", FOUND)],
        exports: &[],
        final_error: Some(
            "failed to solve: failed to compute cache key: \"/missing.txt\" not found: not found",
        ),
    },
    // Old plain format with `#N sha256:<digest>` under each name; two export blocks.
    Expect {
        file: "bgaillard_moby-cache__README.md@746df21.plain.txt",
        steps: (0, 0, 0, 0),
        vertices: (3, 0, 3),
        imports: &[],
        exports: &[7.1, 37.0],
        final_error: None,
    },
    // Two Cloud Build runs in one README, `Step #1 - "long-build": ` prefixes, a 401 at the end.
    Expect {
        file: "dougdonohoe_build-timeout__README.md@53174568.plain.txt",
        steps: (0, 0, 0, 0),
        vertices: (9, 1, 8),
        imports: &[],
        exports: &[2.4, 3.5],
        final_error: Some(
            "failed to solve: failed to fetch oauth token: unexpected status: 401 Unauthorized",
        ),
    },
    // buildx 0.15+ one object per line; the last line is cut off mid-object.
    Expect {
        file: "emersion-bakah_issue-12__buildx-bake-rawjson-excerpt.jsonl",
        steps: (0, 0, 0, 0),
        vertices: (1, 0, 0),
        imports: &[],
        exports: &[],
        final_error: None,
    },
    // Indented objects behind a `$ docker buildx build` line, ending in `...`.
    Expect {
        file: "docker-buildx_issue-2247__rawjson-indented-excerpt.json.txt",
        steps: (0, 0, 0, 0),
        vertices: (1, 0, 1),
        imports: &[],
        exports: &[],
        final_error: None,
    },
];

fn fixtures_dir() -> std::path::PathBuf {
    common::fixture("buildkit")
}

/// Progress logs are the files whose names say so; the rest are registry objects, metadata,
/// Dockerfiles and empty stdout captures, read by other tests.
fn is_progress_log(name: &str) -> bool {
    name.ends_with(".stderr.txt")
        || name.ends_with(".plain.txt")
        || name.ends_with(".jsonl")
        || name.contains("rawjson-indented")
}

#[test]
fn every_progress_fixture_has_expectations() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| is_progress_log(n))
        .collect();
    names.sort();
    let mut expected: Vec<&str> = EXPECTED.iter().map(|e| e.file).collect();
    expected.sort();
    assert_eq!(names, expected);
}

#[test]
fn statistics_match_on_every_fixture() {
    for e in EXPECTED {
        let file = std::fs::File::open(fixtures_dir().join(e.file)).unwrap();
        let s = read_log(BufReader::new(file)).unwrap();
        assert_eq!(
            (
                s.total_steps,
                s.cached_steps,
                s.failed_steps,
                s.not_run_steps
            ),
            e.steps,
            "steps of {}",
            e.file
        );
        assert_eq!(
            (s.vertices.total, s.vertices.cached, s.vertices.completed),
            e.vertices,
            "vertices of {}",
            e.file
        );
        let imports: Vec<(&str, Option<bool>)> = s
            .imports
            .iter()
            .map(|i| {
                let found = match i.outcome {
                    ImportOutcome::Found => Some(true),
                    ImportOutcome::Missing => Some(false),
                    ImportOutcome::Failed(_) => None,
                };
                (i.reference.as_str(), found)
            })
            .collect();
        assert_eq!(imports, e.imports, "imports of {}", e.file);
        let exports: Vec<f64> = s.exports.iter().map(|x| x.seconds).collect();
        assert_eq!(exports, e.exports, "exports of {}", e.file);
        assert!(
            s.exports.iter().all(|x| x.ok),
            "exports of {} succeeded",
            e.file
        );
        assert_eq!(
            s.final_error.as_deref(),
            e.final_error,
            "final error of {}",
            e.file
        );
        let (ratio, hit) = match e.steps {
            (6, 6, 0, 0) | (5, 5, 0, 0) => (1.0, true),
            (6, 4, 0, 0) | (6, 4, 1, 1) => (0.667, false),
            (5, 4, 1, 0) => (0.8, false),
            (_, 0, _, _) => (0.0, false),
            other => panic!("write down the ratio of {other:?} for {}", e.file),
        };
        assert_eq!(s.hit_ratio, ratio, "ratio of {}", e.file);
        assert_eq!(
            s.cache_hit(s.log_succeeded()),
            hit,
            "cache-hit of {}",
            e.file
        );
    }
}

#[test]
fn the_failing_step_and_its_dockerfile_line_are_found() {
    let file = std::fs::File::open(
        fixtures_dir()
            .join("buildx-0.13.1_buildkit-0.13__e-copy-missing-file-error.rawjson.stderr.txt"),
    )
    .unwrap();
    let stats = read_log(BufReader::new(file)).unwrap();
    let failed = stats.failed_step.clone().unwrap();
    assert_eq!(
        failed.name,
        "[stage-1 3/4] COPY missing.txt /etc/app/missing.txt"
    );
    assert!(
        failed.error.ends_with("\"/missing.txt\": not found"),
        "{}",
        failed.error
    );
    let location = stats.error_location.unwrap();
    assert_eq!(
        (location.file.as_str(), location.line),
        ("Dockerfile.error-variant", 8)
    );
}

#[test]
fn both_rawjson_layouts_give_the_same_statistics() {
    // buildx 0.15+ prints one object per line: re-encode fixture b that way and compare.
    let text = std::fs::read_to_string(
        fixtures_dir().join("buildx-0.13.1_buildkit-0.13__b-warm-ephemeral.rawjson.stderr.txt"),
    )
    .unwrap();
    let compact: String = serde_json::Deserializer::from_str(&text)
        .into_iter::<serde_json::Value>()
        .map(|v| format!("{}\n", v.unwrap()))
        .collect();
    let indented = read_log(text.as_bytes()).unwrap();
    let single_line = read_log(compact.as_bytes()).unwrap();
    assert_eq!(indented, single_line);
    assert_eq!((single_line.total_steps, single_line.cached_steps), (6, 6));
}

#[test]
fn the_stats_command_reads_saved_logs_of_both_grammars() {
    let run = |file: &str, format: &[&str]| {
        let path = fixtures_dir().join(file);
        let mut args = vec!["stats", path.to_str().unwrap()];
        args.extend(format);
        let run = common::regcache(&args, &Default::default());
        assert_eq!(run.code, Some(0), "{}", run.log());
        run.stdout
    };
    let json: serde_json::Value = serde_json::from_str(&run(
        "buildx-0.13.1_buildkit-0.13__d-partial-hit-branch-fallback.rawjson.stderr.txt",
        &["--output-format", "json"],
    ))
    .unwrap();
    // The same outputs, with the same names, as a build's `--output-format json`.
    assert_eq!(
        (
            json["stats"]["total-steps"].as_u64(),
            json["stats"]["cached-steps"].as_u64(),
            json["stats"]["cache-hit-ratio"].as_f64(),
            json["cache-hit-ratio"].as_str(),
            json["cache-refs-found"].as_str(),
        ),
        (
            Some(6),
            Some(4),
            Some(0.667),
            Some("0.667"),
            Some("127.0.0.1:5055/fixture/app:cache-main")
        )
    );
    assert_eq!(
        run(
            "buildx-0.13.1_buildkit-0.13__c-warm-ephemeral.plain.stderr.txt",
            &[]
        ),
        "6/6 steps cached (100.0%), 0 rebuilt, 0 failed, 0 not run; cache import 0.000s, export 0.100s; vertices 14 (6 cached, 14 completed)\n"
    );
    let dotenv = run(
        "buildx-0.13.1_buildkit-0.13__a-cold-import-miss-export-max.rawjson.stderr.txt",
        &["--output-format", "dotenv"],
    );
    let lines: Vec<&str> = dotenv.lines().collect();
    assert_eq!(
        lines[..4],
        [
            "REGCACHE_CACHE_HIT=false",
            "REGCACHE_CACHE_HIT_RATIO=0",
            "REGCACHE_CACHED_STEPS=0",
            "REGCACHE_TOTAL_STEPS=6"
        ]
    );
    assert!(lines.contains(&"REGCACHE_CACHE_EXPORTED=true"), "{dotenv}");
}
