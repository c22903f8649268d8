//! The context files each COPY and ADD takes, hashed: the one part of a record that reads the
//! disk. `.dockerignore` is honoured as BuildKit reads it (moby/patternmatcher: patterns are
//! relative to the context root, `**` spans directories, `!` re-includes); a source is a path
//! (a file, or a directory and everything under it) or a glob whose `*` stays within one path
//! segment (Go's `filepath.Match`, which BuildKit's `copy` uses), matching a file or a
//! directory above it.
//!
//! Only what the COPY sources take is read, each file once, on as many threads as the machine
//! has (at most 4), through a fixed buffer: memory does not grow with file sizes. A context
//! whose taken files weigh more than `BYTE_BUDGET` is not hashed at all (a record then cannot
//! tell a changed file), and a source taking more than `record::MAX_LISTED_FILES` files keeps
//! its digest without listing them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use sha2::{Digest, Sha256};

use super::{FileSet, MAX_LISTED_FILES};

/// The most bytes a build hashes; past it the context is not hashed.
pub const BYTE_BUDGET: u64 = 8 << 30;
/// A file's hash as a record lists it: the first 16 hex digits of its SHA-256.
const LISTED_HEX: usize = 16;

/// Each source of one COPY with the context files it takes.
type Taken<'a> = Vec<(String, Vec<&'a str>)>;

/// What hashing found: one `FileSet` per COPY asked about (None where its sources are not in
/// the context: a URL, or a file that could not be read), and the bytes read.
#[derive(Debug, Default)]
pub struct Hashed {
    pub sets: Vec<Option<FileSet>>,
    pub bytes: u64,
    pub files: usize,
    /// Why nothing was hashed, when nothing was.
    pub skipped: Option<String>,
}

/// The files each of `copies` (the sources of one COPY or ADD each) takes from `context`.
pub fn hash(context: &Path, copies: &[Vec<String>]) -> Hashed {
    let ignore = dockerignore(context);
    let mut all = Vec::new();
    walk(context, context, &ignore, &mut all);
    all.sort();
    let taken: Vec<Option<Taken<'_>>> = copies
        .iter()
        .map(|sources| {
            sources
                .iter()
                .map(|source| Some((source.clone(), select(source, &all)?)))
                .collect()
        })
        .collect();
    let needed: BTreeSet<&str> = taken
        .iter()
        .flatten()
        .flatten()
        .flat_map(|(_, files)| files.iter().copied())
        .collect();
    let sizes: u64 = needed
        .iter()
        .filter_map(|p| fs::symlink_metadata(context.join(p)).ok())
        .map(|m| m.len())
        .sum();
    if sizes > BYTE_BUDGET {
        return Hashed {
            sets: vec![None; copies.len()],
            skipped: Some(format!(
                "the files COPY takes weigh {sizes} bytes, over the {BYTE_BUDGET} a build hashes"
            )),
            ..Hashed::default()
        };
    }
    let hashes = hash_files(context, &needed.into_iter().collect::<Vec<_>>());
    let sets = taken
        .into_iter()
        .map(|sources| file_set(sources?, &hashes))
        .collect();
    Hashed {
        sets,
        bytes: sizes,
        files: hashes.len(),
        skipped: None,
    }
}

/// One COPY's files as a record keeps them, or None when one of them could not be read.
fn file_set(sources: Taken<'_>, hashes: &BTreeMap<String, String>) -> Option<FileSet> {
    let mut files = BTreeMap::new();
    let mut digests = BTreeMap::new();
    for (source, paths) in sources {
        let mut hasher = Sha256::new();
        for path in paths {
            let hash = hashes.get(path)?;
            hasher.update(path.as_bytes());
            hasher.update([0]);
            hasher.update(hash.as_bytes());
            hasher.update([b'\n']);
            files.insert(path.to_owned(), hash[..LISTED_HEX].to_owned());
        }
        digests.insert(source, format!("sha256:{:x}", hasher.finalize()));
    }
    let mut whole = Sha256::new();
    for (path, hash) in &files {
        whole.update(format!("{path}\0{hash}\n"));
    }
    Some(FileSet {
        digest: format!("sha256:{:x}", whole.finalize()),
        files: (files.len() <= MAX_LISTED_FILES).then_some(files),
        sources: digests,
    })
}

/// The context's `.dockerignore` as a matcher: each pattern anchored at the root, as Docker
/// reads them (a gitignore pattern without a slash would match at any depth).
fn dockerignore(context: &Path) -> Gitignore {
    let mut builder = GitignoreBuilder::new(context);
    if let Ok(text) = fs::read_to_string(context.join(".dockerignore")) {
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negate, pattern) = match line.strip_prefix('!') {
                Some(rest) => ("!", rest.trim()),
                None => ("", line),
            };
            let pattern = pattern.trim_start_matches("./").trim_start_matches('/');
            let _ = builder.add_line(None, &format!("{negate}/{pattern}"));
        }
    }
    builder.build().unwrap_or_else(|_| Gitignore::empty())
}

/// Every file under `dir` not ignored, as context-relative paths with `/`. Symlinks are
/// listed, not followed (COPY copies the link).
fn walk(root: &Path, dir: &Path, ignore: &Gitignore, out: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let Ok(relative) = path.strip_prefix(root) else {
            continue;
        };
        if ignore.matched(relative, kind.is_dir()).is_ignore() {
            continue;
        }
        if kind.is_dir() {
            walk(root, &path, ignore, out);
        } else {
            out.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// The files a source takes, or None for a source outside the context (a URL).
fn select<'a>(source: &str, all: &'a [String]) -> Option<Vec<&'a str>> {
    if source.contains("://") || source.starts_with("git@") {
        return None;
    }
    let cleaned = source.trim_start_matches("./").trim_start_matches('/');
    let cleaned = cleaned.trim_end_matches('/');
    if cleaned.is_empty() || cleaned == "." {
        return Some(all.iter().map(String::as_str).collect());
    }
    if cleaned.contains(['*', '?', '[']) {
        let glob = globset::GlobBuilder::new(cleaned)
            .literal_separator(true)
            .build()
            .ok()?
            .compile_matcher();
        return Some(
            all.iter()
                .filter(|path| {
                    // The file itself, or a directory above it.
                    let mut at = path.as_str();
                    loop {
                        if glob.is_match(at) {
                            return true;
                        }
                        match at.rsplit_once('/') {
                            Some((parent, _)) => at = parent,
                            None => return false,
                        }
                    }
                })
                .map(String::as_str)
                .collect(),
        );
    }
    let under = format!("{cleaned}/");
    Some(
        all.iter()
            .filter(|path| *path == cleaned || path.starts_with(&under))
            .map(String::as_str)
            .collect(),
    )
}

/// Each file's SHA-256 (hex), read on up to 4 threads; a file that cannot be read is absent.
fn hash_files(context: &Path, paths: &[&str]) -> BTreeMap<String, String> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    let next = Mutex::new(0usize);
    let results = Mutex::new(BTreeMap::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut buffer = vec![0u8; 256 << 10];
                loop {
                    let index = {
                        let mut next = next.lock().expect("not poisoned");
                        let index = *next;
                        *next += 1;
                        index
                    };
                    let Some(path) = paths.get(index) else {
                        return;
                    };
                    if let Some(hash) = hash_file(&context.join(path), &mut buffer) {
                        results
                            .lock()
                            .expect("not poisoned")
                            .insert((*path).to_owned(), hash);
                    }
                }
            });
        }
    });
    results.into_inner().expect("not poisoned")
}

fn hash_file(path: &PathBuf, buffer: &mut [u8]) -> Option<String> {
    let mut hasher = Sha256::new();
    if fs::symlink_metadata(path).ok()?.file_type().is_symlink() {
        hasher.update(b"symlink\0");
        hasher.update(fs::read_link(path).ok()?.to_string_lossy().as_bytes());
    } else {
        let mut file = fs::File::open(path).ok()?;
        loop {
            let n = file.read(buffer).ok()?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
        }
    }
    Some(format!("{:x}", hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        dir
    }

    fn listed(set: &Option<FileSet>) -> Vec<String> {
        set.as_ref()
            .unwrap()
            .files
            .as_ref()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn sources_take_files_directories_and_globs_minus_the_dockerignore() {
        let dir = context(&[
            (
                ".dockerignore",
                "# comment\nsecret.txt\n**/*.log\nsrc/gen\n!src/gen/keep.rs\n",
            ),
            ("package.json", "{}"),
            ("package-lock.json", "{}"),
            ("secret.txt", "s"),
            ("src/main.rs", "fn main() {}"),
            ("src/debug.log", "x"),
            ("src/gen/out.rs", "x"),
            ("docs/a.json", "{}"),
        ]);
        let hashed = hash(
            dir.path(),
            &[
                vec!["package*.json".into(), "./src/".into()],
                vec![".".into()],
                vec!["https://example.com/x.tar".into()],
                vec!["*.json".into()],
            ],
        );
        assert_eq!(
            listed(&hashed.sets[0]),
            ["package-lock.json", "package.json", "src/main.rs"]
        );
        let everything = listed(&hashed.sets[1]);
        assert!(!everything.contains(&"secret.txt".to_owned()));
        assert!(!everything.contains(&"src/debug.log".to_owned()));
        assert!(everything.contains(&".dockerignore".to_owned()));
        assert!(hashed.sets[2].is_none(), "a URL is not in the context");
        // `*` stays within one segment: docs/a.json is not taken.
        assert_eq!(
            listed(&hashed.sets[3]),
            ["package-lock.json", "package.json"]
        );
        assert!(hashed.skipped.is_none());
    }

    #[test]
    fn a_changed_file_changes_its_hash_its_sources_digest_and_nothing_else() {
        let dir = context(&[("a/x", "1"), ("b/y", "2")]);
        let copies = [vec!["a".to_owned(), "b".to_owned()]];
        let before = hash(dir.path(), &copies).sets.remove(0).unwrap();
        fs::write(dir.path().join("b/y"), "3").unwrap();
        let after = hash(dir.path(), &copies).sets.remove(0).unwrap();
        assert_ne!(before.digest, after.digest);
        assert_eq!(before.sources["a"], after.sources["a"]);
        assert_ne!(before.sources["b"], after.sources["b"]);
        let (old, new) = (before.files.unwrap(), after.files.unwrap());
        assert_eq!(old["a/x"], new["a/x"]);
        assert_ne!(old["b/y"], new["b/y"]);
        assert_eq!(
            new["a/x"],
            crate::registry::sha256_digest(b"1")["sha256:".len()..][..LISTED_HEX]
        );
    }
}
