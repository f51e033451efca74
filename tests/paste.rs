//! The paste reader: bug-report text in, the report a capture gives out.
//!
//! - every fixture under fixtures/ round-trips through `capture --paste` to the identical report;
//! - lab-recorded pastes (fixtures/paste/*/lab-truth.json) are judged by what curl saw;
//! - an `nft list ruleset` section is filed byte for byte as `nft-ruleset.txt`;
//! - prompts, fences, lossy sections and bad input behave as README.md says.

mod common;

use assert_cmd::Command;
use fwdoctor::collect::capture::read_single_text;
use fwdoctor::collect::evidence::files;
use fwdoctor::collect::paste;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fw() -> Command {
    Command::cargo_bin("fwdoctor").expect("binary")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn fixture_dirs() -> Vec<PathBuf> {
    common::fixture_dirs_with(&["expect.json", "truth.json"])
}

/// `check --format json` of `from`, with `from` itself taken out of the report.
fn report(from: &Path) -> (i32, String) {
    let out = fw()
        .args(["check", "--format", "json", "--from"])
        .arg(from)
        .output()
        .expect("runs");
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{}: no JSON ({e}): {}",
            from.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let origin = from.display().to_string();
    (
        out.status.code().expect("exit code"),
        json.to_string().replace(&origin, "ORIGIN"),
    )
}

#[test]
fn every_fixture_round_trips_through_capture_paste() {
    let dirs = fixture_dirs();
    assert!(dirs.len() >= 20, "found {} fixtures", dirs.len());
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for dir in &dirs {
        let out = fw()
            .args(["capture", "--paste", "--from"])
            .arg(dir)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}: capture --paste failed",
            dir.display()
        );
        let markdown = String::from_utf8(out.stdout).expect("UTF-8");
        assert!(markdown.contains("<details><summary>fwdoctor capture: meta.json"));
        let file = tmp.path().join("comment.md");
        std::fs::write(&file, &markdown).unwrap();
        let direct = report(dir);
        let back = report(&file);
        // The capture directory's report names DIR; a paste fixture's names DIR/paste.txt.
        let pasted = dir.join(fwdoctor::collect::capture::PASTE_FILE);
        if back != direct && (!pasted.exists() || back != report(&pasted)) {
            failures.push(dir.display().to_string());
        }
    }
    assert!(failures.is_empty(), "not the same report: {failures:?}");
}

/// A lab-recorded paste is judged by the lab's truth: the outside verdict is curl's; another
/// path may be `unknown` (what a paste did not show), never the opposite of curl.
#[test]
fn lab_recorded_pastes_agree_with_curl() {
    let mut judged = 0;
    for dir in fixture_dirs() {
        let truth_file = dir.join("lab-truth.json");
        if !truth_file.exists() {
            continue;
        }
        judged += 1;
        let truth: Value =
            serde_json::from_str(&std::fs::read_to_string(&truth_file).unwrap()).unwrap();
        let (_, text) = report(&dir);
        let report: Value = serde_json::from_str(&text).unwrap();
        for t in truth["ports"].as_array().unwrap() {
            let port = t["host_port"].as_u64();
            let p = report["ports"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["host_port"].as_u64() == port)
                .unwrap_or_else(|| panic!("{}: port {port:?} not in the report", dir.display()));
            let outside = t["outside"].as_str().unwrap();
            assert!(
                p["verdict"] == outside || p["verdict"] == "unknown",
                "{}: port {port:?} verdict {} but curl from outside: {outside}",
                dir.display(),
                p["verdict"]
            );
            let got = &p["paths"]["host_loopback"]["verdict"];
            let want = t["host_loopback"].as_str().unwrap();
            assert!(
                got == want || got == "unknown",
                "{}: host_loopback {got} but curl: {want}",
                dir.display()
            );
        }
    }
    assert!(
        judged >= 2,
        "expected the lab-recorded pastes, judged {judged}"
    );
}

#[test]
fn the_lab_nvl_paste_blames_what_the_capture_blames() {
    let paste = root().join("paste/lab-report-bug-nvl");
    let capture = root().join("lab/report-bug");
    let (code_p, p) = report(&paste);
    let (code_c, c) = report(&capture);
    assert_eq!((code_p, code_c), (2, 2));
    let blamed = |r: &str, family: &str| -> Vec<String> {
        let v: Value = serde_json::from_str(r).unwrap();
        v["ports"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["family"] == family)
            .map(|p| {
                let b = &p["blocked_by"];
                format!(
                    "{} {} {} {} {}",
                    p["verdict"], b["stack"], b["table"], b["chain"], b["rule"]
                )
            })
            .collect()
    };
    assert_eq!(blamed(&p, "ipv4"), blamed(&c, "ipv4"));
    assert!(blamed(&p, "ipv4")[0].contains("\"legacy\" \"filter\" \"FORWARD\" \"policy DROP\""));
    // The paste holds IPv4 listings only: its IPv6 entry is unknown, never the capture's
    // `reachable`.
    let v6 = blamed(&p, "ipv6");
    assert!(
        !v6.is_empty() && v6.iter().all(|b| b.starts_with("\"unknown\"")),
        "{v6:?}"
    );
    for check in ["split-forward-drop", "published-port-blocked"] {
        assert!(p.contains(check) && c.contains(check), "{check}");
    }
}

#[test]
fn an_nft_section_is_filed_byte_for_byte() {
    let text = std::fs::read_to_string(root().join("paste/lab-report-bug-nvl/paste.txt")).unwrap();
    let ev = read_single_text("paste.txt", &text).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.ends_with("# nft list ruleset"))
        .unwrap();
    let end = start
        + 1
        + lines[start + 1..]
            .iter()
            .position(|l| l.starts_with("root@dockerhost"))
            .unwrap();
    let mut want = lines[start + 1..end].join("\n");
    want.push('\n');
    // Behind blank lines that keep the pasted file's line numbers (for errors).
    let filed = ev.get(files::NFT_RULESET_TEXT).unwrap();
    assert_eq!(filed, format!("{}{want}", "\n".repeat(start + 1)));
    assert!(want.starts_with("# Warning: table ip nat is managed by iptables-nft"));
    assert!(want.trim_end().ends_with('}'));
}

#[test]
fn prompts_are_recognised_and_iptables_comments_are_not() {
    for (line, cmd) in [
        ("$ sudo iptables-save", Some("iptables-save")),
        (
            "ubuntu@host:~$ sudo -E iptables -nvL",
            Some("iptables -nvL"),
        ),
        ("root@srv:/etc# nft list ruleset", Some("nft list ruleset")),
        ("[root@h ~]# iptables -S", Some("iptables -S")),
        ("instance-1 ~ # iptables -nL", Some("iptables -nL")),
        ("+ iptables --version", Some("iptables --version")),
        ("# docker info", Some("docker info")),
        ("# Generated by iptables-save v1.8.7 on Mon", None),
        ("# Warning: iptables-legacy tables present", None),
        ("-A FORWARD -j DOCKER-USER", None),
    ] {
        assert_eq!(paste::prompt(line), cmd, "{line}");
    }
}

#[test]
fn sections_get_their_formats_and_stacks() {
    let text = "\
```
$ sudo iptables-legacy-save
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
```
$ sysctl net.ipv4.ip_forward
net.ipv4.ip_forward = 1
$ sudo ufw status verbose
Status: active
Default: deny (incoming), allow (outgoing), deny (routed)
$ docker info
Client:
 Version:    28.0.1

Server:
 Server Version: 28.0.1
 Firewall Backend: iptables
$ ip addr
1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN
    inet 127.0.0.1/8 scope host lo
";
    let ev = read_single_text("paste.txt", text).unwrap();
    let names: Vec<&str> = ev.files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            files::DOCKER_INFO_TEXT,
            files::IP_ADDR_TEXT,
            files::IPTABLES_LEGACY,
            files::SYSCTL,
            files::UFW_STATUS
        ]
    );
    assert_eq!(ev.get(files::SYSCTL), Some("net.ipv4.ip_forward = 1\n"));
    // Line numbers stay the paste's: the save is padded to its place.
    assert!(
        ev.get(files::IPTABLES_LEGACY)
            .unwrap()
            .starts_with("\n\n*filter")
    );
    let status = ev.status(files::IPTABLES_LEGACY).unwrap();
    assert_eq!(status.command, "iptables-legacy-save");
    let model = fwdoctor::model::Model::build(&ev).unwrap();
    assert!(model.interfaces.is_some());
    assert!(model.ufw.is_some());
    assert!(
        model
            .notes
            .iter()
            .any(|n| n.contains("Docker 28.0.1, firewall backend iptables")),
        "{:?}",
        model.notes
    );
}

#[test]
fn a_save_without_a_stack_is_stack_unknown_and_legacy_stays_unseen() {
    let text = "$ sudo iptables-save\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n";
    let ev = read_single_text("p.txt", text).unwrap();
    let st = ev.status(files::IPTABLES_NFT).unwrap();
    assert!(st.reason.starts_with("stack unknown"), "{}", st.reason);
    let model = fwdoctor::model::Model::build(&ev).unwrap();
    assert!(
        model
            .unseen
            .rules
            .iter()
            .any(|p| p.stack == fwdoctor::model::Stack::Legacy),
        "{:?}",
        model.unseen
    );
}

#[test]
fn lossy_sections_are_incomplete_and_name_the_dump_to_paste() {
    let text = "\
$ sudo iptables-save | grep DOCKER
:DOCKER - [0:0]
-A FORWARD -o docker0 -j DOCKER
$ sudo iptables-legacy-save
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
...
";
    let ev = read_single_text("p.txt", text).unwrap();
    // The grep-cut save has no chain declarations left: it cannot be read, so its stack is a
    // failed source (unseen), not an error.
    let nft = ev.status(files::IPTABLES_NFT).unwrap();
    assert_eq!(
        nft.status,
        fwdoctor::collect::SourceState::Failed,
        "{nft:?}"
    );
    assert!(!ev.has(files::IPTABLES_NFT));
    let legacy = ev.status(files::IPTABLES_LEGACY).unwrap();
    assert!(
        legacy.reason.contains(paste::INCOMPLETE),
        "{}",
        legacy.reason
    );
    assert!(legacy.reason.contains("no COMMIT"), "{}", legacy.reason);
    let model = fwdoctor::model::Model::build(&ev).unwrap();
    let reads: Vec<&str> = model
        .unseen
        .rules
        .iter()
        .map(|p| p.read_with.as_str())
        .collect();
    assert!(reads.contains(&"sudo iptables-nft-save"), "{reads:?}");
    assert!(reads.contains(&"sudo iptables-legacy-save"), "{reads:?}");
    // A filtered listing that parses is incomplete, with its filter named.
    let ev = read_single_text(
        "p.txt",
        "$ sudo iptables -S | grep -v ts-\n-P INPUT ACCEPT\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n",
    )
    .unwrap();
    let st = ev.status(files::IPTABLES_NFT).unwrap();
    assert!(
        st.reason.contains("filtered by `grep -v ts-`"),
        "{}",
        st.reason
    );
}

#[test]
fn a_listing_without_v_asks_for_nvl() {
    let text = "$ sudo iptables -L\nChain INPUT (policy ACCEPT)\ntarget     prot opt source               destination\n\nChain FORWARD (policy DROP)\ntarget     prot opt source               destination\nACCEPT     all  --  anywhere             anywhere\n\nChain OUTPUT (policy ACCEPT)\ntarget     prot opt source               destination\n";
    let ev = read_single_text("p.txt", text).unwrap();
    assert!(ev.has(files::IPTABLES_NFT_LIST));
    let model = fwdoctor::model::Model::build(&ev).unwrap();
    assert!(
        model
            .unseen
            .rules
            .iter()
            .any(|p| p.read_with == "sudo iptables -nvL"),
        "{:?}",
        model.unseen
    );
}

#[test]
fn text_with_no_section_exits_3_with_one_line() {
    let out = fw()
        .args(["check", "--from", "-"])
        .write_stdin("Hello, my containers do not work.\nThanks!\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("sudo fwdoctor capture -o DIR"), "{stderr}");
    assert!(stderr.contains("iptables -L"), "{stderr}");
}

#[test]
fn stdin_is_read_as_a_paste() {
    let text = std::fs::read(root().join("paste/lab-report-bug-nvl/paste.txt")).unwrap();
    let out = fw()
        .args(["check", "--format", "json", "--from", "-"])
        .write_stdin(text)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.to_string().contains("split-forward-drop"));
}

#[test]
fn capture_paste_marks_a_file_without_a_final_newline() {
    let mut ev = fwdoctor::collect::Evidence::default();
    ev.insert(files::SYSCTL, "net.ipv4.ip_forward = 1".to_string());
    ev.insert(files::UFW_STATUS, "Status: inactive\n```\n".to_string());
    let md = paste::to_markdown(&ev);
    assert!(
        md.contains("````text"),
        "a fence longer than the content's: {md}"
    );
    let back = paste::read(&md, "comment.md").unwrap();
    assert_eq!(back.get(files::SYSCTL), Some("net.ipv4.ip_forward = 1"));
    assert_eq!(back.get(files::UFW_STATUS), Some("Status: inactive\n```\n"));
}

#[test]
fn nft_stderr_about_an_unprintable_xt_target_makes_the_listing_incomplete() {
    // nft 1.0.6 listing a dual-stack iptables-nft host: ip6's MASQUERADE comes out as nothing,
    // with nft's complaint on stderr between the lines.
    let text = "\
root@host:~# nft list ruleset
table ip6 nat {
\tchain POSTROUTING {
\t\ttype nat hook postrouting priority srcnat; policy accept;
XT target MASQUERADE not found
\t\tip6 saddr fd00::/64 oifname != \"docker0\" counter packets 0 bytes 0
\t}
}
";
    let ev = read_single_text("paste.txt", text).unwrap();
    let st = &ev.meta.sources[files::source_name(files::NFT_RULESET_TEXT)];
    assert!(
        st.reason.contains("incomplete paste")
            && st
                .reason
                .contains("line 5 `XT target MASQUERADE not found`"),
        "{st:?}"
    );
    assert!(
        !ev.get(files::NFT_RULESET_TEXT)
            .unwrap()
            .contains("XT target")
    );
}
