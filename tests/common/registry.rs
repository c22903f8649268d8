//! Writing to a registry as any client does (curl): blobs, manifests, tag lists; and caches
//! made from those pieces, for registries the builder cannot log in to.

use serde_json::{Value, json};
use std::process::Command;

pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const IMAGE: &str = "application/vnd.oci.image.manifest.v1+json";

pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{:x}", sha2::Sha256::digest(bytes))
}

/// A registry at `base` (`http://127.0.0.1:port`), reached with curl.
pub struct Remote {
    pub base: String,
    pub user: Option<(&'static str, &'static str)>,
}

impl Remote {
    fn curl(&self, args: &[&str]) -> std::process::Output {
        let mut command = Command::new("curl");
        command.args(["-s", "-S", "-f"]);
        if let Some((user, password)) = self.user {
            command.args(["-u", &format!("{user}:{password}")]);
        }
        let out = command.args(args).output().expect("curl runs");
        assert!(
            out.status.success(),
            "curl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    pub fn put_manifest(&self, repo: &str, tag: &str, manifest: &Value) -> String {
        let bytes = serde_json::to_vec(manifest).unwrap();
        let media_type = manifest["mediaType"].as_str().unwrap();
        let body = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(body.path(), &bytes).unwrap();
        self.curl(&[
            "-X",
            "PUT",
            "-H",
            &format!("Content-Type: {media_type}"),
            "--data-binary",
            &format!("@{}", body.path().display()),
            &format!("{}/v2/{repo}/manifests/{tag}", self.base),
        ]);
        sha256(&bytes)
    }

    pub fn get_manifest(&self, repo: &str, tag: &str) -> Value {
        let out = self.curl(&[
            "-H",
            &format!("Accept: {INDEX}, {IMAGE}"),
            &format!("{}/v2/{repo}/manifests/{tag}", self.base),
        ]);
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> Value {
        let digest = sha256(bytes);
        let out = self.curl(&[
            "-X",
            "POST",
            "-D",
            "-",
            "-o",
            "/dev/null",
            &format!("{}/v2/{repo}/blobs/uploads/", self.base),
        ]);
        let headers = String::from_utf8_lossy(&out.stdout).into_owned();
        let location = headers
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .starts_with("location:")
                    .then(|| l["location:".len()..].trim().to_owned())
            })
            .expect("an upload location");
        let location = if location.starts_with("http") {
            location
        } else {
            format!("{}{location}", self.base)
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let body = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(body.path(), bytes).unwrap();
        self.curl(&[
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/octet-stream",
            "--data-binary",
            &format!("@{}", body.path().display()),
            &format!("{location}{separator}digest={digest}"),
        ]);
        json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": bytes.len()})
    }

    pub fn tags(&self, repo: &str) -> Vec<String> {
        let out = self.curl(&[&format!("{}/v2/{repo}/tags/list", self.base)]);
        let list: Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut tags: Vec<String> = list["tags"]
            .as_array()
            .map(|t| t.iter().map(|t| t.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        tags.sort();
        tags
    }
}

/// The same cache under another digest: the same blobs, one annotation more.
pub fn variant(manifest: &Value, name: &str) -> Value {
    let mut copy = manifest.clone();
    copy["annotations"] = json!({ "org.example.variant": name });
    copy
}

/// A small cache made by hand (for registries the builder cannot log in to): one layer and a
/// cache config, in BuildKit's index form.
pub fn synthetic_cache(remote: &Remote, repo: &str, seed: &str) -> Value {
    let layer = remote.push_blob(repo, format!("layer {seed}").as_bytes());
    let config = remote.push_blob(repo, br#"{"layers":[],"records":[]}"#);
    let mut config = config;
    config["mediaType"] = json!("application/vnd.buildkit.cacheconfig.v0");
    json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [layer, config]})
}
