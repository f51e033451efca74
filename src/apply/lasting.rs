//! The lasting steps `fix --apply --lasting` runs besides the firewall ones, and how each is
//! undone: a configuration file written (with a backup file next to the original),
//! `update-alternatives --set` (the alternative's previous choice saved), and the restart of
//! Docker that re-creates its rules after a flush.
//!
//! Only these exact shapes run; any other lasting line (a `grep` to read, an edit of a file
//! the user owns such as `/etc/nftables.conf`, prose) is printed. A restart cannot be undone:
//! when the change is rolled back after one, Docker is restarted again once the saved rules
//! and files are back, so its rules match its containers.

use crate::analyze::plan::Step;
use crate::report::printable;
use crate::safe_fs::{self, Links, TrustedDir};
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// What a lasting step does, when it is one `--lasting` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `echo LINE | tee FILE`: write `content` to `path`.
    WriteFile { path: PathBuf, content: String },
    /// `update-alternatives --set NAME PATH`, for each pair.
    Alternatives(Vec<(String, String)>),
    /// `systemctl restart docker` or `snap restart docker`.
    RestartDocker(Vec<String>),
    /// `X-save | tee FILE`: fix's own backup already keeps that copy.
    CopyKeptByBackup,
}

/// The largest configuration file fix reads back for its backup.
const MAX_CONFIG_LEN: u64 = 1 << 20;

fn is_save_program(p: &str) -> bool {
    (p.starts_with("iptables") || p.starts_with("ip6tables")) && p.ends_with("-save")
}

/// The action of a step, if it has one of the shapes `--lasting` runs (its kind is not
/// looked at: a caller asks only for lasting steps).
pub fn action_of(step: &Step) -> Option<Action> {
    let argv = &step.argv;
    if let Some(file) = &step.output_to {
        let [only] = argv.as_slice() else { return None };
        let prog = only.first()?.as_str();
        if is_save_program(prog) && only.len() == 1 {
            return Some(Action::CopyKeptByBackup);
        }
        let path = PathBuf::from(file);
        let name = path.file_name()?.to_str()?;
        if prog != "echo" || only.len() < 2 || !path.is_absolute() || !plain_file_name(name) {
            return None;
        }
        return Some(Action::WriteFile {
            content: format!("{}\n", only[1..].join(" ")),
            path,
        });
    }
    if argv.is_empty() {
        return None;
    }
    let restart = |a: &[String]| {
        matches!(
            a.iter().map(String::as_str).collect::<Vec<_>>().as_slice(),
            ["systemctl", "restart", "docker"] | ["snap", "restart", "docker"]
        )
    };
    if let [only] = argv.as_slice()
        && restart(only)
    {
        return Some(Action::RestartDocker(only.clone()));
    }
    let mut pairs = Vec::new();
    for a in argv {
        match a.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["update-alternatives", "--set", name, path]
                if plain_file_name(name) && path.starts_with('/') =>
            {
                pairs.push((name.to_string(), path.to_string()));
            }
            _ => return None,
        }
    }
    Some(Action::Alternatives(pairs))
}

fn plain_file_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(['.', '-'])
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c))
}

/// A configuration file as it was before fix wrote it.
#[derive(Debug, Clone)]
pub struct SavedFile {
    pub path: PathBuf,
    /// Its bytes and mode; `None`: it did not exist.
    pub before: Option<(Vec<u8>, u32)>,
    /// The backup file next to the original (`NAME.fwdoctor-STAMP.bak`), when there was one.
    pub beside: Option<PathBuf>,
}

/// An alternative's choice before fix set it.
#[derive(Debug, Clone)]
pub struct SavedAlternative {
    pub name: String,
    /// `Status: auto` (dpkg picks the best) or the manual `Value:`.
    pub auto: bool,
    pub value: String,
}

fn parent_dir(path: &Path) -> Result<(TrustedDir, String), String> {
    let parent = path
        .parent()
        .ok_or_else(|| format!("{} has no directory", path.display()))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("odd file name {}", path.display()))?;
    let dir = TrustedDir::existing(parent).map_err(|e| e.to_string())?;
    Ok((dir, name.to_string()))
}

/// Save `path` before it is written: read it (never through a link) and put a copy next to it
/// and one in `backup_dir`.
pub fn save_file(path: &Path, stamp: &str, backup_dir: &TrustedDir) -> Result<SavedFile, String> {
    let (dir, name) = parent_dir(path)?;
    let before = match safe_fs::open_input(&dir.join(&name), Links::Refuse, MAX_CONFIG_LEN) {
        Ok((mut f, _)) => {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = f
                .metadata()
                .map_err(|e| e.to_string())?
                .permissions()
                .mode()
                & 0o7777;
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Some((bytes, mode))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.to_string()),
    };
    let mut beside = None;
    if let Some((bytes, mode)) = &before {
        let bak = format!("{name}.fwdoctor-{stamp}.bak");
        beside = Some(dir.replace(&bak, bytes, *mode).map_err(|e| e.to_string())?);
        backup_dir
            .replace(&format!("file-{name}"), bytes, 0o600)
            .map_err(|e| e.to_string())?;
    }
    Ok(SavedFile {
        path: path.to_path_buf(),
        before,
        beside,
    })
}

/// Write a configuration file (atomically, through the safe writer), mode 0644.
pub fn write_file(path: &Path, content: &str) -> Result<(), String> {
    let (dir, name) = parent_dir(path)?;
    dir.replace(&name, content.as_bytes(), 0o644)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

impl SavedFile {
    /// Put the file back as it was (remove it when it did not exist), and the backup beside it
    /// with it: after a restore nothing of fix's is left there.
    pub fn restore(&self) -> Result<(), String> {
        let (dir, name) = parent_dir(&self.path)?;
        match &self.before {
            Some((bytes, mode)) => dir.replace(&name, bytes, *mode).map(|_| ()),
            None => dir.remove(&name),
        }
        .map_err(|e| e.to_string())?;
        if let Some(b) = &self.beside
            && let Some(n) = b.file_name().and_then(|n| n.to_str())
        {
            dir.remove(n).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// `sudo cp …` or `sudo rm …`, for a person.
    pub fn by_hand(&self) -> String {
        let shown = self.path.display().to_string();
        let path = crate::analyze::shell::quote(&shown);
        match &self.beside {
            Some(b) => {
                let bak = b.display().to_string();
                format!("sudo cp -p {} {path}", crate::analyze::shell::quote(&bak))
            }
            None => format!("sudo rm -f {path}   # fix created it"),
        }
    }
}

/// `update-alternatives --query NAME`'s status and value.
pub fn save_alternative(name: &str, query: &str) -> Result<SavedAlternative, String> {
    let field = |k: &str| {
        query
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim().to_string())
    };
    let value = field("Value:").ok_or_else(|| {
        format!(
            "update-alternatives --query {} shows no Value",
            printable(name)
        )
    })?;
    Ok(SavedAlternative {
        name: name.to_string(),
        auto: field("Status:").as_deref() == Some("auto"),
        value,
    })
}

impl SavedAlternative {
    /// The command that puts the choice back.
    pub fn restore_argv(&self) -> Vec<String> {
        if self.auto {
            vec![
                "update-alternatives".into(),
                "--auto".into(),
                self.name.clone(),
            ]
        } else {
            vec![
                "update-alternatives".into(),
                "--set".into(),
                self.name.clone(),
                self.value.clone(),
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::plan::StepKind;

    fn step(argv: &[&[&str]], output_to: Option<&str>) -> Step {
        Step {
            kind: StepKind::Lasting,
            command: None,
            argv: argv
                .iter()
                .map(|a| a.iter().map(|w| w.to_string()).collect())
                .collect(),
            output_to: output_to.map(Into::into),
            text: String::new(),
            touches: Vec::new(),
            resolves: Vec::new(),
            ports: Vec::new(),
        }
    }

    #[test]
    fn only_the_known_shapes_are_actions() {
        assert_eq!(
            action_of(&step(
                &[&["echo", "net.ipv4.ip_forward=1"]],
                Some("/etc/sysctl.d/99-docker-forward.conf")
            )),
            Some(Action::WriteFile {
                path: "/etc/sysctl.d/99-docker-forward.conf".into(),
                content: "net.ipv4.ip_forward=1\n".into()
            })
        );
        assert_eq!(
            action_of(&step(
                &[&["iptables-legacy-save"]],
                Some("/root/iptables-legacy.before-fwdoctor")
            )),
            Some(Action::CopyKeptByBackup)
        );
        assert_eq!(
            action_of(&step(
                &[
                    &[
                        "update-alternatives",
                        "--set",
                        "iptables",
                        "/usr/sbin/iptables-nft"
                    ],
                    &[
                        "update-alternatives",
                        "--set",
                        "ip6tables",
                        "/usr/sbin/ip6tables-nft"
                    ]
                ],
                None
            )),
            Some(Action::Alternatives(vec![
                ("iptables".into(), "/usr/sbin/iptables-nft".into()),
                ("ip6tables".into(), "/usr/sbin/ip6tables-nft".into())
            ]))
        );
        assert!(matches!(
            action_of(&step(&[&["snap", "restart", "docker"]], None)),
            Some(Action::RestartDocker(_))
        ));
        for (argv, out) in [
            (&[&["grep", "-rn", "x", "/etc/sysctl.d/"][..]][..], None),
            (&[&["systemctl", "restart", "nftables"][..]][..], None),
            (&[&["cat", "x"][..]][..], Some("/etc/x.conf")),
            (&[&["echo", "x"][..]][..], Some("relative.conf")),
            (&[&["echo", "x"][..]][..], Some("/etc/.hidden")),
            (
                &[
                    &["update-alternatives", "--set", "iptables", "/x"][..],
                    &["rm", "-rf", "/"][..],
                ][..],
                None,
            ),
        ] {
            assert_eq!(action_of(&step(argv, out)), None, "{argv:?}");
        }
    }

    #[test]
    fn a_query_gives_the_choice_to_put_back() {
        let auto = save_alternative(
            "iptables",
            "Name: iptables\nLink: /usr/sbin/iptables\nStatus: auto\nBest: /usr/sbin/iptables-nft\nValue: /usr/sbin/iptables-nft\n",
        )
        .unwrap();
        assert_eq!(
            auto.restore_argv(),
            ["update-alternatives", "--auto", "iptables"]
        );
        let manual = save_alternative(
            "iptables",
            "Name: iptables\nStatus: manual\nValue: /usr/sbin/iptables-legacy\n",
        )
        .unwrap();
        assert_eq!(
            manual.restore_argv(),
            [
                "update-alternatives",
                "--set",
                "iptables",
                "/usr/sbin/iptables-legacy"
            ]
        );
        assert!(save_alternative("iptables", "Name: iptables\n").is_err());
    }

    #[test]
    fn a_written_file_is_restored_or_removed_with_its_backup() {
        let tmp = tempfile::tempdir().unwrap();
        let backup = TrustedDir::create(&tmp.path().join("backup"), 0o700).unwrap();
        let etc = tmp.path().join("etc");
        std::fs::create_dir(&etc).unwrap();
        let old = etc.join("old.conf");
        std::fs::write(&old, "was\n").unwrap();
        let saved = save_file(&old, "STAMP", &backup).unwrap();
        assert_eq!(
            std::fs::read_to_string(etc.join("old.conf.fwdoctor-STAMP.bak")).unwrap(),
            "was\n"
        );
        write_file(&old, "now\n").unwrap();
        assert_eq!(std::fs::read_to_string(&old).unwrap(), "now\n");
        saved.restore().unwrap();
        assert_eq!(std::fs::read_to_string(&old).unwrap(), "was\n");
        assert!(!etc.join("old.conf.fwdoctor-STAMP.bak").exists());

        let new = etc.join("new.conf");
        let saved = save_file(&new, "STAMP", &backup).unwrap();
        assert!(saved.by_hand().starts_with("sudo rm -f"));
        write_file(&new, "x\n").unwrap();
        saved.restore().unwrap();
        assert!(!new.exists());

        // A link where the file should be is refused, not followed.
        let link = etc.join("link.conf");
        std::os::unix::fs::symlink(&old, &link).unwrap();
        assert!(save_file(&link, "STAMP", &backup).is_err());
    }
}
