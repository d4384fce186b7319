//! Opening media files and creating recordings *beneath* a root directory without ever
//! following a link out of it: the file-system edge of `media.root` and
//! `media.record_root`.
//!
//! The rule: a name is resolved relative to its root by the kernel with `openat2(2)`
//! and `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`. Symbolic links are followed only while
//! every step of the resolution stays inside the root: a link to another file of the
//! root works, a link (file or directory, absolute or relative) that leads out of it is
//! refused ([`BeneathError::Outside`]) before anything outside is looked at, so the
//! answer is the same whether the outside target exists or not.
//!
//! Recordings: parent directories are created one component at a time with `mkdirat`
//! inside the directory already opened beneath the root; the file itself is created
//! with `O_CREAT | O_EXCL | O_NOFOLLOW`, so it is always a new inode. When a *regular
//! file* of that name already exists it is replaced: its name is unlinked (the old
//! inode, and any hard link to it elsewhere, is never written) and the file created
//! anew. A symbolic link in that place is never followed nor replaced: refused with
//! [`BeneathError::Link`]. Anything else there (a directory, a FIFO) is an IO error.
//!
//! On a kernel without `openat2` (Linux before 5.6, or a seccomp filter answering
//! `ENOSYS`) every request is refused ([`BeneathError::Unsupported`]) rather than
//! resolved without confinement.
//!
//! `openat2` is called through `rustix` (safe, typed errno values; already in the tree).

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// How often a resolution is retried when the kernel answers `EAGAIN` (a concurrent
/// rename made it unable to prove that `..` stayed beneath the root).
const RETRIES: usize = 8;

/// Why a file could not be opened or created beneath its root.
#[derive(Debug, thiserror::Error)]
pub enum BeneathError {
    /// The name, or a link met on the way, leads outside the root (-32003).
    #[error("the path leads outside its root")]
    Outside,
    /// A recording's name is taken by a symbolic link: not followed, not replaced (-32003).
    #[error("a symbolic link is in the way (not followed)")]
    Link,
    /// The kernel cannot resolve beneath a root: refused rather than unconfined (-32003).
    #[error(
        "this kernel has no openat2 (Linux 5.6 or later is needed): files are refused rather than opened unconfined"
    )]
    Unsupported,
    /// Anything else (missing, not a file, permissions) inside the root (-32005).
    #[error("{0}")]
    Io(io::Error),
}

impl From<Errno> for BeneathError {
    fn from(e: Errno) -> Self {
        match e {
            Errno::XDEV => BeneathError::Outside,
            Errno::NOSYS => BeneathError::Unsupported,
            other => BeneathError::Io(io::Error::from(other)),
        }
    }
}

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_MAGICLINKS);

/// `openat2(dir, path, flags, mode, BENEATH | NO_MAGICLINKS)`, retried on `EAGAIN`/`EINTR`.
fn open_beneath(dir: &OwnedFd, path: &Path, flags: OFlags, mode: Mode) -> Result<OwnedFd, Errno> {
    let mut last = Errno::AGAIN;
    for _ in 0..RETRIES {
        match rustix::fs::openat2(dir, path, flags | OFlags::CLOEXEC, mode, RESOLVE) {
            Err(e @ (Errno::AGAIN | Errno::INTR)) => last = e,
            other => return other,
        }
    }
    Err(last)
}

/// The root directory itself (the operator's configured path: links in it are followed).
fn open_root(root: &Path) -> Result<OwnedFd, BeneathError> {
    rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| BeneathError::Io(io::Error::from(e)))
}

/// `rel` must be relative: an absolute name is outside by definition (the engine has
/// already turned names inside the root into relative ones).
fn check_relative(rel: &Path) -> Result<(), BeneathError> {
    if rel.as_os_str().is_empty() {
        return Err(BeneathError::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            "empty file name",
        )));
    }
    if rel.is_absolute() {
        return Err(BeneathError::Outside);
    }
    Ok(())
}

/// Opens `rel` under `root` for reading. Only regular files are accepted (a FIFO is
/// opened non-blocking and refused, so it never stalls the caller).
pub fn open_read(root: &Path, rel: &Path) -> Result<File, BeneathError> {
    check_relative(rel)?;
    let dir = open_root(root)?;
    let fd = open_beneath(
        &dir,
        rel,
        OFlags::RDONLY | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
    )?;
    let st = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(BeneathError::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    // Regular files ignore O_NONBLOCK; clear it anyway so reads behave as usual.
    rustix::fs::fcntl_setfl(&fd, OFlags::empty())?;
    Ok(File::from(fd))
}

/// Creates `rel` under `root` for writing, with its missing parent directories (see the
/// module documentation for links and existing files). `root` itself is created when
/// missing (it is the operator's path).
pub fn create(root: &Path, rel: &Path) -> Result<File, BeneathError> {
    check_relative(rel)?;
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::CurDir => {}
            // `..` could only be checked against the root by re-resolving: refuse it.
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(BeneathError::Outside);
            }
        }
    }
    let Some((name, parents)) = parts.split_last() else {
        return Err(BeneathError::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no file name",
        )));
    };
    if !root.is_dir() {
        std::fs::create_dir_all(root).map_err(BeneathError::Io)?;
    }
    let root_fd = open_root(root)?;
    // Walk down: each directory is created inside the one opened before it, then opened
    // again from the root, so a link among the parents is followed only within the root.
    let mut dir = open_beneath(&root_fd, Path::new("."), dir_flags(), Mode::empty())?;
    let mut prefix = PathBuf::new();
    for p in parents {
        match rustix::fs::mkdirat(&dir, *p, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        prefix.push(p);
        dir = open_beneath(&root_fd, &prefix, dir_flags(), Mode::empty())?;
    }
    let create = || {
        rustix::fs::openat(
            &dir,
            *name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
    };
    match create() {
        Ok(fd) => return Ok(File::from(fd)),
        Err(Errno::EXIST) => {}
        Err(e) => return Err(e.into()),
    }
    let st = rustix::fs::statat(&dir, *name, AtFlags::SYMLINK_NOFOLLOW)?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => {}
        FileType::Symlink => return Err(BeneathError::Link),
        _ => {
            return Err(BeneathError::Io(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a regular file",
            )));
        }
    }
    rustix::fs::unlinkat(&dir, *name, AtFlags::empty())?;
    // Something that appears in the name meanwhile is not ours to replace.
    match create() {
        Ok(fd) => Ok(File::from(fd)),
        Err(Errno::EXIST) => Err(BeneathError::Io(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the file was re-created by someone else while being replaced",
        ))),
        Err(e) => Err(e.into()),
    }
}

fn dir_flags() -> OFlags {
    OFlags::PATH | OFlags::DIRECTORY
}

/// Whether this kernel can resolve beneath a root (probed once at start-up, to warn).
pub fn supported() -> bool {
    let Ok(dir) = open_root(Path::new("/")) else {
        return false;
    };
    !matches!(
        rustix::fs::openat2(
            &dir,
            ".",
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            RESOLVE
        ),
        Err(Errno::NOSYS)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::CWD;
    use std::io::{Read, Write};
    use std::os::unix::fs::symlink;

    fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let t = tempfile::tempdir().expect("tmp");
        let root = t.path().join("root");
        let out = t.path().join("outside");
        std::fs::create_dir_all(&root).expect("root");
        std::fs::create_dir_all(&out).expect("out");
        (t, root, out)
    }

    fn read(root: &Path, rel: &str) -> Result<String, BeneathError> {
        let mut s = String::new();
        open_read(root, Path::new(rel))?
            .read_to_string(&mut s)
            .map_err(BeneathError::Io)?;
        Ok(s)
    }

    #[test]
    fn reads_inside_and_through_links_that_stay_inside() {
        let (_t, root, _) = setup();
        std::fs::create_dir_all(root.join("a/b")).expect("dirs");
        std::fs::write(root.join("a/b/x.wav"), "x").expect("write");
        symlink("a/b/x.wav", root.join("lx")).expect("link");
        symlink("../b/x.wav", root.join("a/b/rel")).expect("link");
        symlink("a", root.join("da")).expect("dir link");
        assert_eq!(read(&root, "a/b/x.wav").expect("plain"), "x");
        assert_eq!(read(&root, "lx").expect("link inside"), "x");
        assert_eq!(read(&root, "a/b/rel").expect("relative link"), "x");
        assert_eq!(read(&root, "da/b/x.wav").expect("dir link"), "x");
        assert_eq!(read(&root, "a/../a/b/x.wav").expect("dot-dot inside"), "x");
    }

    #[test]
    fn links_out_are_refused_alike_for_existing_and_missing_targets() {
        let (_t, root, out) = setup();
        std::fs::write(out.join("secret.wav"), "s").expect("write");
        symlink(out.join("secret.wav"), root.join("abs")).expect("link");
        symlink(out.join("missing.wav"), root.join("abs_missing")).expect("link");
        symlink("../outside/secret.wav", root.join("rel")).expect("link");
        symlink("../outside/missing.wav", root.join("rel_missing")).expect("link");
        symlink(&out, root.join("dir")).expect("link");
        symlink("/etc/passwd", root.join("passwd")).expect("link");
        for name in [
            "abs",
            "abs_missing",
            "rel",
            "rel_missing",
            "dir/secret.wav",
            "dir/missing.wav",
            "passwd",
            "../outside/secret.wav",
            "/etc/passwd",
        ] {
            match read(&root, name) {
                Err(BeneathError::Outside) => {}
                other => panic!("{name}: {other:?}"),
            }
        }
        // Inside the root, a missing file is an ordinary IO error.
        match read(&root, "nope.wav") {
            Err(BeneathError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::NotFound),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fifo_and_directories_are_not_files() {
        let (_t, root, _) = setup();
        rustix::fs::mknodat(
            CWD,
            root.join("fifo"),
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .expect("fifo");
        std::fs::create_dir(root.join("d")).expect("dir");
        assert!(matches!(read(&root, "fifo"), Err(BeneathError::Io(_))));
        assert!(matches!(read(&root, "d"), Err(BeneathError::Io(_))));
    }

    #[test]
    fn creates_parents_and_replaces_regular_files() {
        let (_t, root, out) = setup();
        let mut f = create(&root, Path::new("a/b/c.wav")).expect("create");
        f.write_all(b"one").expect("write");
        assert_eq!(std::fs::read(root.join("a/b/c.wav")).expect("read"), b"one");
        // An existing file is replaced by a new inode: a hard link to it keeps its bytes.
        std::fs::hard_link(root.join("a/b/c.wav"), out.join("hard.wav")).expect("hard link");
        let mut f = create(&root, Path::new("a/b/c.wav")).expect("replace");
        f.write_all(b"two").expect("write");
        assert_eq!(std::fs::read(root.join("a/b/c.wav")).expect("read"), b"two");
        assert_eq!(std::fs::read(out.join("hard.wav")).expect("read"), b"one");
        // A directory link that stays inside the root is followed.
        symlink("a", root.join("la")).expect("link");
        create(&root, Path::new("la/b/d.wav")).expect("via inside link");
        assert!(root.join("a/b/d.wav").is_file());
        // The root is created when missing.
        let fresh = root.join("new_root");
        create(&fresh, Path::new("x.wav")).expect("fresh root");
        assert!(fresh.join("x.wav").is_file());
    }

    #[test]
    fn creation_never_leaves_the_root() {
        let (_t, root, out) = setup();
        symlink(&out, root.join("dir")).expect("link");
        symlink("../outside", root.join("reldir")).expect("link");
        for name in [
            "dir/x.wav",
            "dir/sub/x.wav",
            "reldir/x.wav",
            "../outside/x.wav",
        ] {
            match create(&root, Path::new(name)) {
                Err(BeneathError::Outside) => {}
                other => panic!("{name}: {other:?}"),
            }
        }
        assert_eq!(
            std::fs::read_dir(&out).expect("ls").count(),
            0,
            "nothing outside"
        );
        // A link in the file's place is neither followed nor replaced.
        std::fs::write(out.join("victim.wav"), "keep").expect("write");
        symlink(out.join("victim.wav"), root.join("rec.wav")).expect("link");
        symlink("inside.wav", root.join("rec2.wav")).expect("link");
        assert!(matches!(
            create(&root, Path::new("rec.wav")),
            Err(BeneathError::Link)
        ));
        assert!(matches!(
            create(&root, Path::new("rec2.wav")),
            Err(BeneathError::Link)
        ));
        assert_eq!(
            std::fs::read(out.join("victim.wav")).expect("read"),
            b"keep"
        );
        assert!(!root.join("inside.wav").exists());
        assert!(
            std::fs::symlink_metadata(root.join("rec.wav"))
                .expect("link")
                .is_symlink()
        );
    }

    #[test]
    fn errno_mapping() {
        assert!(matches!(
            BeneathError::from(Errno::XDEV),
            BeneathError::Outside
        ));
        assert!(matches!(
            BeneathError::from(Errno::NOSYS),
            BeneathError::Unsupported
        ));
        assert!(matches!(
            BeneathError::from(Errno::NOENT),
            BeneathError::Io(_)
        ));
        assert!(supported(), "this kernel has openat2");
    }
}
