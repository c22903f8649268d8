//! action.yml and the code agree both ways: every input and output declared, nothing extra,
//! defaults equal, and every input mapped into the composite step's `INPUT_*` environment
//! (composite actions get none of their own, actions/runner#665).

use std::collections::BTreeSet;

use regcache::inputs::{INPUTS, github_env_name};
use regcache::report::OUTPUTS;
use yaml_serde::Value;

/// Inputs of the action wrapper itself, not of a build.
const ACTION_ONLY_INPUTS: &[&str] = &["binary-path", "github-token"];

fn action() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/action.yml")).unwrap();
    yaml_serde::from_str(&text).unwrap()
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
        let default = input
            .get("default")
            .map(|d| d.as_str().unwrap().to_owned())
            .unwrap_or_default();
        assert_eq!(default, spec.default, "default of {}", spec.name);
        assert!(
            !input["description"].as_str().unwrap().is_empty(),
            "description of {}",
            spec.name
        );
    }
}

#[test]
fn every_input_reaches_the_binary() {
    let action = action();
    let steps = action["runs"]["steps"].as_sequence().unwrap();
    let run = steps
        .iter()
        .find(|s| s["id"] == "run")
        .expect("a step with id: run");
    assert!(run["run"].as_str().unwrap().ends_with(" action"));
    let env = &run["env"];
    let mapped = keys(env);
    let mut expected: BTreeSet<String> = INPUTS.iter().map(|s| github_env_name(s.name)).collect();
    // The API token is read by the GitHub adapter itself, not by validation.
    expected.insert(github_env_name("github-token"));
    assert_eq!(mapped, expected);
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
    let expected: BTreeSet<String> = OUTPUTS.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(declared, expected);
    for (name, _) in OUTPUTS {
        assert_eq!(
            action["outputs"][*name]["value"].as_str().unwrap(),
            format!("${{{{ steps.run.outputs.{name} }}}}")
        );
    }
}

#[test]
fn the_readme_tables_list_every_input_and_output() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for spec in INPUTS {
        let row = format!(
            "| `{}` | {} | {} |",
            spec.name,
            if spec.default.is_empty() {
                String::new()
            } else {
                format!("`{}`", spec.default)
            },
            spec.description.replace('|', "\\|")
        );
        assert!(
            readme.contains(&row),
            "README row for input {}: {row}",
            spec.name
        );
    }
    for (name, description) in OUTPUTS {
        assert!(
            readme.contains(&format!("| `{name}` | {description} |")),
            "README row for output {name}"
        );
    }
}
