//! Fix commands tailored to the host: snap or apt Docker, ufw, firewalld, and the stack a rule
//! lives in.

use crate::analyze::checks::mixed_backends::has_state;
use crate::analyze::context::Context;
use crate::analyze::ports::BlockedBy;
use crate::analyze::shell;
use crate::analyze::trace::RuleRef;
use crate::model::{Family, Model, Policy, Stack};
use crate::parse::tokenizer;

/// The command that restarts Docker on this host.
pub fn restart_docker(ctx: &Context) -> &'static str {
    if ctx.model.docker_is_snap() {
        "sudo snap restart docker"
    } else {
        "sudo systemctl restart docker"
    }
}

/// How to allow what Docker 28+'s direct-access drop blocks (routed access to published
/// container ports from other hosts), for this host's Docker.
pub fn direct_routing(model: &crate::model::Model) -> String {
    let (daemon_json, restart) = if model.docker_is_snap() {
        (
            "/var/snap/docker/current/config/daemon.json",
            "sudo snap restart docker",
        )
    } else {
        ("/etc/docker/daemon.json", "sudo systemctl restart docker")
    };
    format!(
        "to allow routed access, `\"allow-direct-routing\": true` in {daemon_json} (28.2+), then \
         `{restart}`, or the network option \
         `com.docker.network.bridge.trusted_host_interfaces=IFACE` (or `gateway_mode_ipv4=routed`)."
    )
}

/// The iptables binary of a stack and family: `iptables-legacy`, `ip6tables-nft`.
pub fn iptables_cmd(stack: Stack, family: Family) -> String {
    let base = if family == Family::Ip6 {
        "ip6tables"
    } else {
        "iptables"
    };
    match stack {
        Stack::Legacy => format!("{base}-legacy"),
        _ => format!("{base}-nft"),
    }
}

/// The one line that points `iptables` and `ip6tables` at `stack` (legacy or nft), for good.
pub fn use_alternatives(stack: Stack) -> String {
    let suffix = if stack == Stack::Legacy {
        "legacy"
    } else {
        "nft"
    };
    format!(
        "sudo update-alternatives --set iptables /usr/sbin/iptables-{suffix} && sudo update-alternatives --set ip6tables /usr/sbin/ip6tables-{suffix}"
    )
}

/// The command that takes away what `r` (a policy or rule) does, right now.
///
/// Every word taken from the evidence is shell-quoted ([`shell::quote`]): pasting the line runs
/// exactly the command shown, whatever a rule's comment or a chain's name holds.
pub fn undo(r: &RuleRef, bridges: &[String]) -> Vec<String> {
    match r.stack {
        Stack::Legacy | Stack::IptablesNft => {
            let cmd = format!(
                "sudo {} -t {}",
                iptables_cmd(r.stack, r.family),
                shell::quote(&r.table)
            );
            if r.is_policy() {
                return vec![format!("{cmd} -P {} ACCEPT", shell::quote(&r.chain))];
            }
            match delete_spec(&r.rule) {
                Some(words) => vec![format!("{cmd} -D {}", shell::join(&words))],
                // Not iptables-save text: an iptables-nft rule read from `nft -j`.
                None if r.handle.is_some() => delete_by_handle(r),
                None => vec![
                    format!("{cmd} -L {} --line-numbers", shell::quote(&r.chain)),
                    format!(
                        "Then delete that rule by the number the listing shows in front of it: {cmd} -D {} followed by the number.",
                        shell::quote(&r.chain)
                    ),
                ],
            }
        }
        Stack::Nft => {
            let chain = nft_chain(r);
            if r.is_policy() {
                bridges
                    .iter()
                    .flat_map(|b| {
                        // nft's own quotes around the name, inside the shell's.
                        let name = shell::quote(&format!("\"{b}\"")).into_owned();
                        [
                            format!("sudo nft insert rule {chain} oifname {name} accept"),
                            format!("sudo nft insert rule {chain} iifname {name} accept"),
                        ]
                    })
                    .collect()
            } else {
                delete_by_handle(r)
            }
        }
    }
}

/// When ufw is active and `r` is ufw's (one of its `ufw-*`/`ufw6-*` chains, or the INPUT or
/// FORWARD policy of a filter table that holds them), the `ufw` command that lets `proto`
/// traffic to `port` through (`routed`: the connection was DNATed to a container, so ufw's
/// `route` rules and the container's port), instead of a raw iptables change that ufw's next reload undoes
/// (and that, for a policy, would open the whole host).
pub fn ufw_allow(
    ctx: &Context,
    r: &RuleRef,
    proto: &str,
    port: u16,
    routed: bool,
) -> Option<String> {
    if !ctx.model.ufw.as_ref().is_some_and(|u| u.active) || r.table != "filter" {
        return None;
    }
    let is_ufw = |name: &str| name.starts_with("ufw-") || name.starts_with("ufw6-");
    let table_has_ufw = || {
        ctx.model
            .tables
            .iter()
            .filter(|t| t.stack == r.stack && t.family == r.family && t.name == "filter")
            .any(|t| t.chains.iter().any(|c| is_ufw(&c.name)))
    };
    let owned = is_ufw(&r.chain)
        || (r.is_policy() && matches!(r.chain.as_str(), "INPUT" | "FORWARD") && table_has_ufw());
    if !owned {
        return None;
    }
    let proto = shell::quote(proto);
    Some(if routed {
        format!("sudo ufw route allow proto {proto} from any to any port {port}")
    } else {
        format!("sudo ufw allow {port}/{proto}")
    })
}

/// firewalld's own table (`inet firewalld`; firewalld 0.6–0.9 also made `ip`/`ip6 firewalld`):
/// a firewall the host runs, configured with `firewall-cmd`, never edited with `nft` (firewalld
/// rewrites its table on every reload).
pub fn is_firewalld(stack: Stack, table: &str) -> bool {
    stack == Stack::Nft && table == "firewalld"
}

/// The chains firewalld's iptables backend (`FirewallBackend=iptables`) makes in a filter
/// table: fixed names, and per zone `IN_<zone>…`, `FWD_<zone>…` (0.6–0.9: `FWDI_`/`FWDO_`).
fn firewalld_iptables_chain(chain: &str) -> bool {
    const FIXED: &[&str] = &[
        "INPUT_direct",
        "INPUT_ZONES",
        "INPUT_ZONES_SOURCE",
        "INPUT_POLICIES_pre",
        "INPUT_POLICIES_post",
        "FORWARD_direct",
        "FORWARD_ZONES",
        "FORWARD_IN_ZONES",
        "FORWARD_IN_ZONES_SOURCE",
        "FORWARD_OUT_ZONES",
        "FORWARD_OUT_ZONES_SOURCE",
        "FORWARD_POLICIES_pre",
        "FORWARD_POLICIES_post",
        "OUTPUT_direct",
        "OUTPUT_POLICIES_pre",
        "OUTPUT_POLICIES_post",
    ];
    FIXED.contains(&chain)
        || ["IN_", "FWD_", "FWDI_", "FWDO_"]
            .iter()
            .any(|p| chain.starts_with(p))
}

/// Is the blocking rule `b` firewalld's: a rule of its nft table, or, in a filter table where
/// firewalld's iptables backend made its `INPUT_ZONES`/`FORWARD_ZONES`, a rule of one of its
/// chains or its final `-j REJECT` in INPUT or FORWARD.
pub fn firewalld_owns(model: &Model, b: &BlockedBy) -> bool {
    if b.rule.starts_with("policy ") {
        return false;
    }
    if is_firewalld(b.stack, &b.table) {
        return true;
    }
    if b.stack == Stack::Nft || b.table != "filter" {
        return false;
    }
    let has_firewalld = model
        .tables
        .iter()
        .filter(|t| t.stack == b.stack && t.family == b.family && t.name == "filter")
        .any(|t| {
            t.chains.iter().any(|c| {
                matches!(
                    c.name.as_str(),
                    "INPUT_ZONES" | "FORWARD_ZONES" | "FORWARD_IN_ZONES"
                )
            })
        });
    has_firewalld
        && (firewalld_iptables_chain(&b.chain)
            || (matches!(b.chain.as_str(), "INPUT" | "FORWARD") && b.rule.contains("-j REJECT")))
}

/// [`firewalld_owns`] for a trace's rule.
pub fn firewalld_rule(model: &Model, r: &RuleRef) -> bool {
    firewalld_owns(model, &BlockedBy::from(r))
}

/// What a firewalld chain that drops a published port does, from its name (firewalld's
/// `src/firewall/core/nftables.py` names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirewalldDrop {
    /// `filter_FORWARD_dnat`: StrictForwardPorts=yes (firewalld >= 2.3) rejects DNATed traffic
    /// no forward-port of firewalld's accepts.
    StrictForwardPorts,
    /// `filter_INPUT` / `filter_IN_<zone>` (iptables backend: `INPUT`, `IN_<zone>`): the port reaches the host itself (docker-proxy) and
    /// the zone does not open it.
    Input,
    /// `filter_FORWARD` / `filter_FWD_<zone>` (iptables backend: `FORWARD`, `FWD_<zone>`): forwarded traffic no zone or policy accepts.
    Forward,
    /// Any other firewalld chain (rpfilter in `filter_PREROUTING`, `filter_OUTPUT`).
    Other,
}

impl FirewalldDrop {
    pub fn of(chain: &str) -> FirewalldDrop {
        if chain == "filter_FORWARD_dnat" {
            FirewalldDrop::StrictForwardPorts
        } else if chain.starts_with("filter_INPUT")
            || chain.starts_with("filter_IN_")
            || chain == "INPUT"
            || chain == "INPUT_ZONES"
            || chain.starts_with("IN_")
        {
            FirewalldDrop::Input
        } else if chain.starts_with("filter_FORWARD")
            || chain.starts_with("filter_FWD_")
            || chain.starts_with("FORWARD")
            || chain.starts_with("FWD")
        {
            FirewalldDrop::Forward
        } else {
            FirewalldDrop::Other
        }
    }
}

/// The published port a firewalld fix opens: `proto`, the host port, and the container's
/// address and port when known.
pub struct FirewalldPort<'a> {
    pub proto: &'a str,
    pub host_port: u16,
    pub container: Option<(std::net::IpAddr, u16)>,
}

/// firewall-cmd lines that let `port` through what firewalld's chain `chain` does to it: the
/// runtime change (now) and the same with `--permanent` (lasting, no reload needed since the
/// runtime already has it; a `firewall-cmd --reload` would load it too). No zone is named:
/// firewall-cmd then changes the default zone, the one of interfaces in no zone.
pub fn firewalld_fix(
    ctx: &Context,
    chain: &str,
    port: &FirewalldPort,
) -> (Vec<String>, Vec<String>) {
    let proto = port.proto;
    let both = |arg: String| {
        let arg = shell::quote(&arg).into_owned();
        (
            vec![format!("sudo firewall-cmd {arg}")],
            vec![format!("sudo firewall-cmd --permanent {arg}")],
        )
    };
    match FirewalldDrop::of(chain) {
        FirewalldDrop::StrictForwardPorts => match port.container {
            Some((ip, cport)) => {
                let (now, mut lasting) = both(format!(
                    "--add-forward-port=port={}:proto={proto}:toport={cport}:toaddr={ip}",
                    port.host_port
                ));
                lasting.push("The forward-port names the container's address, which changes when the container is re-created: add it again then, or set StrictForwardPorts=no in /etc/firewalld/firewalld.conf (firewalld accepts every published port again) and `sudo systemctl restart firewalld`, then restart Docker.".into());
                (now, lasting)
            }
            None => (
                vec![format!(
                    "Find the container's address (docker inspect), then: sudo firewall-cmd --add-forward-port=port={}:proto={}:toport=CONTAINER_PORT:toaddr=CONTAINER_IP, and the same with --permanent.",
                    port.host_port,
                    shell::quote(proto)
                )],
                Vec::new(),
            ),
        },
        FirewalldDrop::Input => both(format!("--add-port={}/{proto}", port.host_port)),
        FirewalldDrop::Forward => {
            let (now, mut lasting) = firewalld_docker_zone(ctx, &bridge_names(ctx));
            // Zone targets apply to what comes *in* from a zone: traffic from outside to a
            // container needs a policy into the docker zone (Docker >= 28 makes this one).
            lasting.push("sudo firewall-cmd --permanent --new-policy=docker-forwarding && sudo firewall-cmd --permanent --policy=docker-forwarding --add-ingress-zone=ANY --add-egress-zone=docker --set-target=ACCEPT && sudo firewall-cmd --reload".into());
            lasting.push(format!(
                "{}   # firewalld's start or reload can remove Docker's iptables rules; Docker re-creates them",
                restart_docker(ctx)
            ));
            (now, lasting)
        }
        FirewalldDrop::Other => (
            vec![format!(
                "The drop is in firewalld's own chain {}: change firewalld's settings (sudo firewall-cmd --list-all), not its table with nft, which firewalld rewrites on every reload.",
                shell::quote(chain)
            )],
            Vec::new(),
        ),
    }
}

/// firewall-cmd lines that put `bridges` into Docker's `docker` zone (target ACCEPT), for
/// traffic coming from the containers. Bridges firewalld-zones.txt lists in a zone already are
/// left alone. Without a `docker` zone (Docker started before firewalld, so it never made one),
/// restarting Docker is the fix: Docker >= 20.10 creates the zone and adds its bridges when it
/// starts with firewalld running.
pub fn firewalld_docker_zone(ctx: &Context, bridges: &[String]) -> (Vec<String>, Vec<String>) {
    let zones = ctx.model.firewalld_zones.as_deref();
    if zones.is_some_and(|z| !z.iter().any(|z| z.name == "docker")) {
        return (vec![restart_docker(ctx).to_string()], Vec::new());
    }
    let zoned = |b: &str| {
        zones
            .into_iter()
            .flatten()
            .any(|z| z.interfaces.iter().any(|i| i == b))
    };
    let mut now = Vec::new();
    let mut lasting = Vec::new();
    for b in bridges.iter().filter(|b| !zoned(b)) {
        let arg = shell::quote(&format!("--add-interface={b}")).into_owned();
        now.push(format!("sudo firewall-cmd --zone=docker {arg}"));
        lasting.push(format!("sudo firewall-cmd --permanent --zone=docker {arg}"));
    }
    (now, lasting)
}

/// `nft FAMILY TABLE CHAIN`, each name shell-quoted.
fn nft_chain(r: &RuleRef) -> String {
    format!(
        "{} {} {}",
        r.family.as_str(),
        shell::quote(&r.table),
        shell::quote(&r.chain)
    )
}

/// Delete an nft rule by its handle, never by its text: the capture's handle when it had one
/// (after a listing to check it still names that rule: a reloaded ruleset renumbers), else
/// the listing that shows it.
fn delete_by_handle(r: &RuleRef) -> Vec<String> {
    let chain = nft_chain(r);
    match r.handle {
        Some(h) => vec![
            format!("sudo nft -a list chain {chain}   # check that handle {h} is the rule above"),
            format!("sudo nft delete rule {chain} handle {h}"),
        ],
        None => vec![
            format!("sudo nft -a list chain {chain}"),
            format!(
                "Then delete that rule by the number after `# handle` on its line: sudo nft delete rule {chain} handle followed by the number."
            ),
        ],
    }
}

/// The words after `-D` that delete the rule an iptables-save line (`-A CHAIN ...`) adds: the
/// line split with iptables-restore's own tokenizer, so the shell hands iptables the argv that
/// iptables-restore saw. `None` when the text is not such a line, or when a word holds a
/// control character (no POSIX quoting can show it on a terminal): such a rule is named by
/// its number instead.
fn delete_spec(rule: &str) -> Option<Vec<String>> {
    let mut words = tokenizer::split(rule).ok()?;
    if words.iter().any(|w| w.contains(char::is_control)) {
        return None;
    }
    match words.first().map(String::as_str) {
        Some("-A" | "--append") if words.len() >= 2 => {
            words.remove(0);
            Some(words)
        }
        _ => None,
    }
}

/// Names of Docker's bridges, for fix commands (docker0 when none is known).
pub fn bridge_names(ctx: &Context) -> Vec<String> {
    let mut v: Vec<String> = ctx.model.bridges.iter().map(|b| b.name.clone()).collect();
    if v.is_empty() {
        v.push("docker0".into());
    }
    v
}

/// How to empty the legacy stack of `families` for good, without locking anyone out: a copy of
/// each family's rules, then per table one line that first sets every built-in chain whose
/// policy is not ACCEPT to ACCEPT and only then (`&&`) flushes the rules and deletes the user
/// chains, so there is never a moment with a DROP policy and its ACCEPT rules gone (INPUT
/// DROP with `-i lo -j ACCEPT` flushed is a remote host lost). When Docker's own rules are in
/// the legacy stack, Docker is restarted last so it re-creates them. Families whose legacy
/// tables hold nothing get no lines.
pub fn flush_legacy(ctx: &Context, families: &[Family]) -> Vec<String> {
    let mut backups = Vec::new();
    let mut flushes = Vec::new();
    for &family in families {
        let cmd = format!("sudo {}", iptables_cmd(Stack::Legacy, family));
        let before = flushes.len();
        let tables = ctx.model.tables.iter();
        for t in tables.filter(|t| t.stack == Stack::Legacy && t.family == family && has_state(t)) {
            let table = format!("{cmd} -t {}", shell::quote(&t.name));
            let mut line: Vec<String> = t
                .chains
                .iter()
                .filter(|c| c.base.as_ref().is_some_and(|b| b.policy != Policy::Accept))
                .map(|c| format!("{table} -P {} ACCEPT", shell::quote(&c.name)))
                .collect();
            line.push(format!("{table} -F"));
            line.push(format!("{table} -X"));
            flushes.push(line.join(" && "));
        }
        if flushes.len() > before {
            let save = iptables_cmd(Stack::Legacy, family);
            // `| sudo tee`: a `sudo ... > FILE` redirect runs as the unprivileged user.
            backups.push(format!(
                "sudo {save}-save | sudo tee /root/{save}.before-fwdoctor >/dev/null   # keep a copy"
            ));
        }
    }
    if flushes.is_empty() {
        return Vec::new();
    }
    let mut steps = backups;
    steps.push("Move what you still need to nf_tables, then flush the legacy tables, one line per table: each sets the table's DROP policies to ACCEPT before it removes the rules, so no chain is left dropping with its ACCEPT rules gone.".into());
    steps.extend(flushes);
    if ctx.docker_stack() == Some(Stack::Legacy) {
        steps.push(format!(
            "{}   # Docker's own rules were in the flushed tables: it re-creates them",
            restart_docker(ctx)
        ));
    }
    steps
}

/// How to make Docker and the rest of the host use one stack, for good.
pub fn align_stacks(ctx: &Context, dropping: &RuleRef) -> Vec<String> {
    let mut steps = Vec::new();
    let docker_stack = ctx.docker_stack();
    match (dropping.stack, docker_stack) {
        (Stack::Legacy, Some(s)) if s.is_nf_tables() => {
            if ctx.model.system_iptables == Some(Stack::Legacy) {
                steps.push(if ctx.model.docker_is_snap() {
                    "This host's `iptables` is legacy, but the Docker snap writes to nf_tables regardless (canonical/docker-snap#138). Either move the host to nf_tables (below), or refresh the snap to a revision that follows the host's alternative (Docker 29 snaps do): `sudo snap refresh docker && sudo snap restart docker`.".into()
                } else {
                    "This host's `iptables` is legacy, but Docker writes to nf_tables: move the host to nf_tables (below) so both agree.".into()
                });
                steps.push(use_alternatives(Stack::IptablesNft));
            }
            steps.push(
                "Find what still writes legacy rules and stop it: an old Docker snap revision, iptables-persistent (/etc/iptables/rules.v4 restored by netfilter-persistent), a firewall script calling iptables-legacy; `update-alternatives --display iptables` must point at iptables-nft."
                    .into(),
            );
            steps.extend(flush_legacy(ctx, &[Family::Ip, Family::Ip6]));
            steps
                .push("A reboot also clears the legacy tables if nothing loads them again.".into());
            if ctx.model.docker_is_snap() {
                steps.push(format!(
                    "{}   # the snap picks its stack when it starts: then run fwdoctor again",
                    restart_docker(ctx)
                ));
            }
        }
        (s, Some(Stack::Legacy)) if s.is_nf_tables() => {
            if ctx.model.docker_is_snap() {
                steps.push("The Docker snap chose iptables-legacy on this host; newer snap revisions follow the host's alternative: `sudo snap refresh docker`, then `sudo snap restart docker`.".into());
            } else {
                steps.push(use_alternatives(Stack::IptablesNft));
            }
            // Flush first, then restart: Docker re-creates its rules wherever it now writes,
            // even if that is still legacy.
            steps.extend(flush_legacy(ctx, &[Family::Ip, Family::Ip6]));
            if dropping.stack == Stack::Nft {
                steps.push(format!(
                    "Or keep Docker where it is and accept Docker's bridges in {} {} {} (edit /etc/nftables.conf, then `sudo systemctl reload nftables`).",
                    dropping.family, dropping.table, dropping.chain
                ));
            }
        }
        (Stack::Nft, _) => {
            steps.push(format!(
                "Add accept rules for Docker's bridges to chain {} in table {} {} in /etc/nftables.conf (e.g. `oifname \"docker0\" accept` and `iifname \"docker0\" accept`), then `sudo systemctl reload nftables`.",
                dropping.chain, dropping.family, dropping.table
            ));
            steps.push("Docker's docs: with nftables, an accept is not final; drops in any base chain on the hook win. Docker 29 offers --bridge-accept-fwmark for this.".into());
        }
        _ => {
            steps.push(format!("Remove the DROP from {} or put an ACCEPT for Docker's traffic before it in the same chain, in the file your firewall loads at boot.", dropping.describe()));
        }
    }
    if ctx.model.ufw.as_ref().is_some_and(|u| u.active) {
        steps.push("ufw is active: set DEFAULT_FORWARD_POLICY=\"ACCEPT\" in /etc/default/ufw, or allow Docker's traffic with `ufw route allow`, then `sudo ufw reload`.".into());
    }
    if ctx.model.firewalld_running == Some(true) {
        steps.push("firewalld is running: make sure its backend (FirewallBackend in /etc/firewalld/firewalld.conf) matches Docker's, then `sudo firewall-cmd --reload` and restart Docker.".into());
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Bridge, FirewalldZone, Model};

    #[test]
    fn firewalld_fixes_are_firewall_cmd_runtime_then_permanent_and_quoted() {
        let m = Model {
            bridges: vec![Bridge {
                name: "br-$(id)".into(),
                subnets: Vec::new(),
            }],
            firewalld_zones: Some(vec![FirewalldZone {
                name: "docker".into(),
                target: "ACCEPT".into(),
                ..FirewalldZone::default()
            }]),
            ..Model::default()
        };
        let ctx = Context::new(&m);
        let port = FirewalldPort {
            proto: "tcp",
            host_port: 8080,
            container: Some(("172.17.0.2".parse().unwrap(), 80)),
        };
        let spec = "--add-forward-port=port=8080:proto=tcp:toport=80:toaddr=172.17.0.2";
        let (now, lasting) = firewalld_fix(&ctx, "filter_FORWARD_dnat", &port);
        assert_eq!(now, [format!("sudo firewall-cmd {spec}")]);
        assert_eq!(lasting[0], format!("sudo firewall-cmd --permanent {spec}"));
        assert!(lasting[1].contains("StrictForwardPorts=no"));

        let (now, lasting) = firewalld_fix(&ctx, "filter_IN_public", &port);
        assert_eq!(now, ["sudo firewall-cmd --add-port=8080/tcp"]);
        assert_eq!(
            lasting,
            ["sudo firewall-cmd --permanent --add-port=8080/tcp"]
        );

        // A bridge name from the evidence is one quoted word.
        let (now, lasting) = firewalld_fix(&ctx, "filter_FWD_public", &port);
        assert_eq!(
            now,
            ["sudo firewall-cmd --zone=docker '--add-interface=br-$(id)'"]
        );
        assert_eq!(
            lasting[0],
            "sudo firewall-cmd --permanent --zone=docker '--add-interface=br-$(id)'"
        );
        assert!(lasting[1].contains("--new-policy=docker-forwarding"));
        assert!(lasting[2].starts_with("sudo systemctl restart docker"));

        // No docker zone at all (Docker started before firewalld): restart Docker.
        let no_zone = Model {
            firewalld_zones: Some(vec![FirewalldZone {
                name: "public".into(),
                ..FirewalldZone::default()
            }]),
            ..m.clone()
        };
        let ctx2 = Context::new(&no_zone);
        let (now, lasting) = firewalld_docker_zone(&ctx2, &["docker0".into()]);
        assert_eq!(now, ["sudo systemctl restart docker"]);
        assert!(lasting.is_empty());

        let odd = FirewalldPort {
            proto: "tcp;reboot",
            host_port: 8080,
            container: None,
        };
        let (now, _) = firewalld_fix(&ctx, "filter_INPUT", &odd);
        assert_eq!(now, ["sudo firewall-cmd '--add-port=8080/tcp;reboot'"]);
        assert_eq!(FirewalldDrop::of("filter_PREROUTING"), FirewalldDrop::Other);
        assert!(is_firewalld(Stack::Nft, "firewalld"));
        assert!(!is_firewalld(Stack::IptablesNft, "firewalld"));
    }

    fn rule(stack: Stack, table: &str, chain: &str, rule: &str, handle: Option<u64>) -> RuleRef {
        RuleRef {
            stack,
            family: Family::Ip,
            table: table.into(),
            chain: chain.into(),
            rule: rule.into(),
            source: "test".into(),
            line: 1,
            handle,
        }
    }

    #[test]
    fn an_iptables_rule_is_deleted_with_its_words_decoded_then_shell_quoted() {
        let r = rule(
            Stack::IptablesNft,
            "filter",
            "DOCKER-USER",
            r#"-A DOCKER-USER ! -s 10.0.0.0/8 -m comment --comment "it's \"$(id)\"" -j DROP"#,
            None,
        );
        assert_eq!(
            undo(&r, &[]),
            [
                r#"sudo iptables-nft -t filter -D DOCKER-USER '!' -s 10.0.0.0/8 -m comment --comment 'it'\''s "$(id)"' -j DROP"#
            ]
        );
        let p = rule(Stack::Legacy, "filter", "FORWARD", "policy DROP", None);
        assert_eq!(
            undo(&p, &[]),
            ["sudo iptables-legacy -t filter -P FORWARD ACCEPT"]
        );
    }

    #[test]
    fn rules_without_iptables_text_are_named_by_handle_or_number() {
        let nft = rule(Stack::Nft, "my fw", "fwd", "ip saddr 1.2.3.4 drop", Some(7));
        assert_eq!(
            undo(&nft, &[])[1],
            "sudo nft delete rule ip 'my fw' fwd handle 7"
        );
        let from_json = rule(
            Stack::IptablesNft,
            "filter",
            "FORWARD",
            "xt match \"comment\" drop",
            Some(9),
        );
        assert_eq!(
            undo(&from_json, &[])[1],
            "sudo nft delete rule ip filter FORWARD handle 9"
        );
        let escape = rule(
            Stack::Legacy,
            "filter",
            "FORWARD",
            "-A FORWARD -m comment --comment \"\x1b]0;owned\x07\" -j DROP",
            None,
        );
        assert_eq!(
            undo(&escape, &[]),
            [
                "sudo iptables-legacy -t filter -L FORWARD --line-numbers",
                "Then delete that rule by the number the listing shows in front of it: sudo iptables-legacy -t filter -D FORWARD followed by the number."
            ]
        );
        let no_handle = rule(
            Stack::IptablesNft,
            "filter",
            "FORWARD",
            "counter drop",
            None,
        );
        assert!(
            undo(&no_handle, &[])[1]
                .ends_with("sudo iptables-nft -t filter -D FORWARD followed by the number.")
        );
        let policy = rule(Stack::Nft, "filter", "forward", "policy drop", None);
        assert_eq!(
            undo(&policy, &["br-x".into()])[0],
            r#"sudo nft insert rule ip filter forward oifname '"br-x"' accept"#
        );
    }
}
