//! The Amazon Trust Services roots as librdkafka's `ssl.ca.location`: a directory in OpenSSL's
//! hashed layout (`c_rehash`: `<subject hash>.0`, one PEM certificate per file).
//!
//! Handed over as `ssl.ca.pem`, all five roots are decoded when the Kafka client is created,
//! about 2 ms of the producer's init with OpenSSL 3 (BENCHMARKS.md, "Levers, fourth round").
//! From a hashed directory OpenSSL reads a root only when a handshake's chain needs it, and only
//! that one. Same roots, same verification: this changes when they are read, not what is trusted.
//!
//! The directory lives in the temporary directory (`/tmp` on Lambda), is private to the user
//! (mode 0700), is named after its contents, and is created complete by one `rename`, so
//! concurrent processes share it and none sees it half written. An existing directory is used
//! only if it is this user's, private, and holds exactly the built-in certificates; otherwise the
//! caller falls back to `ssl.ca.pem`.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use sensor_shared::aws::AWS_ROOTS_PEM;

/// OpenSSL's subject-name hash (`openssl x509 -noout -subject_hash`) of each certificate of
/// [`AWS_ROOTS_PEM`], in the file's order; a test recomputes them with the `openssl` command.
const SUBJECT_HASHES: [&str; 5] = ["ce5e74ef", "6d41d539", "8cb5ee0f", "de6d66f3", "09789157"];

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// `(file name, PEM text)` of every root, as the hashed directory holds them.
fn files() -> Vec<(String, &'static str)> {
    let mut certificates = Vec::new();
    let mut rest = AWS_ROOTS_PEM;
    while let Some(start) = rest.find(BEGIN) {
        let end = rest[start..]
            .find(END)
            .map(|i| start + i + END.len())
            .expect("aws-roots.pem: every BEGIN has its END");
        certificates.push(&rest[start..end]);
        rest = &rest[end..];
    }
    assert_eq!(
        certificates.len(),
        SUBJECT_HASHES.len(),
        "aws-roots.pem and SUBJECT_HASHES list the same roots"
    );
    SUBJECT_HASHES
        .iter()
        .zip(certificates)
        .map(|(hash, pem)| (format!("{hash}.0"), pem))
        .collect()
}

/// FNV-1a of the roots: part of the directory's name, so other roots get another directory.
fn fingerprint() -> u64 {
    AWS_ROOTS_PEM.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The hashed directory of the roots under `base` (the temporary directory in production):
/// the existing one when it checks out, else a new one. An error means "use `ssl.ca.pem`".
pub fn aws_roots_dir(base: &Path) -> io::Result<PathBuf> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    let name = format!("sensor-stream-kafka-roots-{uid}-{:016x}", fingerprint());
    let dir = base.join(&name);
    match check(&dir, uid) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        other => return other.map(|()| dir),
    }
    static STAGED: AtomicU32 = AtomicU32::new(0);
    let staging = base.join(format!(
        "{name}.{}-{}",
        std::process::id(),
        STAGED.fetch_add(1, Ordering::Relaxed)
    ));
    DirBuilder::new().mode(0o700).create(&staging)?;
    match write_all(&staging).and_then(|()| fs::rename(&staging, &dir)) {
        Ok(()) => Ok(dir), // just written, complete: nothing to read back
        Err(e) => {
            // Written half, or another process moved its directory into place first.
            let _ = fs::remove_dir_all(&staging);
            check(&dir, uid).map(|()| dir).map_err(|_| e)
        }
    }
}

fn write_all(dir: &Path) -> io::Result<()> {
    for (file, pem) in files() {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dir.join(file))?;
        f.write_all(pem.as_bytes())?;
    }
    Ok(())
}

/// `Ok` if `dir` is a directory (not a link) of `uid` that no one else can write or read into,
/// holding exactly the built-in roots under their hashed names; `NotFound` if there is none.
fn check(dir: &Path, uid: u32) -> io::Result<()> {
    let meta = fs::symlink_metadata(dir)?;
    let refuse = |why: &str| Err(io::Error::other(format!("{}: {why}", dir.display())));
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 {
        return refuse("not a private directory of this user");
    }
    let expected = files();
    if fs::read_dir(dir)?.count() != expected.len() {
        return refuse("holds other files than the built-in roots");
    }
    for (file, pem) in expected {
        if fs::read(dir.join(&file))? != pem.as_bytes() {
            return refuse(&format!("{file} is not the built-in root"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    fn base() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "kafka-roots-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).unwrap();
        dir
    }

    fn openssl(args: &[&str], stdin: Option<&str>) -> (bool, String) {
        let mut child = Command::new("openssl")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the openssl command (Debian's openssl package)");
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
        drop(input);
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    }

    /// The names are OpenSSL's own subject hashes, as the `openssl` command computes them.
    #[test]
    fn file_names_are_openssls_subject_hashes() {
        let files = files();
        assert_eq!(files.len(), 5);
        for (file, pem) in files {
            let (ok, out) = openssl(&["x509", "-noout", "-subject_hash"], Some(pem));
            assert!(ok, "{out}");
            assert_eq!(format!("{}.0", out.trim()), file);
        }
    }

    /// OpenSSL finds every root through the directory (the lookup librdkafka's
    /// `ssl.ca.location` uses), and none without it: the check can fail.
    #[test]
    fn openssl_finds_every_root_in_the_directory() {
        let base = base();
        let dir = aws_roots_dir(&base).unwrap();
        let empty = base.join("empty");
        fs::create_dir(&empty).unwrap();
        for (file, _) in files() {
            let cert = dir.join(&file);
            let cert = cert.to_str().unwrap();
            for (capath, trusted) in [
                (dir.to_str().unwrap(), true),
                (empty.to_str().unwrap(), false),
            ] {
                let args = [
                    "verify",
                    "-no-CAfile",
                    "-no-CAstore",
                    "-CApath",
                    capath,
                    cert,
                ];
                let (ok, out) = openssl(&args, None);
                assert_eq!(ok, trusted, "{file} with -CApath {capath}: {out}");
            }
        }
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn the_directory_is_private_complete_and_shared() {
        let base = base();
        let dir = aws_roots_dir(&base).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        let mut expected: Vec<String> = SUBJECT_HASHES.iter().map(|h| format!("{h}.0")).collect();
        expected.sort();
        assert_eq!(names, expected);
        // A second start (another process of the same user) reuses it and leaves nothing behind.
        assert_eq!(aws_roots_dir(&base).unwrap(), dir);
        assert_eq!(fs::read_dir(&base).unwrap().count(), 1);
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn concurrent_starts_agree_on_one_directory() {
        let base = base();
        let dirs: Vec<PathBuf> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| aws_roots_dir(&base))).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap().unwrap())
                .collect()
        });
        assert!(dirs.iter().all(|d| d == &dirs[0]), "{dirs:?}");
        assert_eq!(fs::read_dir(&base).unwrap().count(), 1, "no staging left");
        assert!(check(&dirs[0], unsafe { libc::geteuid() }).is_ok());
        fs::remove_dir_all(&base).unwrap();
    }

    /// A directory someone could have written into, or whose certificates differ, is not used.
    #[test]
    fn a_directory_that_does_not_check_out_is_refused() {
        let base = base();
        let dir = aws_roots_dir(&base).unwrap();
        let first = dir.join(format!("{}.0", SUBJECT_HASHES[0]));

        fs::set_permissions(&dir, fs::Permissions::from_mode(0o770)).unwrap();
        let err = aws_roots_dir(&base).unwrap_err();
        assert!(err.to_string().contains("not a private directory"), "{err}");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();

        fs::write(
            &first,
            "-----BEGIN CERTIFICATE-----\nMII=\n-----END CERTIFICATE-----",
        )
        .unwrap();
        let err = aws_roots_dir(&base).unwrap_err();
        assert!(
            err.to_string().contains("is not the built-in root"),
            "{err}"
        );
        fs::write(&first, files()[0].1).unwrap();

        fs::write(dir.join("0123abcd.0"), files()[1].1).unwrap();
        let err = aws_roots_dir(&base).unwrap_err();
        assert!(err.to_string().contains("other files"), "{err}");
        fs::remove_file(dir.join("0123abcd.0")).unwrap();

        assert_eq!(
            aws_roots_dir(&base).unwrap(),
            dir,
            "whole again, used again"
        );
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_base_that_cannot_be_written_is_an_error() {
        let base = base();
        let file = base.join("not-a-directory");
        fs::write(&file, "").unwrap();
        assert!(aws_roots_dir(&file).is_err());
        fs::remove_dir_all(&base).unwrap();
    }
}
