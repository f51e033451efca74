//! The nft text parser gives the same model as the JSON parser, judged by nft itself: each
//! ruleset is loaded into a private network namespace (`unshare -n`, gone with its process, so
//! nothing outlives the test even when it fails), dumped as `nft list ruleset`,
//! `nft -a list ruleset` and `nft -j list ruleset`, and the parses are compared.
//!
//! Rulesets: every `tests/data/nft/*.nft` (hand-written edge cases, Docker 29's reference
//! tables, firewalld's and netavark's tables, ...) and every lab capture (its iptables-nft saves
//! restored with iptables-nft-restore after its ipset-save.txt, its native tables loaded from its
//! nft-table-FAMILY-NAME.json files).
//!
//! What may differ, and only this: line numbers and the source name (text only), handles (JSON;
//! text only with `-a`, where they must be equal), and rules holding iptables-nft `xt`
//! expressions: `nft -j` prints those without their options (`xt match "conntrack"`), while
//! `nft list ruleset` prints libxtables' translation (`ct state related,established`). For such
//! rules the text's model must hold every match the JSON's has (minus the opaque `xt` ones), and
//! the same action unless JSON's is the opaque `xt target` (a continuing one, like `MARK`, must
//! continue in text too, under the name of its translation).
//!
//! Text that `nft -f` rejects is rejected by the parser too, naming the file and line.
//!
//! Needs root (for `unshare -n`) and nft; without them it fails rather than skips.

use fwdoctor::model::{Action, Match, Stack, Table};
use fwdoctor::parse::{nft_json, nft_text};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root for `unshare -n` (run it as root, as CI does)"
    );
}

/// Run `script` with sh in a fresh network namespace; panics with its stderr on failure.
fn in_netns(script: &str) -> std::process::Output {
    Command::new("unshare")
        .args(["-n", "sh", "-ec", script])
        .output()
        .expect("unshare (util-linux)")
}

struct Dumps {
    text: String,
    text_handles: String,
    json: String,
}

/// Load with `load` (shell commands) in a private namespace and dump the ruleset three ways.
/// With `per_table`, the text is `nft list table` of each table in turn: nft 1.0.6's `list
/// ruleset` translates iptables-nft's `xt` targets for one family only (with both ip and ip6
/// tables it prints ip6's `-j MASQUERADE` / `-j DNAT` as nothing, "XT target MASQUERADE not
/// found" on stderr), which no parser can read back.
fn load_and_dump(load: &str, dir: &Path, per_table: bool) -> Dumps {
    let d = dir.display();
    let text = |flags: &str| {
        if per_table {
            format!(
                "nft list tables | while read -r _ f n; do nft {flags} list table \"$f\" \"$n\"; done"
            )
        } else {
            format!("nft {flags} list ruleset")
        }
    };
    let out = in_netns(&format!(
        "{load}\n{} > {d}/text\n{} > {d}/text-a\nnft -j list ruleset > {d}/json",
        text(""),
        text("-a")
    ));
    assert!(
        out.status.success(),
        "loading failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Dumps {
        text: fs::read_to_string(dir.join("text")).unwrap(),
        text_handles: fs::read_to_string(dir.join("text-a")).unwrap(),
        json: fs::read_to_string(dir.join("json")).unwrap(),
    }
}

fn normalized(mut tables: Vec<Table>, keep_handles: bool) -> Vec<Table> {
    for t in &mut tables {
        t.source.clear();
        for c in &mut t.chains {
            c.line = 0;
            for r in &mut c.rules {
                r.line = 0;
                if !keep_handles {
                    r.handle = None;
                }
            }
        }
    }
    tables
}

fn is_xt(m: &Match) -> bool {
    matches!(m, Match::Unknown { text } if text.as_str().starts_with("xt "))
}

/// Compare the two models; `xt` rules by the rule in the module docs. Returns how many rules
/// were compared exactly and how many by the `xt` rule.
fn assert_same(name: &str, from_text: &[Table], from_json: &[Table]) -> (usize, usize) {
    let (mut exact, mut xt) = (0, 0);
    let ids = |ts: &[Table]| {
        ts.iter()
            .map(|t| format!("{} {}", t.family, t.name))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(from_text), ids(from_json), "{name}: tables differ");
    for (tt, jt) in from_text.iter().zip(from_json) {
        // The one documented stack difference (nft_text's docs): iptables-restore-translate
        // output, iptables-shaped tables of native expressions, which text cannot tell from
        // iptables-nft's translated `xt` expressions.
        let translated = name.ends_with("iptables-translated.nft")
            && tt.stack == Stack::IptablesNft
            && jt.stack == Stack::Nft;
        assert!(
            tt.stack == jt.stack || translated,
            "{name}: stack of {}: text {}, JSON {}",
            jt.label(),
            tt.stack,
            jt.stack
        );
        let chains = |t: &Table| {
            t.chains
                .iter()
                .map(|c| c.name.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(chains(tt), chains(jt), "{name}: chains of {}", tt.label());
        for (tc, jc) in tt.chains.iter().zip(&jt.chains) {
            let here = format!("{name}: {} chain {}", tt.label(), tc.name);
            assert_eq!(tc.base, jc.base, "{here}: base chain");
            assert_eq!(tc.rules.len(), jc.rules.len(), "{here}: rule count");
            for (tr, jr) in tc.rules.iter().zip(&jc.rules) {
                let xt_action = matches!(&jr.action, Action::Unknown { text } if text.as_str().starts_with("xt "));
                let has_xt = jr.text.as_str().contains("xt match \"")
                    || jr.text.as_str().contains("xt target \"");
                if !has_xt {
                    assert_eq!(tr, jr, "{here}: rule differs");
                    exact += 1;
                    continue;
                }
                xt += 1;
                for m in jr.matches.iter().filter(|m| !is_xt(m)) {
                    assert!(
                        tr.matches.contains(m),
                        "{here}: text rule {:?} lacks {m:?} of the JSON rule {:?}",
                        tr.text,
                        jr.text
                    );
                }
                // A continuing `xt target` (MARK, LOG, ...) is named as each format prints it:
                // `MARK` in JSON, its translation (`meta mark set …`) in text.
                let both_continue_past_a_target = jr.text.as_str().contains("xt target \"")
                    && matches!(jr.action, Action::Continue { .. })
                    && matches!(tr.action, Action::Continue { .. });
                if !xt_action && !both_continue_past_a_target {
                    assert_eq!(tr.action, jr.action, "{here}: action of {:?}", jr.text);
                }
                assert_eq!(
                    tr.counters, jr.counters,
                    "{here}: counters of {:?}",
                    jr.text
                );
            }
        }
    }
    (exact, xt)
}

fn differential(name: &str, load: &str) -> (usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let dumps = load_and_dump(load, dir.path(), false);
    differential_of(name, &dumps)
}

fn differential_of(name: &str, dumps: &Dumps) -> (usize, usize) {
    let json = normalized(nft_json::parse(&dumps.json, "json").unwrap(), false);
    let text = nft_text::parse(&dumps.text, "text")
        .unwrap_or_else(|e| panic!("{name}: {e}\n{}", dumps.text));
    let counts = assert_same(name, &normalized(text, false), &json);
    // With -a the handles are there too, and equal.
    let with_handles = nft_text::parse(&dumps.text_handles, "text-a")
        .unwrap_or_else(|e| panic!("{name}: {e}\n{}", dumps.text_handles));
    let json_handles = normalized(nft_json::parse(&dumps.json, "json").unwrap(), true);
    let handles = |ts: &[Table]| {
        ts.iter()
            .flat_map(|t| {
                t.chains
                    .iter()
                    .flat_map(|c| c.rules.iter().map(|r| r.handle))
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        handles(&with_handles),
        handles(&json_handles),
        "{name}: handles"
    );
    assert!(handles(&with_handles).iter().all(Option::is_some));
    counts
}

fn nft_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(Path::new(ROOT).join("tests/data/nft"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "nft"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_nft_file_parses_the_same_as_text_and_json() {
    require_root();
    let files = nft_files();
    assert!(files.len() >= 8, "{files:?}");
    let mut total = 0;
    for f in &files {
        let (exact, _) = differential(&f.display().to_string(), &format!("nft -f {}", f.display()));
        total += exact;
    }
    assert!(total > 100, "only {total} rules compared");
}

/// The native (non-iptables-nft) tables of a `nft -j` dump, as `nft -j -f` input.
fn native_part(json: &str, saved: &[(String, String)]) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_str(json).unwrap();
    // `nft -j list table` prints a verdict map before the chains its elements jump to; `nft -j
    // -f` needs those chains first: tables, chains, then sets and maps, then rules.
    let rank = |o: &serde_json::Value| match o.as_object().and_then(|m| m.keys().next()) {
        Some(k) if k == "table" => 0,
        Some(k) if k == "chain" => 1,
        Some(k) if k == "rule" => 3,
        _ => 2,
    };
    let mut objects: Vec<&serde_json::Value> = doc["nftables"].as_array().unwrap().iter().collect();
    objects.sort_by_key(|o| rank(o));
    let keep: Vec<serde_json::Value> = objects
        .into_iter()
        .filter(|o| {
            let Some((kind, body)) = o.as_object().and_then(|m| m.iter().next()) else {
                return false;
            };
            if kind == "metainfo" {
                return false;
            }
            let family = body["family"].as_str().unwrap_or("");
            let table = body
                .get(if kind == "table" { "name" } else { "table" })
                .and_then(|v| v.as_str())
                .unwrap_or("");
            !saved.iter().any(|(f, t)| f == family && t == table)
        })
        .map(|o| {
            // nft -j -f takes the objects without handles; `add` them.
            let mut o = o.clone();
            if let Some(m) = o.as_object_mut() {
                for body in m.values_mut() {
                    if let Some(b) = body.as_object_mut() {
                        b.remove("handle");
                    }
                }
            }
            serde_json::json!({ "add": o })
        })
        .collect();
    if keep.is_empty() {
        return None;
    }
    Some(serde_json::json!({ "nftables": keep }).to_string())
}

/// `*table` names of an iptables-save file.
fn saved_tables(save: &str) -> Vec<String> {
    save.lines()
        .filter_map(|l| l.strip_prefix('*'))
        .map(|t| t.trim().to_string())
        .collect()
}

#[test]
fn every_lab_capture_parses_the_same_as_text_and_json() {
    require_root();
    let lab = Path::new(ROOT).join("fixtures/lab");
    let mut caps: Vec<PathBuf> = fs::read_dir(&lab)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("nft-chains.json").exists())
        .collect();
    caps.sort();
    assert!(caps.len() >= 40, "{caps:?}");
    let (mut exact, mut xt) = (0, 0);
    for cap in &caps {
        let tmp = tempfile::tempdir().unwrap();
        let mut load = String::new();
        // Docker 28.0.0's rules match its ipset (`-m set --match-set docker-ext-bridges-v4`).
        let sets = cap.join("ipset-save.txt");
        if fs::read_to_string(&sets).is_ok_and(|s| !s.trim().is_empty()) {
            load.push_str(&format!("ipset restore < {}\n", sets.display()));
        }
        let mut saved = Vec::new();
        for (file, family, tool) in [
            ("iptables-nft-save.txt", "ip", "iptables-nft-restore"),
            ("ip6tables-nft-save.txt", "ip6", "ip6tables-nft-restore"),
        ] {
            let p = cap.join(file);
            if let Ok(save) = fs::read_to_string(&p)
                && !saved_tables(&save).is_empty()
            {
                saved.extend(
                    saved_tables(&save)
                        .into_iter()
                        .map(|t| (family.to_string(), t)),
                );
                load.push_str(&format!("{tool} < {}\n", p.display()));
            }
        }
        // The capture's layout: nft-chains.json names every table; the tables no save printed
        // are each in an nft-table-FAMILY-NAME.json (`nft -j list table`).
        let per_table = per_table_files(cap);
        let mut objects = Vec::new();
        for f in &per_table {
            let doc: serde_json::Value =
                serde_json::from_str(&fs::read_to_string(f).unwrap()).unwrap();
            objects.extend(doc["nftables"].as_array().unwrap().iter().cloned());
        }
        let json = serde_json::json!({ "nftables": objects }).to_string();
        if let Some(native) = native_part(&json, &saved) {
            let p = tmp.path().join("native.json");
            fs::write(&p, native).unwrap();
            load.push_str(&format!("nft -j -f {}\n", p.display()));
        }
        let dumps = load_and_dump(&load, tmp.path(), true);
        let (e, x) = differential_of(&cap.display().to_string(), &dumps);
        exact += e;
        xt += x;
        // The whole report is the same with the ruleset as text (nft-ruleset.txt, `nft -a`: a
        // fix names a rule by its handle) as with the JSON dump of the same kernel ruleset.
        // Both stand in for the capture's per-table files.
        let whole_ruleset = |to: &str, file: &str, dump: &str| {
            let c = copy_capture(cap, &tmp.path().join(to));
            fs::remove_file(c.join("nft-chains.json")).unwrap();
            for f in &per_table {
                fs::remove_file(c.join(f.file_name().unwrap())).unwrap();
            }
            fs::write(c.join(file), dump).unwrap();
            c
        };
        let as_text = whole_ruleset("cap-text", "nft-ruleset.txt", &dumps.text_handles);
        let as_json = whole_ruleset("cap-json", "nft-ruleset.json", &dumps.json);
        assert_eq!(
            report(&as_text),
            report(&as_json),
            "{}: the report from text differs",
            cap.display()
        );
    }
    assert!(
        exact > 50 && xt > 20,
        "compared {exact} exactly, {xt} xt rules"
    );
}

/// A capture's `nft-table-FAMILY-NAME.json` files.
fn per_table_files(cap: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(cap)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.starts_with("nft-table-") && name.ends_with(".json")
        })
        .collect();
    files.sort();
    files
}

fn copy_capture(from: &Path, to: &Path) -> PathBuf {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    to.to_path_buf()
}

/// `check --from DIR --format json`, without what names the input.
fn report(cap: &Path) -> serde_json::Value {
    let out = assert_cmd::Command::cargo_bin("fwdoctor")
        .unwrap()
        .args(["check", "--format", "json", "--from"])
        .arg(cap)
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0..=2)),
        "{}: {}",
        cap.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout)
        .unwrap()
        .replace(files_text(), "nft-ruleset.json");
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["origin"] = serde_json::Value::Null;
    drop_nft_lines(&mut v);
    v
}

/// Text gives evidence a line (`nft-ruleset.txt:65`), JSON none: drop those sources.
fn drop_nft_lines(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            if m.get("source")
                .and_then(|s| s.as_str())
                .is_some_and(|s| s.starts_with("nft-ruleset.json:"))
            {
                m.remove("source");
            }
            m.values_mut().for_each(drop_nft_lines);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(drop_nft_lines),
        _ => {}
    }
}

fn files_text() -> &'static str {
    fwdoctor::collect::evidence::files::NFT_RULESET_TEXT
}

/// Text nft -f refuses: the parser refuses it too, naming the file and the line.
#[test]
fn what_nft_rejects_the_parser_rejects_with_file_and_line() {
    require_root();
    let cases: &[(&str, usize)] = &[
        (
            "table ip t {\n\tchain c {\n\t\ttype filter hook sideways priority 0;\n\t}\n}\n",
            3,
        ),
        (
            "table ip t {\n\tchain c {\n\t\ttype filter hook input priority bogus;\n\t}\n}\n",
            3,
        ),
        (
            "table ip t {\n\tchain c {\n\t\ttype bogus hook input priority 0;\n\t}\n}\n",
            3,
        ),
        (
            "table ip t {\n\tchain c {\n\t\ttype filter hook input priority 0; policy maybe;\n\t}\n}\n",
            3,
        ),
        ("table nope t {\n}\n", 1),
        (
            "table ip t {\n\tchain c {\n\t\ttcp dport $UNDEFINED accept\n\t}\n}\n",
            3,
        ),
        (
            "table ip t {\n\tchain c {\n\t\tiifname \"lo accept\n\t}\n}\n",
            3,
        ),
        ("table ip t {\n\tbogus x {\n\t}\n}\n", 2),
        ("chain ip t c {\n}\n", 1),
        (
            "table ip t {\n\tmap m {\n\t\telements = { 1 : accept }\n\t}\n}\n",
            4,
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (text, line)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.nft"));
        fs::write(&path, text).unwrap();
        let out = in_netns(&format!("nft -c -f {}", path.display()));
        assert!(!out.status.success(), "nft accepted {text:?}");
        let e = nft_text::parse(text, "bad.nft")
            .err()
            .unwrap_or_else(|| panic!("parser accepted {text:?}"));
        assert_eq!(
            (e.file.as_str(), e.line),
            ("bad.nft", *line),
            "{text:?}: {e}"
        );
    }
}

/// `check --from FILE` with nft text (a `#` comment, then `table`) files it as nft-ruleset.txt
/// and reads Docker 29's table from it; no root needed.
#[test]
fn check_from_a_single_nft_text_file() {
    let out = assert_cmd::Command::cargo_bin("fwdoctor")
        .unwrap()
        .args(["check", "--format", "json", "--from"])
        .arg(Path::new(ROOT).join("tests/data/nft/docker29-portmap.nft"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["host"]["sources"]["nft-ruleset"], "ok");
    assert_eq!(v["host"]["tables"][0]["table"], "docker-bridges");
    assert_eq!(v["host"]["tables"][0]["rules"], 21);
    assert_eq!(v["host"]["docker_rules"][0]["layout"], "docker29-nftables");
}

/// A stand-in for the fuzz target in CI (cargo-fuzz needs nightly): every prefix of every test
/// ruleset, and each with one byte replaced by each of a few delimiters, parses or gives an
/// error with a line inside the text; never a panic.
#[test]
fn every_prefix_and_small_mutation_parses_or_fails_cleanly() {
    let mut runs = 0;
    for f in nft_files() {
        let text = fs::read_to_string(&f).unwrap();
        let check = |t: &str| {
            let lines = t.lines().count().max(1);
            match std::panic::catch_unwind(|| nft_text::parse(t, "f")) {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => assert!(e.line >= 1 && e.line <= lines + 1, "{e} for {t:?}"),
                Err(_) => panic!("panic on {t:?}"),
            }
        };
        for (i, _) in text.char_indices() {
            check(&text[..i]);
            runs += 1;
        }
        for (i, c) in text.char_indices().step_by(7) {
            for d in ["{", "}", "\"", ";", "$x", "\n", ",", ":"] {
                let mut t = text.clone();
                t.replace_range(i..i + c.len_utf8(), d);
                check(&t);
                runs += 1;
            }
        }
    }
    assert!(runs > 10_000, "{runs}");
}

/// A ruleset of ten thousand rules in several chains (the scale the borrowed tokens and trees
/// of the text parser are for): text and JSON still agree, rule for rule and in order, with
/// `@set` lookups, anonymous sets, jumps and comments.
#[test]
fn a_large_ruleset_parses_the_same_as_text_and_json() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(
        "table inet big {\n  set allowed { type ipv4_addr; elements = { 10.0.0.1, 10.0.0.2 } }\n",
    );
    let (chains, per_chain) = (6, 1700);
    for c in 0..chains {
        text.push_str(&format!("  chain c{c} {{\n"));
        for r in 0..per_chain {
            let rule = match r % 5 {
                0 => format!(
                    "ip saddr 10.{c}.{}.{} tcp dport {} counter accept comment \"c{c}r{r}\"",
                    r / 250,
                    r % 250,
                    1 + r
                ),
                1 => format!("iifname \"eth{r}\" ip daddr @allowed drop"),
                2 if c > 0 => format!("ct state established,related jump c{}", c - 1),
                3 => format!("udp dport {{ {}, {} }} counter drop", 1 + r, 40000 + r),
                _ => format!("oifname \"br-{r}\" ip6 daddr fd00::{r:x} return"),
            };
            text.push_str(&format!("    {rule}\n"));
        }
        text.push_str("  }\n");
    }
    text.push_str(&format!(
        "  chain input {{ type filter hook input priority 0; policy accept; jump c{}; }}\n}}\n",
        chains - 1
    ));
    let file = dir.path().join("big.nft");
    fs::write(&file, &text).unwrap();
    let dumps = load_and_dump(&format!("nft -f {}", file.display()), dir.path(), false);
    let (exact, _) = differential_of("large", &dumps);
    assert!(exact > chains * per_chain, "only {exact} rules compared");
}
