//! The definition `docker buildx bake --print` gives: the targets a run builds, resolved from
//! the files, groups and `--set` overrides by buildx itself (buildx `bake/bake.go`, `Target`).
//! Pure: the text in, the targets out.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// One resolved target: what regcache reads of it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Target {
    pub name: String,
    pub tags: Vec<String>,
    pub platforms: Vec<String>,
    /// The target's own cache entries, as CSV: kept, with regcache's added.
    pub cache_from: Vec<String>,
    pub cache_to: Vec<String>,
    pub outputs: Vec<String>,
    pub attest: Vec<String>,
}

/// The targets in the order buildx prints them (sorted by name, as bake-action iterates them).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Definition {
    pub targets: Vec<Target>,
}

#[derive(Deserialize)]
struct Printed {
    #[serde(default)]
    target: BTreeMap<String, PrintedTarget>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PrintedTarget {
    tags: Vec<String>,
    platforms: Vec<String>,
    #[serde(rename = "cache-from")]
    cache_from: Vec<Value>,
    #[serde(rename = "cache-to")]
    cache_to: Vec<Value>,
    output: Vec<Value>,
    attest: Vec<Value>,
}

/// An entry buildx prints as CSV (0.13) or, since it types them, as an object of its fields:
/// both as CSV, `type` first.
fn csv_entry(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Object(fields) => {
            let mut pairs: Vec<(&String, String)> = fields
                .iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k, text)
                })
                .collect();
            pairs.sort_by_key(|(k, _)| *k != "type");
            let fields: Vec<String> = pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
            let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
            Some(crate::cache::entries::csv_line(&refs))
        }
        _ => None,
    }
}

fn entries(values: &[Value]) -> Vec<String> {
    values.iter().filter_map(csv_entry).collect()
}

/// The targets of a printed definition, or what is wrong with the text.
pub fn parse(text: &str) -> Result<Definition, String> {
    let printed: Printed = serde_json::from_str(text).map_err(|e| e.to_string())?;
    Ok(Definition {
        targets: printed
            .target
            .into_iter()
            .map(|(name, t)| Target {
                name,
                tags: t.tags,
                platforms: t.platforms,
                cache_from: entries(&t.cache_from),
                cache_to: entries(&t.cache_to),
                outputs: entries(&t.output),
                attest: entries(&t.attest),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_of_entries_read_as_csv() {
        let old = r#"{"group":{"default":{"targets":["api"]}},"target":{"web":{"tags":["r/web:1"]},"api":{"context":".","tags":["r/api:1","r/api:latest"],"platforms":["linux/amd64"],"cache-from":["type=registry,ref=r/api:own"],"cache-to":["type=inline"],"output":["type=docker"],"attest":["type=provenance,mode=max"]}}}"#;
        let definition = parse(old).unwrap();
        let names: Vec<&str> = definition.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            ["api", "web"],
            "sorted by name, as buildx prints them"
        );
        let api = &definition.targets[0];
        assert_eq!(api.tags, ["r/api:1", "r/api:latest"]);
        assert_eq!(api.platforms, ["linux/amd64"]);
        assert_eq!(api.cache_from, ["type=registry,ref=r/api:own"]);
        assert_eq!(api.cache_to, ["type=inline"]);
        assert_eq!(api.outputs, ["type=docker"]);
        assert_eq!(api.attest, ["type=provenance,mode=max"]);
        let typed = r#"{"target":{"api":{"cache-from":[{"ref":"r/api:own","type":"registry"}],"output":[{"type":"image","push":"true"}]}}}"#;
        let api = &parse(typed).unwrap().targets[0];
        assert_eq!(api.cache_from, ["type=registry,ref=r/api:own"]);
        assert_eq!(api.outputs, ["type=image,push=true"]);
        assert!(parse("ERROR: x").is_err());
    }
}
