//! What one file may make kiln read or allocate on the host. A toolchain that takes models and
//! programs from anywhere must refuse a file that asks for more, with an error naming the file
//! and the field, instead of running out of memory: a declared size is a number in the file,
//! not a promise that the memory is needed.

use std::io::Read;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The most bytes kiln reads from one input file (`.onnx`, `.tflite`, `.pte`, `.npy`): 256 MiB,
/// far above any model a microcontroller runs, far below what would exhaust a host.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// The most memory a `.pte` may make the host runner ([`crate::run`]) or `kiln inspect`
/// allocate for it: arena, NPU scratch and fast scratch together, 256 MiB. The largest memory
/// an Ethos-U system addresses for a model is a few MiB of SRAM plus DRAM; a program asking
/// for more than this is corrupt or hostile.
pub const HOST_MEMORY_LIMIT: usize = 256 << 20;

/// A file that cannot be read, or is larger than [`MAX_FILE_BYTES`].
#[derive(Debug, Error)]
pub enum ReadError {
    /// The OS refused.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file holds more than the limit (a device such as `/dev/zero` never ends).
    #[error("{path}: more than {limit} bytes, the most kiln reads from one file (kiln_compiler::limits::MAX_FILE_BYTES)")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
    },
}

/// Reads `path` whole, refusing more than [`MAX_FILE_BYTES`].
pub fn read_file(path: &Path) -> Result<Vec<u8>, ReadError> {
    read_file_capped(path, MAX_FILE_BYTES)
}

/// Reads `path` whole, refusing more than `limit` bytes: a regular file by its length before
/// reading anything, anything else (pipes, devices) after `limit + 1` bytes.
pub fn read_file_capped(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let too_large = || ReadError::TooLarge {
        path: path.to_path_buf(),
        limit,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let meta = f.metadata().map_err(io)?;
    if meta.is_file() && meta.len() > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(if meta.is_file() {
        meta.len() as usize
    } else {
        0
    });
    f.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endless_device_is_refused_at_the_limit() {
        let t = std::time::Instant::now();
        let e = read_file_capped(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(
            matches!(e, ReadError::TooLarge { limit, .. } if limit == 1 << 20),
            "{e}"
        );
        assert!(
            e.to_string()
                .starts_with("/dev/zero: more than 1048576 bytes"),
            "{e}"
        );
        assert!(t.elapsed().as_secs() < 5);
    }

    #[test]
    fn regular_file_over_the_limit_is_refused_unread() {
        let p = std::env::temp_dir().join(format!("kiln-limits-{}.bin", std::process::id()));
        std::fs::write(&p, [7u8; 100]).unwrap();
        assert!(matches!(
            read_file_capped(&p, 99),
            Err(ReadError::TooLarge { limit: 99, .. })
        ));
        assert_eq!(read_file_capped(&p, 100).unwrap(), [7u8; 100]);
        std::fs::remove_file(&p).unwrap();
        assert!(matches!(read_file(&p), Err(ReadError::Io { .. })));
    }
}
