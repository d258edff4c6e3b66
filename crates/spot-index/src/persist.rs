//! The persisted index: one file per workspace in spot's data dir, never inside the repository.
//!
//! Layout: 8-byte magic, format version (u32 LE), xxh3 of the payload (u64 LE), payload
//! (bincode). A file with the wrong magic, another version, a bad checksum or an undecodable
//! payload is an error the caller logs once before rebuilding; nothing here panics on bad bytes.
//! Writes go to a temporary file that is renamed into place. A loaded entry is trusted only
//! while its file's stat stamp is unchanged ([`Index::build`](super::Index::build),
//! [`walk::Stamp`](super::walk::Stamp)).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::file::FileEntry;
use super::Index;

const MAGIC: &[u8; 8] = b"SPOTIDX\0";
/// Bump whenever `FileEntry` or the extractor's output changes.
pub const FORMAT_VERSION: u32 = 4;
const HEADER_LEN: usize = 8 + 4 + 8;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a spot index (bad magic or truncated header)")]
    BadMagic { path: PathBuf },
    #[error("{path} has format version {found}, this spot reads version {FORMAT_VERSION}")]
    OldFormat { path: PathBuf, found: u32 },
    #[error("{path} is corrupt (checksum mismatch)")]
    Checksum { path: PathBuf },
    #[error("{path} is corrupt: {message}")]
    Decode { path: PathBuf, message: String },
    #[error("{path} belongs to workspace {found}, not {expected}")]
    OtherWorkspace {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("cannot encode the index: {0}")]
    Encode(String),
}

#[derive(Serialize)]
struct PayloadRef<'a> {
    root: String,
    files: Vec<&'a FileEntry>,
}

#[derive(Deserialize)]
struct Payload {
    root: String,
    files: Vec<FileEntry>,
}

fn config() -> bincode::config::Configuration<bincode::config::LittleEndian, bincode::config::Fixint>
{
    bincode::config::legacy()
}

/// Where the index of `root` is persisted under `index_dir`.
pub fn cache_path(index_dir: &Path, root: &Path) -> PathBuf {
    index_dir.join(format!("{}.idx", workspace_key(root)))
}

/// A file-name-safe key for a workspace: its directory name and a hash of its whole path
/// (`my_repo-1f2e…`). The index cache and the learned models of a workspace share it.
pub fn workspace_key(root: &Path) -> String {
    let key = xxhash_rust::xxh3::xxh3_64(root.as_os_str().as_encoded_bytes());
    let name = root
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        })
        .unwrap_or_default();
    format!("{name}-{key:016x}")
}

impl Index {
    /// Writes the index atomically to `path`; returns the bytes written.
    pub fn save(&self, path: &Path) -> Result<u64, CacheError> {
        let generation = self.generation();
        let entries = self.snapshot();
        let payload = PayloadRef {
            root: self.root().to_string_lossy().into_owned(),
            files: entries.iter().map(|e| e.as_ref()).collect(),
        };
        let body = bincode::serde::encode_to_vec(&payload, config())
            .map_err(|e| CacheError::Encode(e.to_string()))?;
        let write_err = |source| CacheError::Write {
            path: path.to_path_buf(),
            source,
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(write_err)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(write_err)?;
        tmp.write_all(MAGIC).map_err(write_err)?;
        tmp.write_all(&FORMAT_VERSION.to_le_bytes())
            .map_err(write_err)?;
        tmp.write_all(&xxhash_rust::xxh3::xxh3_64(&body).to_le_bytes())
            .map_err(write_err)?;
        tmp.write_all(&body).map_err(write_err)?;
        tmp.as_file().sync_data().map_err(write_err)?;
        tmp.persist(path).map_err(|e| write_err(e.error))?;
        self.mark_saved(generation);
        Ok((HEADER_LEN + body.len()) as u64)
    }

    /// Loads entries persisted at `path` into this (empty) index; returns how many. The entries
    /// are checked against the disk by the next [`build`](Index::build).
    pub fn load(&self, path: &Path) -> Result<usize, CacheError> {
        let bytes = std::fs::read(path).map_err(|source| CacheError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let files = decode(&bytes, path, self.root())?;
        let n = files.len();
        for entry in files {
            self.insert_cached(entry);
        }
        self.mark_saved(self.generation());
        Ok(n)
    }
}

/// What a cache file holds, for `spot doctor`.
#[derive(Debug, Clone)]
pub struct CacheSummary {
    pub root: String,
    pub files: usize,
    pub bytes: u64,
}

/// Reads and checks a cache file without loading it into an index.
pub fn inspect(path: &Path) -> Result<CacheSummary, CacheError> {
    let bytes = std::fs::read(path).map_err(|source| CacheError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let payload = decode_payload(&bytes, path)?;
    Ok(CacheSummary {
        root: payload.root,
        files: payload.files.len(),
        bytes: bytes.len() as u64,
    })
}

fn decode(bytes: &[u8], path: &Path, root: &Path) -> Result<Vec<FileEntry>, CacheError> {
    let payload = decode_payload(bytes, path)?;
    let expected = root.to_string_lossy();
    if payload.root != expected {
        return Err(CacheError::OtherWorkspace {
            path: path.to_path_buf(),
            found: payload.root,
            expected: expected.into_owned(),
        });
    }
    Ok(payload.files)
}

fn decode_payload(bytes: &[u8], path: &Path) -> Result<Payload, CacheError> {
    let path_buf = || path.to_path_buf();
    let (Some(magic), Some(version), Some(sum), Some(body)) = (
        bytes.get(0..8),
        bytes.get(8..12),
        bytes.get(12..20),
        bytes.get(HEADER_LEN..),
    ) else {
        return Err(CacheError::BadMagic { path: path_buf() });
    };
    if magic != MAGIC {
        return Err(CacheError::BadMagic { path: path_buf() });
    }
    let version = u32::from_le_bytes(version.try_into().unwrap_or_default());
    if version != FORMAT_VERSION {
        return Err(CacheError::OldFormat {
            path: path_buf(),
            found: version,
        });
    }
    let sum = u64::from_le_bytes(sum.try_into().unwrap_or_default());
    if xxhash_rust::xxh3::xxh3_64(body) != sum {
        return Err(CacheError::Checksum { path: path_buf() });
    }
    let (payload, _): (Payload, usize) = bincode::serde::decode_from_slice(body, config())
        .map_err(|e| CacheError::Decode {
            path: path_buf(),
            message: e.to_string(),
        })?;
    Ok(payload)
}
