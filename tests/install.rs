//! install.sh puts the binary, the man page and the completions where man and the shells look
//! under `--prefix` (staged with DESTDIR), and `--uninstall` removes them all.

use std::path::Path;
use std::process::Command;

fn install_sh(root: &Path, args: &[&str]) -> String {
    let out = Command::new("sh")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/install.sh"))
        .args(args)
        .env("DESTDIR", root)
        .env_remove("PREFIX")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "install.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const FILES: &[&str] = &[
    "opt/fw/bin/fwdoctor",
    "opt/fw/share/man/man1/fwdoctor.1",
    "opt/fw/share/bash-completion/completions/fwdoctor",
    "opt/fw/share/zsh/site-functions/_fwdoctor",
    "opt/fw/share/fish/vendor_completions.d/fwdoctor.fish",
];

#[test]
fn installs_binary_man_page_and_completions_under_the_prefix_and_removes_them() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let bin = assert_cmd::cargo::cargo_bin("fwdoctor");
    let said = install_sh(
        root,
        &["--prefix", "/opt/fw", "--binary", bin.to_str().unwrap()],
    );
    for f in FILES {
        let p = root.join(f);
        let len = std::fs::metadata(&p)
            .unwrap_or_else(|e| panic!("{f}: {e}\n{said}"))
            .len();
        assert!(len > 100, "{f} is {len} bytes");
    }
    let read = |f: &str| std::fs::read_to_string(root.join(f)).unwrap();
    let man = read(FILES[1]);
    assert!(
        man.starts_with(".ie") || man.contains(".TH fwdoctor 1"),
        "{man}"
    );
    assert!(
        man.contains("split\\-forward\\-drop"),
        "the checks are in the man page"
    );
    assert!(read(FILES[2]).contains("_fwdoctor"));
    assert!(read(FILES[3]).starts_with("#compdef fwdoctor"));
    assert!(read(FILES[4]).contains("complete -c fwdoctor"));
    // Nothing outside the prefix without --cron/--timer.
    assert!(!root.join("etc").exists());

    install_sh(root, &["--prefix", "/opt/fw", "--uninstall"]);
    for f in FILES {
        assert!(!root.join(f).exists(), "{f} left behind");
    }
}

#[test]
fn no_docs_installs_only_the_binary() {
    let d = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("fwdoctor");
    install_sh(
        d.path(),
        &[
            "--prefix=/opt/fw",
            "--no-docs",
            "--binary",
            bin.to_str().unwrap(),
        ],
    );
    assert!(d.path().join(FILES[0]).is_file());
    assert!(!d.path().join("opt/fw/share").exists());
}

/// `--textfile` goes verbatim into the cron line and the unit: anything but a plain absolute
/// path is refused before a file is written (on main, `;touch FILE` ran from root's cron).
#[test]
fn textfile_with_shell_syntax_is_refused_and_a_plain_path_is_installed() {
    let bin = assert_cmd::cargo::cargo_bin("fwdoctor");
    for bad in [
        "/var/lib/node;id>/tmp/fwdoctor-pwned",
        "/var/lib/$(id)",
        "/var/lib/`id`",
        "/var/lib/a b",
        "/var/lib/a'b",
        "/var/lib/a\"b",
        "/var/lib/a\nb",
        "/var/lib/a|b",
        "/var/lib/a&b",
        "relative/dir",
        "/var/lib/../../etc",
    ] {
        let d = tempfile::tempdir().unwrap();
        let out = Command::new("sh")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/install.sh"))
            .args(["--prefix", "/opt/fw", "--no-docs", "--cron", "--timer"])
            .args(["--binary", bin.to_str().unwrap(), "--textfile", bad])
            .env("DESTDIR", d.path())
            .env_remove("PREFIX")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad:?} was accepted");
        assert!(stderr.contains("--textfile"), "{bad:?}: {stderr}");
        assert!(
            std::fs::read_dir(d.path()).unwrap().next().is_none(),
            "{bad:?}: nothing is installed"
        );
    }
    let d = tempfile::tempdir().unwrap();
    install_sh(
        d.path(),
        &[
            "--prefix",
            "/opt/fw",
            "--no-docs",
            "--cron",
            "--binary",
            bin.to_str().unwrap(),
            "--textfile",
            "/var/lib/prometheus/node-exporter",
        ],
    );
    let cron = std::fs::read_to_string(d.path().join("etc/cron.d/fwdoctor")).unwrap();
    assert!(
        cron.contains("--textfile /var/lib/prometheus/node-exporter"),
        "{cron}"
    );
}

/// The unit that `--timer` installs bounds a run's memory and time, and `systemd-analyze
/// security` rates its exposure at most 5.0 ("OK"; `--threshold` counts tenths; the README
/// quotes the number).
#[test]
fn the_timer_unit_is_bounded_and_locked_down() {
    let bin = assert_cmd::cargo::cargo_bin("fwdoctor");
    let d = tempfile::tempdir().unwrap();
    install_sh(
        d.path(),
        &[
            "--prefix",
            "/opt/fw",
            "--no-docs",
            "--timer",
            "--binary",
            bin.to_str().unwrap(),
        ],
    );
    let unit = d.path().join("etc/systemd/system/fwdoctor.service");
    let text = std::fs::read_to_string(&unit).unwrap_or_else(|e| panic!("{}: {e}", unit.display()));
    // The man page install.sh puts in man1.
    assert!(
        text.lines().any(|l| l == "Documentation=man:fwdoctor(1)"),
        "{text}"
    );
    for key in ["MemoryMax=", "TimeoutStartSec=", "NoNewPrivileges=yes"] {
        assert!(text.lines().any(|l| l.starts_with(key)), "{key} in\n{text}");
    }
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--threshold=50"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze (Debian's systemd package)");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exposure above 5: {report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.contains("Overall exposure level for fwdoctor.service"),
        "{report}"
    );
}

#[test]
fn the_installed_binary_is_stripped_and_still_runs() {
    let d = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("fwdoctor");
    let said = install_sh(
        d.path(),
        &[
            "--prefix=/opt/fw",
            "--no-docs",
            "--binary",
            bin.to_str().unwrap(),
        ],
    );
    let installed = d.path().join(FILES[0]);
    let (built, small) = (
        std::fs::metadata(&bin).unwrap().len(),
        std::fs::metadata(&installed).unwrap().len(),
    );
    assert!(small * 2 < built, "installed {small} bytes, built {built}");
    let sections = Command::new("objdump")
        .arg("-h")
        .arg(&installed)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&sections.stdout).contains(".debug_info"));
    let version = Command::new(&installed).arg("--version").output().unwrap();
    assert!(version.status.success());
    // Without the docs the last line does not send the reader to a man page that is not there.
    assert!(!said.contains("man fwdoctor"), "{said}");
    assert!(said.contains("fwdoctor --help"), "{said}");
}

#[test]
fn textfile_without_cron_or_timer_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("fwdoctor");
    let out = Command::new("sh")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/install.sh"))
        .args([
            "--prefix=/opt/fw",
            "--no-docs",
            "--binary",
            bin.to_str().unwrap(),
        ])
        .args(["--textfile", "/var/lib/prometheus/node-exporter"])
        .env("DESTDIR", d.path())
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("give --cron or --timer"),
        "{out:?}"
    );
    assert!(!d.path().join(FILES[0]).exists(), "nothing installed");
}
