//! GitLab CI: collapsible log sections and dotenv reports (one `NAME=value` line each, names
//! `[A-Za-z0-9_]`, no quoting or escapes processed).

pub fn section_name(title: &str) -> String {
    let name: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("regcache_{name}")
}

pub fn section_start(name: &str, header: &str, unix_seconds: u64) -> String {
    format!("\x1b[0Ksection_start:{unix_seconds}:{name}[collapsed=true]\r\x1b[0K{header}")
}

pub fn section_end(name: &str, unix_seconds: u64) -> String {
    format!("\x1b[0Ksection_end:{unix_seconds}:{name}\r\x1b[0K")
}

/// `cache-hit` → `REGCACHE_CACHE_HIT`.
pub fn variable_name(output: &str) -> String {
    format!("REGCACHE_{}", output.to_ascii_uppercase().replace('-', "_"))
}

/// Values are single lines: a value with a newline would end its variable early.
pub fn dotenv(outputs: &[(&str, String)]) -> String {
    outputs
        .iter()
        .map(|(name, value)| {
            format!(
                "{}={}\n",
                variable_name(name),
                value.replace(['\n', '\r'], " ")
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_lines_are_single_line() {
        assert_eq!(
            dotenv(&[("cache-hit", "true".into()), ("stats", "{\n}".into())]),
            "REGCACHE_CACHE_HIT=true\nREGCACHE_STATS={ }\n"
        );
        assert_eq!(section_name("Build progress"), "regcache_build_progress");
    }
}
