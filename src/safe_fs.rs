//! The one way fwdoctor touches the file system where someone else could have prepared a trap.
//!
//! fwdoctor runs as root (cron, systemd, CI) and writes into directories named on its command
//! line: the alert state (`--state-dir`), node_exporter's textfile directory (`--textfile`)
//! and capture directories (`capture -o`). It reads capture directories that anyone may have
//! sent (`check --from`). Every such write goes through [`TrustedDir`], every such read
//! through [`open_input`].
//!
//! **Writing.** A directory is written in only when no user other than root and the caller
//! could change what is in it, the rule OpenSSH's `StrictModes` applies to `authorized_keys`:
//! the directory (after resolving symbolic links in the path given) must be owned by root or
//! the caller and not writable by group or others, and so must every directory above it, up to
//! `/`, except that an ancestor writable by others is accepted when it is sticky (`/tmp`): there
//! only the owner of an entry can rename or remove it, and the entries on our path are checked
//! to be owned by root or the caller. Every symbolic link met while resolving the path must be
//! owned by root or the caller as well: another user's link would choose where root writes.
//! A refused directory is named with the reason.
//!
//! In a trusted directory a file is replaced atomically ([`TrustedDir::replace`]): a
//! temporary file under an unpredictable name, created with `O_CREAT|O_EXCL|O_NOFOLLOW` (so
//! never through a link and never a file that was already there), written, `fchmod`ed and
//! `fsync`ed through its descriptor, then renamed over the target (a symbolic link at the
//! target's name is replaced, not followed). Lock files ([`TrustedDir::open_lock`]) are opened
//! with `O_NOFOLLOW|O_NONBLOCK`, never truncated by the open, and refused unless they are
//! regular files with one link.
//!
//! **Reading.** [`open_input`] opens a file with `O_NOFOLLOW|O_NONBLOCK` (a link inside a
//! capture is refused, a FIFO cannot hang the run), requires a regular file by `fstat` of the
//! open descriptor, and refuses a file larger than [`MAX_INPUT_LEN`] before a byte is read.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The largest file fwdoctor reads as evidence: 1 GiB. The largest real rulesets seen are
/// tens of MB (a 250k-rule node: ~40 MB per save dump); anything bigger is not a ruleset.
pub const MAX_INPUT_LEN: u64 = 1 << 30;

/// How many unpredictable temporary names are tried before giving up.
const TEMP_ATTEMPTS: u32 = 16;

/// A directory checked to be changeable only by root and the caller (see the module docs),
/// by its path with every symbolic link resolved.
#[derive(Debug, Clone)]
pub struct TrustedDir {
    path: PathBuf,
}

impl TrustedDir {
    /// An existing directory, checked.
    pub fn existing(path: &Path) -> io::Result<TrustedDir> {
        check_links(path)?;
        let real = fs::canonicalize(path).map_err(|e| with_path(e, "cannot open", path))?;
        check_chain(&real, path)?;
        Ok(TrustedDir { path: real })
    }

    /// The directory `path`, created when missing (its missing parents with the default
    /// mode, itself with `mode`, e.g. `0o700`), then checked like [`TrustedDir::existing`].
    /// A directory that already exists keeps its mode.
    pub fn create(path: &Path, mode: u32) -> io::Result<TrustedDir> {
        // Before creating anything: another user's link must not choose where it is made.
        check_links(path)?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|e| with_path(e, "cannot create", parent))?;
        }
        match fs::DirBuilder::new().mode(mode).create(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(with_path(e, "cannot create", path)),
        }
        TrustedDir::existing(path)
    }

    /// The directory's path, symbolic links resolved.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `DIR/name`.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Replace `DIR/name` with `contents`, atomically; the file gets exactly `mode` (the
    /// umask does not narrow it). Readers see the old file or the new one, never part of one,
    /// and a reader that still has the old file open or mapped keeps the old bytes. The
    /// temporary file is `.NAME.RANDOM.tmp` (no node_exporter `*.prom` match), removed on
    /// failure. Returns the target's path.
    pub fn replace(&self, name: &str, contents: &[u8], mode: u32) -> io::Result<PathBuf> {
        check_name(name)?;
        let target = self.join(name);
        let (tmp, mut file) = self.create_temp(name, mode)?;
        let written = (|| {
            file.write_all(contents)?;
            // The umask may have narrowed the mode given at creation: set it on the descriptor.
            file.set_permissions(fs::Permissions::from_mode(mode))?;
            file.sync_all()?;
            drop(file);
            fs::rename(&tmp, &target)?;
            // Make the rename itself durable.
            open_dir(&self.path)?.sync_all()
        })();
        match written {
            Ok(()) => Ok(target),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(with_path(e, "cannot write", &target))
            }
        }
    }

    /// Remove `DIR/name` when it exists (a link is removed, not followed).
    pub fn remove(&self, name: &str) -> io::Result<()> {
        check_name(name)?;
        let path = self.join(name);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(with_path(e, "cannot remove", &path)),
        }
    }

    /// Open (creating it with mode 0644 when missing) the lock file `DIR/name` for reading
    /// and writing: never through a symbolic link, never truncated by the open, and only a
    /// regular file with no other hard link.
    pub fn open_lock(&self, name: &str) -> io::Result<File> {
        check_name(name)?;
        let path = self.join(name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| refusal_of_open(e, &path))?;
        let meta = file.metadata()?;
        if !meta.file_type().is_file() {
            return Err(refused(
                &path,
                &format!("it is {}, not a regular file", kind_of(&meta)),
            ));
        }
        if meta.nlink() > 1 {
            return Err(refused(&path, "it has other hard links"));
        }
        Ok(file)
    }

    fn create_temp(&self, name: &str, mode: u32) -> io::Result<(PathBuf, File)> {
        let mut last = None;
        for _ in 0..TEMP_ATTEMPTS {
            let tmp = self.join(&format!(".{name}.{:016x}.tmp", unpredictable()));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
                .open(&tmp)
            {
                Ok(f) => return Ok((tmp, f)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(with_path(e, "cannot create", &tmp)),
            }
        }
        Err(with_path(
            last.unwrap_or_else(|| io::Error::other("no temporary name")),
            "cannot create a temporary file for",
            &self.join(name),
        ))
    }
}

/// Whether [`open_input`] follows a symbolic link at the path itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Follow it: the user named this path on the command line.
    Follow,
    /// Refuse it: a file inside a capture directory, which someone else may have made.
    Refuse,
}

/// Open an evidence file for reading: a regular file of at most `max_len` bytes, checked on
/// the open descriptor (no race with a rename). Returns it with its length. A missing file
/// keeps [`io::ErrorKind::NotFound`]; every refusal names the file and says why.
pub fn open_input(path: &Path, links: Links, max_len: u64) -> io::Result<(File, u64)> {
    let mut flags = nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC;
    if links == Links::Refuse {
        flags |= nix::libc::O_NOFOLLOW;
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| refusal_of_open(e, path))?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(refused(
            path,
            &format!("it is {}, not a regular file", kind_of(&meta)),
        ));
    }
    if meta.len() > max_len {
        return Err(refused(
            path,
            &format!(
                "it is {} bytes, more than the {} fwdoctor reads from one file",
                meta.len(),
                human_size(max_len)
            ),
        ));
    }
    Ok((file, meta.len()))
}

/// Check `real` (a canonical path) and every directory above it; `shown` is the path as the
/// user gave it, for the message.
fn check_chain(real: &Path, shown: &Path) -> io::Result<()> {
    let me = nix::unistd::geteuid().as_raw();
    let meta = fs::symlink_metadata(real).map_err(|e| with_path(e, "cannot open", shown))?;
    if !meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a directory", shown.display()),
        ));
    }
    check_owner(&meta, me).map_err(|why| refused_dir(shown, real, &why))?;
    if meta.mode() & 0o022 != 0 {
        return Err(refused_dir(
            shown,
            real,
            &format!(
                "it is writable by {} (mode {:04o}); make it `chmod go-w`",
                writable_by(meta.mode()),
                meta.mode() & 0o7777
            ),
        ));
    }
    for ancestor in real.ancestors().skip(1) {
        let meta =
            fs::symlink_metadata(ancestor).map_err(|e| with_path(e, "cannot open", ancestor))?;
        let why = check_owner(&meta, me).err().or_else(|| {
            (meta.mode() & 0o022 != 0 && meta.mode() & 0o1000 == 0).then(|| {
                format!(
                    "it is writable by {} and not sticky (mode {:04o})",
                    writable_by(meta.mode()),
                    meta.mode() & 0o7777
                )
            })
        });
        if let Some(why) = why {
            return Err(refused_dir(
                shown,
                real,
                &format!(
                    "its parent {} could be changed by another user: {why}",
                    ancestor.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Every symbolic link met while resolving `path` (links to links too) must be owned by root
/// or the caller: a link another user owns would choose where fwdoctor writes. A missing
/// component ends the walk (creating or opening it reports that).
fn check_links(path: &Path) -> io::Result<()> {
    const MAX_LINKS: u32 = 40;
    let me = nix::unistd::geteuid().as_raw();
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    let mut todo: Vec<std::ffi::OsString> = absolute
        .components()
        .rev()
        .map(|c| c.as_os_str().to_owned())
        .collect();
    let mut at = PathBuf::from("/");
    let mut links = 0;
    while let Some(part) = todo.pop() {
        match part.as_bytes() {
            b"/" | b"." => continue,
            b".." => {
                at.pop();
                continue;
            }
            _ => {}
        }
        let next = at.join(&part);
        let Ok(meta) = fs::symlink_metadata(&next) else {
            return Ok(());
        };
        if !meta.file_type().is_symlink() {
            at = next;
            continue;
        }
        links += 1;
        if links > MAX_LINKS {
            return Err(refused(path, "too many levels of symbolic links"));
        }
        if let Err(why) = check_owner(&meta, me) {
            return Err(refused_dir(
                path,
                path,
                &format!("the symbolic link {} on its path: {why}", next.display()),
            ));
        }
        let target = fs::read_link(&next)?;
        if target.is_absolute() {
            at = PathBuf::from("/");
        }
        todo.extend(target.components().rev().map(|c| c.as_os_str().to_owned()));
    }
    Ok(())
}

fn check_owner(meta: &fs::Metadata, me: u32) -> Result<(), String> {
    if meta.uid() == 0 || meta.uid() == me {
        return Ok(());
    }
    Err(format!(
        "it is owned by uid {}, not by root{}",
        meta.uid(),
        if me == 0 {
            String::new()
        } else {
            format!(" or you (uid {me})")
        }
    ))
}

fn writable_by(mode: u32) -> &'static str {
    match (mode & 0o020 != 0, mode & 0o002 != 0) {
        (true, true) => "group and others",
        (true, false) => "its group",
        _ => "others",
    }
}

fn refused_dir(shown: &Path, real: &Path, why: &str) -> io::Error {
    let resolved = if shown == real {
        String::new()
    } else {
        format!(" ({})", real.display())
    };
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "refusing to write in {}{resolved}: {why}; another user could redirect what fwdoctor \
             writes there",
            shown.display()
        ),
    )
}

fn refused(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("refusing {}: {why}", path.display()),
    )
}

/// The error of an open with `O_NOFOLLOW`: `ELOOP` is a symbolic link, said in words.
fn refusal_of_open(e: io::Error, path: &Path) -> io::Error {
    if e.raw_os_error() == Some(nix::libc::ELOOP) {
        return refused(
            path,
            "it is a symbolic link, not followed here since it could point anywhere \
             (put the file itself in its place)",
        );
    }
    e
}

fn kind_of(meta: &fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "a special file"
    }
}

fn human_size(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 30) {
        format!("{} GiB", bytes >> 30)
    } else if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    if e.to_string().contains(&path.display().to_string()) {
        return e;
    }
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// A name inside the directory: one component, not `.` or `..`.
fn check_name(name: &str) -> io::Result<()> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || OsStr::new(name).as_bytes().contains(&b'/');
    if bad {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a plain file name: {name:?}"),
        ));
    }
    Ok(())
}

fn open_dir(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_DIRECTORY | nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
        .open(path)
}

/// 64 bits no other user can guess: std's hasher keys come from the OS's random source,
/// fresh for each `RandomState`.
fn unpredictable() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn private_dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn replaces_with_the_exact_mode_and_leaves_no_temp_file() {
        let d = private_dir();
        let dir = TrustedDir::existing(d.path()).unwrap();
        dir.replace("x.prom", b"one\n", 0o644).unwrap();
        let p = dir.replace("x.prom", b"two\n", 0o600).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "two\n");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_link_at_the_target_is_replaced_not_followed() {
        let d = private_dir();
        let victim = d.path().join("victim");
        fs::write(&victim, "keep\n").unwrap();
        let sub = d.path().join("out");
        fs::create_dir(&sub).unwrap();
        symlink(&victim, sub.join("x")).unwrap();
        let dir = TrustedDir::existing(&sub).unwrap();
        dir.replace("x", b"new\n", 0o644).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep\n");
        assert!(!fs::symlink_metadata(sub.join("x")).unwrap().is_symlink());
    }

    #[test]
    fn group_writable_directory_is_refused_with_its_name() {
        let d = private_dir();
        fs::set_permissions(d.path(), fs::Permissions::from_mode(0o775)).unwrap();
        let err = TrustedDir::existing(d.path()).unwrap_err().to_string();
        assert!(err.contains(&d.path().display().to_string()), "{err}");
        assert!(err.contains("writable by its group"), "{err}");
    }

    #[test]
    fn a_lock_that_is_a_link_or_a_fifo_is_refused() {
        let d = private_dir();
        let dir = TrustedDir::existing(d.path()).unwrap();
        let victim = d.path().join("victim");
        fs::write(&victim, "keep\n").unwrap();
        symlink(&victim, d.path().join("lock")).unwrap();
        let err = dir.open_lock("lock").unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        nix::unistd::mkfifo(
            &d.path().join("fifo"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        let err = dir.open_lock("fifo").unwrap_err().to_string();
        assert!(err.contains("a FIFO"), "{err}");
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep\n");
    }

    #[test]
    fn a_link_on_the_path_must_be_owned_by_root_or_the_caller() {
        let d = private_dir();
        let real = d.path().join("real");
        fs::create_dir(&real).unwrap();
        let link = d.path().join("link");
        symlink("real", &link).unwrap();
        let ok = TrustedDir::existing(&link.join("..").join("link")).unwrap();
        assert_eq!(ok.path(), fs::canonicalize(&real).unwrap());
        // Needs root, as the tests run in CI: a link given to nobody.
        std::os::unix::fs::lchown(&link, Some(65534), None).unwrap();
        let err = TrustedDir::existing(&link).unwrap_err().to_string();
        assert!(
            err.contains("symbolic link") && err.contains("65534"),
            "{err}"
        );
    }

    #[test]
    fn names_with_a_slash_are_refused() {
        let d = private_dir();
        let dir = TrustedDir::existing(d.path()).unwrap();
        assert!(dir.replace("../x", b"", 0o600).is_err());
        assert!(dir.replace("..", b"", 0o600).is_err());
    }

    #[test]
    fn inputs_must_be_regular_small_files_and_not_links() {
        let d = private_dir();
        let file = d.path().join("f");
        fs::write(&file, "abc").unwrap();
        assert_eq!(open_input(&file, Links::Refuse, 10).unwrap().1, 3);
        let err = open_input(&file, Links::Refuse, 2).unwrap_err().to_string();
        assert!(err.contains("more than the 2 bytes"), "{err}");
        symlink(&file, d.path().join("l")).unwrap();
        assert!(open_input(&d.path().join("l"), Links::Follow, 10).is_ok());
        let err = open_input(&d.path().join("l"), Links::Refuse, 10)
            .unwrap_err()
            .to_string();
        assert!(err.contains("symbolic link"), "{err}");
        let err = open_input(Path::new("/dev/null"), Links::Follow, 10)
            .unwrap_err()
            .to_string();
        assert!(err.contains("a character device"), "{err}");
        let missing = open_input(&d.path().join("none"), Links::Refuse, 10).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }
}
