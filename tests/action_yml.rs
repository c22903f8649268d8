//! action.yml and the code agree both ways: every input and output declared, nothing extra,
//! defaults and descriptions equal, and every input mapped into the composite step's `INPUT_*`
//! environment (composite actions get none of their own, actions/runner#665).

use std::collections::BTreeSet;

use regcache::Env;
use regcache::internals::{self as config, INPUTS, Output, RawInputs, github_env_name};
use yaml_serde::Value;

/// Inputs of the action wrapper itself (read by the launcher or the API adapter), not of a build.
const ACTION_ONLY_INPUTS: &[&str] = &["binary-path", "download-url", "github-token"];
/// The launcher's own variables, mapped from `binary-path` and `download-url`.
const LAUNCHER_ENV: &[&str] = &["REGCACHE_BINARY_PATH", "REGCACHE_DOWNLOAD_URL"];

fn action() -> Value {
    read_action("action.yml")
}

fn read_action(path: &str) -> Value {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap();
    yaml_serde::from_str(&text).unwrap()
}

/// The `INPUT_*` the runner sets from an action's declared defaults.
fn runner_defaults(action: &Value) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for (name, input) in action["inputs"].as_mapping().unwrap() {
        if let Some(default) = input.get("default") {
            let default = default.as_str().unwrap();
            // `${{ github.token }}` is evaluated by the runner to the job's token.
            let value = if default.starts_with("${{") {
                "ghs_job_token"
            } else {
                default
            };
            env.push((github_env_name(name.as_str().unwrap()), value.to_owned()));
        }
    }
    env
}

fn keys(map: &Value) -> BTreeSet<String> {
    map.as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn inputs_agree_with_the_input_table() {
    let action = action();
    let declared = keys(&action["inputs"]);
    let mut expected: BTreeSet<String> = INPUTS.iter().map(|s| s.name.to_owned()).collect();
    expected.extend(ACTION_ONLY_INPUTS.iter().map(|s| s.to_string()));
    assert_eq!(declared, expected);
    for spec in INPUTS {
        let input = &action["inputs"][spec.name];
        let default = input.get("default").map(|d| d.as_str().unwrap().to_owned());
        if spec.declared_in_action {
            assert_eq!(
                default.unwrap_or_default(),
                spec.default,
                "default of {}",
                spec.name
            );
        } else {
            // The runner would pass it as written by the workflow (see the test below).
            assert_eq!(default, None, "{} must declare no default", spec.name);
        }
        assert_eq!(
            input["description"].as_str().unwrap(),
            spec.description,
            "description of {}",
            spec.name
        );
    }
}

/// What the runner does with `action.yml`: every declared default arrives as a real value,
/// with its expressions evaluated. That must mean exactly what the CLI means with no flags,
/// with and without a policy file (which a passed default would otherwise override).
#[test]
fn runner_defaults_equal_the_cli_with_no_flags() {
    let mut env = runner_defaults(&action());
    env.push(("INPUT_TAGS".into(), "127.0.0.1:5055/app:dev".into()));
    let from_runner = RawInputs::from_github(&Env::from_iter(env));
    let matches = regcache::internals::command()
        .try_get_matches_from(["regcache", "build", "--tag", "127.0.0.1:5055/app:dev"])
        .unwrap();
    let from_cli =
        regcache::internals::raw_from_matches(matches.subcommand_matches("build").unwrap());

    let runner = config::validate(&from_runner).unwrap();
    let mut cli = config::validate(&from_cli).unwrap();
    // The one difference by design: a command line builds `.`, the action (no context given)
    // build-push-action's Git context.
    assert_eq!(
        (
            runner.build.context.as_deref(),
            cli.build.context.as_deref()
        ),
        (None, Some("."))
    );
    cli.build.context = None;
    assert_eq!(runner, cli);
    assert!(
        !runner.policy.file_required,
        "a left-out policy-file may be absent"
    );
    let file = regcache::internals::parse_policy_file(
        "policy: read-only\nprefix: team-cache\nscope: api\n",
        "f",
    )
    .unwrap();
    let settings = |config: &config::Config, file| {
        config::settings(
            &config.policy,
            file,
            config.build.target.as_deref(),
            &config.build.platforms,
            config.pinned_tag.as_deref(),
        )
    };
    for file in [None, Some(&file)] {
        assert_eq!(settings(&runner, file), settings(&cli, file));
    }
    let settings = settings(&runner, Some(&file));
    assert_eq!(
        (settings.kind.to_string(), settings.prefix.as_str()),
        ("read-only".to_owned(), "team-cache"),
        "the policy file wins over the built-in defaults"
    );
}

#[test]
fn every_input_reaches_the_binary() {
    let action = action();
    let steps = action["runs"]["steps"].as_sequence().unwrap();
    let run = steps
        .iter()
        .find(|s| s["id"] == "run")
        .expect("a step with id: run");
    assert_eq!(
        run["run"].as_str().unwrap(),
        r#"bash "$GITHUB_ACTION_PATH/dist/launch.sh" action"#
    );
    let env = &run["env"];
    let mapped = keys(env);
    let mut expected: BTreeSet<String> = INPUTS.iter().map(|s| github_env_name(s.name)).collect();
    // The API token is read by the GitHub adapter itself, not by validation.
    expected.insert(github_env_name("github-token"));
    expected.extend(LAUNCHER_ENV.iter().map(|s| s.to_string()));
    assert_eq!(mapped, expected);
    assert_eq!(
        env["REGCACHE_BINARY_PATH"].as_str().unwrap(),
        "${{ inputs.binary-path }}"
    );
    assert_eq!(
        env["REGCACHE_DOWNLOAD_URL"].as_str().unwrap(),
        "${{ inputs.download-url }}"
    );
    for spec in INPUTS {
        assert_eq!(
            env[github_env_name(spec.name).as_str()].as_str().unwrap(),
            format!("${{{{ inputs.{} }}}}", spec.name)
        );
    }
}

#[test]
fn outputs_agree_with_the_report() {
    let action = action();
    let declared = keys(&action["outputs"]);
    let expected: BTreeSet<String> = Output::ALL.iter().map(|o| o.name().to_owned()).collect();
    assert_eq!(declared, expected);
    for name in Output::ALL.map(Output::name) {
        assert_eq!(
            action["outputs"][name]["value"].as_str().unwrap(),
            format!("${{{{ steps.run.outputs.{name} }}}}")
        );
    }
}

#[test]
fn the_readme_tables_list_every_input_and_output() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let row = |spec: &config::InputSpec| {
        format!(
            "| `{}` | {} | {} |",
            spec.name,
            if spec.default.is_empty() {
                String::new()
            } else {
                format!("`{}`", spec.default)
            },
            spec.description.replace('|', "\\|")
        )
    };
    for spec in INPUTS.iter().chain(config::bake_inputs()) {
        let row = row(spec);
        assert!(
            readme.contains(&row),
            "README row for input {}: {row}",
            spec.name
        );
    }
    for (name, description) in Output::ALL
        .iter()
        .chain(&Output::BAKE)
        .map(|o| (o.name(), o.description()))
    {
        assert!(
            readme.contains(&format!("| `{name}` | {description} |")),
            "README row for output {name}"
        );
    }
}

/// The prune sub-action: every input reaches a variable that `regcache prune` reads (a flag's
/// `REGCACHE_*` variable, the launcher's, the password or the token), and every variable the
/// step sets comes from an input.
#[test]
fn the_prune_action_passes_every_input_to_a_variable_prune_reads() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/prune/action.yml")).unwrap();
    let action: Value = yaml_serde::from_str(&text).unwrap();
    let prune = regcache::internals::command()
        .find_subcommand("prune")
        .unwrap()
        .clone();
    let mut readable: BTreeSet<String> = prune
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_str().unwrap().to_owned())
        .collect();
    readable.extend(LAUNCHER_ENV.iter().map(|s| s.to_string()));
    readable.extend(["REGCACHE_PASSWORD".to_owned(), "GITHUB_TOKEN".to_owned()]);
    let step = &action["runs"]["steps"][0];
    let env = step["env"].as_mapping().unwrap();
    let mut mapped = BTreeSet::new();
    for (name, value) in env {
        let name = name.as_str().unwrap();
        assert!(readable.contains(name), "{name} is read by nobody");
        let value = value.as_str().unwrap();
        // `${{ inputs.name }}`, or an expression that starts with the input.
        let input = value
            .strip_prefix("${{ inputs.")
            .and_then(|v| v.split([' ', '}']).next())
            .unwrap_or_else(|| panic!("{name} is not an input: {value}"));
        mapped.insert(input.to_owned());
    }
    assert_eq!(mapped, keys(&action["inputs"]));
    // The step's outputs are the ones prune writes.
    let outcome = regcache::internals::Outcome {
        repository: String::new(),
        dry_run: true,
        deleted: Vec::new(),
        would_delete: Vec::new(),
        kept: Vec::new(),
        failed: Vec::new(),
        blocked: None,
    };
    let written: BTreeSet<String> = outcome
        .outputs()
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(keys(&action["outputs"]), written);
}

/// The bake sub-action (`bake/action.yml`) and `regcache bake`'s input table agree both ways,
/// as the main action and build's do.
#[test]
fn the_bake_action_agrees_with_its_input_table_and_outputs() {
    let action = read_action("bake/action.yml");
    let declared = keys(&action["inputs"]);
    let mut expected: BTreeSet<String> = config::bake_inputs().map(|s| s.name.to_owned()).collect();
    expected.extend(ACTION_ONLY_INPUTS.iter().map(|s| s.to_string()));
    assert_eq!(declared, expected);
    for spec in config::bake_inputs() {
        let input = &action["inputs"][spec.name];
        let default = input.get("default").map(|d| d.as_str().unwrap().to_owned());
        let expected_default =
            (spec.declared_in_action && !spec.default.is_empty()).then(|| spec.default.to_owned());
        assert_eq!(default, expected_default, "default of {}", spec.name);
        assert_eq!(
            input["description"].as_str().unwrap(),
            spec.description,
            "description of {}",
            spec.name
        );
    }
    let run = action["runs"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "run")
        .expect("a step with id: run")
        .clone();
    assert_eq!(
        run["run"].as_str().unwrap(),
        r#"bash "$GITHUB_ACTION_PATH/../dist/launch.sh" action bake"#
    );
    let mut mapped_expected: BTreeSet<String> = config::bake_inputs()
        .map(|s| github_env_name(s.name))
        .collect();
    mapped_expected.insert(github_env_name("github-token"));
    mapped_expected.extend(LAUNCHER_ENV.iter().map(|s| s.to_string()));
    assert_eq!(keys(&run["env"]), mapped_expected);
    for spec in config::bake_inputs() {
        assert_eq!(
            run["env"][github_env_name(spec.name).as_str()]
                .as_str()
                .unwrap(),
            format!("${{{{ inputs.{} }}}}", spec.name)
        );
    }
    let outputs: BTreeSet<String> = Output::BAKE.iter().map(|o| o.name().to_owned()).collect();
    assert_eq!(keys(&action["outputs"]), outputs);
    for output in Output::BAKE {
        let declared = &action["outputs"][output.name()];
        assert_eq!(
            declared["description"].as_str().unwrap(),
            output.description()
        );
        assert_eq!(
            declared["value"].as_str().unwrap(),
            format!("${{{{ steps.run.outputs.{} }}}}", output.name())
        );
    }
}

/// The runner's defaults for the bake sub-action mean what `regcache bake` means with no flags.
#[test]
fn bake_runner_defaults_equal_the_cli_with_no_flags() {
    let env = runner_defaults(&read_action("bake/action.yml"));
    let from_runner = RawInputs::from_github_bake(&Env::from_iter(env));
    let matches = regcache::internals::command()
        .try_get_matches_from(["regcache", "bake"])
        .unwrap();
    let from_cli =
        regcache::internals::bake_raw_from_matches(matches.subcommand_matches("bake").unwrap());
    assert_eq!(
        config::validate_bake(&from_runner).unwrap(),
        config::validate_bake(&from_cli).unwrap()
    );
}
