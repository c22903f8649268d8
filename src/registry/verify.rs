//! `regcache verify`: does every blob a cache lists exist (HEAD), and, with `--deep`, does each
//! layer decompress to the bytes its `containerd.io/uncompressed` annotation names (BuildKit
//! sets it on every cache layer: moby/buildkit `cache/remotecache/v1/utils.go`). Layers are
//! streamed through the decompressor and hasher chunk by chunk, so memory stays bounded
//! whatever their size. The compressed digest is checked by oci-client's verifying stream.

use std::io::Write;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::cache::entries::Compression;

/// What a check found of one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobStatus {
    Ok,
    /// The registry does not have it (or could not say).
    Missing,
    /// Its bytes are not what its digest, size or annotations say.
    Corrupt,
}

impl BlobStatus {
    fn word(self) -> &'static str {
        match self {
            BlobStatus::Ok => "ok",
            BlobStatus::Missing => "missing",
            BlobStatus::Corrupt => "corrupt",
        }
    }
}

/// One blob of a cache and what the check found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlobCheck {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    pub status: BlobStatus,
    pub problem: Option<String>,
    /// Bytes after decompression (deep checks of layers).
    pub uncompressed_bytes: Option<u64>,
}

impl BlobCheck {
    /// What a check of `blob` found.
    pub fn of(
        blob: &super::cache::BlobRef,
        status: BlobStatus,
        problem: Option<String>,
        uncompressed_bytes: Option<u64>,
    ) -> Self {
        Self {
            digest: blob.digest.clone(),
            media_type: blob.media_type.clone(),
            size: blob.size,
            status,
            problem,
            uncompressed_bytes,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub reference: String,
    pub deep: bool,
    pub blobs: Vec<BlobCheck>,
    pub missing: usize,
    pub corrupt: usize,
    /// Uncompressed bytes hashed (deep).
    pub uncompressed_bytes: u64,
    /// The cache's build record, read and checked.
    pub record: RecordCheck,
}

/// What `verify` found of the build record beside a cache.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum RecordCheck {
    /// Not asked (a cache named by digest has no record tag).
    NotChecked,
    None,
    /// It reads and describes the cache as stored.
    Current {
        steps: usize,
        builds: usize,
    },
    /// It reads, but describes a cache the tag held before (written again without a record).
    Earlier,
    Unreadable {
        problem: String,
    },
}

impl RecordCheck {
    fn line(&self) -> Option<String> {
        Some(match self {
            RecordCheck::NotChecked => return None,
            RecordCheck::None => "build record: none (the cache was written without one)".into(),
            RecordCheck::Current { steps, builds } => format!(
                "build record: ok, {steps} steps, {builds} build{} in its history",
                if *builds == 1 { "" } else { "s" }
            ),
            RecordCheck::Earlier => "build record: describes an earlier cache of this tag (written again without a record); the next regcache build replaces it".into(),
            RecordCheck::Unreadable { problem } => format!("build record: unreadable: {problem}"),
        })
    }
}

impl Verification {
    pub fn new(reference: &str, deep: bool, blobs: Vec<BlobCheck>) -> Self {
        let count = |status| blobs.iter().filter(|b| b.status == status).count();
        Verification {
            reference: reference.to_owned(),
            deep,
            missing: count(BlobStatus::Missing),
            corrupt: count(BlobStatus::Corrupt),
            uncompressed_bytes: blobs.iter().filter_map(|b| b.uncompressed_bytes).sum(),
            blobs,
            record: RecordCheck::NotChecked,
        }
    }

    pub fn human(&self) -> String {
        let mut text = String::new();
        // Digests were checked to be digests; a problem holds the registry's words.
        for blob in &self.blobs {
            let line = format!(
                "{:<8} {}  {} bytes{}",
                blob.status.word(),
                blob.digest,
                blob.size,
                blob.problem
                    .as_ref()
                    .map(|p| format!(": {p}"))
                    .unwrap_or_default()
            );
            text += &crate::escape::one_line(&line);
            text.push('\n');
        }
        text += &format!(
            "{}: {} blobs, {} missing, {} corrupt{}\n",
            self.reference,
            self.blobs.len(),
            self.missing,
            self.corrupt,
            if self.deep {
                format!(", {} uncompressed bytes checked", self.uncompressed_bytes)
            } else {
                " (existence only; --deep checks the content)".to_owned()
            }
        );
        if let Some(line) = self.record.line() {
            text += &crate::escape::one_line(&line);
            text.push('\n');
        }
        text
    }

    /// What to do, when something is wrong.
    pub fn problem(&self) -> Option<String> {
        if let (0, RecordCheck::Unreadable { problem }) =
            (self.missing + self.corrupt, &self.record)
        {
            return Some(format!(
                "the build record is unreadable ({problem}); the cache itself is whole. The next regcache build that writes this cache writes a new record"
            ));
        }
        (self.missing + self.corrupt > 0).then(|| {
            format!(
                "{} missing and {} corrupt blobs (listed above): builds importing this cache fail or run cold. Re-export it: run a build that writes this ref (cache-to with mode=max), or delete the tag so the next build writes it afresh",
                self.missing, self.corrupt
            )
        })
    }
}

/// A hashing sink: what the decompressor writes into.
struct Hashing {
    hasher: Sha256,
    bytes: u64,
}

impl Write for Hashing {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.hasher.update(data);
        self.bytes += data.len() as u64;
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The decompressor for a layer's compression, writing into the hasher.
enum Decoder {
    Gzip(flate2::write::MultiGzDecoder<Hashing>),
    Zstd(zstd::stream::write::Decoder<'static, Hashing>),
    Plain(Hashing),
}

/// Checks one layer's uncompressed content, fed chunk by chunk as it arrives.
pub struct LayerCheck {
    decoder: Decoder,
    expected: String,
}

impl LayerCheck {
    /// `expected` is the layer's uncompressed digest.
    pub fn new(compression: Compression, expected: &str) -> Result<Self, String> {
        let sink = Hashing {
            hasher: Sha256::new(),
            bytes: 0,
        };
        let decoder = match compression {
            Compression::Gzip | Compression::Estargz => {
                Decoder::Gzip(flate2::write::MultiGzDecoder::new(sink))
            }
            Compression::Zstd => Decoder::Zstd(
                zstd::stream::write::Decoder::new(sink)
                    .map_err(|e| format!("starting zstd: {e}"))?,
            ),
            Compression::Uncompressed => Decoder::Plain(sink),
        };
        Ok(LayerCheck {
            decoder,
            expected: expected.to_owned(),
        })
    }

    pub fn update(&mut self, chunk: &[u8]) -> Result<(), String> {
        let written = match &mut self.decoder {
            Decoder::Gzip(d) => d.write_all(chunk),
            Decoder::Zstd(d) => d.write_all(chunk),
            Decoder::Plain(d) => d.write_all(chunk),
        };
        written.map_err(|e| format!("does not decompress: {e}"))
    }

    /// The uncompressed size, or what is wrong with the content.
    pub fn finish(self) -> Result<u64, String> {
        let sink = match self.decoder {
            Decoder::Gzip(d) => d.finish(),
            Decoder::Zstd(mut d) => d.flush().map(|()| d.into_inner()),
            Decoder::Plain(d) => Ok(d),
        }
        .map_err(|e| format!("does not decompress: {e}"))?;
        let actual = format!("sha256:{:x}", sink.hasher.finalize());
        if actual == self.expected {
            Ok(sink.bytes)
        } else {
            Err(format!(
                "decompresses to {actual}, not {} as its containerd.io/uncompressed annotation says",
                self.expected
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(bytes: &[u8]) -> String {
        format!("sha256:{:x}", Sha256::digest(bytes))
    }

    fn check(compression: Compression, compressed: &[u8], expected: &str) -> Result<u64, String> {
        let mut check = LayerCheck::new(compression, expected)?;
        // Odd chunk sizes: the decoders must carry state across chunks.
        for chunk in compressed.chunks(7) {
            check.update(chunk)?;
        }
        check.finish()
    }

    #[test]
    fn gzip_zstd_and_plain_layers_check_against_their_uncompressed_digest() {
        let content: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&content).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&content[..], 3).unwrap();
        let right = digest(&content);
        let n = content.len() as u64;
        assert_eq!(check(Compression::Gzip, &gz, &right), Ok(n));
        assert_eq!(check(Compression::Estargz, &gz, &right), Ok(n));
        assert_eq!(check(Compression::Zstd, &zst, &right), Ok(n));
        assert_eq!(check(Compression::Uncompressed, &content, &right), Ok(n));
        let wrong = digest(b"other");
        for (compression, bytes) in [(Compression::Gzip, &gz), (Compression::Zstd, &zst)] {
            let problem = check(compression, bytes, &wrong).unwrap_err();
            assert!(
                problem.contains(&right) && problem.contains(&wrong),
                "{problem}"
            );
        }
        // A flipped byte inside the compressed stream.
        let mut bad = gz.clone();
        let middle = bad.len() / 2;
        bad[middle] ^= 0xff;
        assert!(check(Compression::Gzip, &bad, &right).is_err());
        // A truncated stream does not pass as complete.
        assert!(check(Compression::Zstd, &zst[..zst.len() / 2], &right).is_err());
        assert!(check(Compression::Gzip, &gz[..gz.len() / 2], &right).is_err());
    }

    #[test]
    fn the_verdict_names_what_to_do_only_when_something_is_wrong() {
        let blob = |status| BlobCheck {
            digest: "sha256:aa".into(),
            media_type: "x".into(),
            size: 1,
            status,
            problem: None,
            uncompressed_bytes: Some(5),
        };
        let fine = Verification::new("r", true, vec![blob(BlobStatus::Ok), blob(BlobStatus::Ok)]);
        assert_eq!(
            (fine.missing, fine.corrupt, fine.uncompressed_bytes),
            (0, 0, 10)
        );
        assert!(fine.problem().is_none());
        let broken = Verification::new(
            "r",
            true,
            vec![
                blob(BlobStatus::Ok),
                blob(BlobStatus::Missing),
                blob(BlobStatus::Corrupt),
            ],
        );
        assert_eq!((broken.missing, broken.corrupt), (1, 1));
        assert!(broken.problem().unwrap().contains("Re-export"));
    }
}
