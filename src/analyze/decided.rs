//! Matches the model does not understand that the packet's family or protocol still decide.
//!
//! A match kept as [`crate::model::Match::Unknown`] is normally `unknown` to the trace engine.
//! Some of them can never hold for the packet being traced, whatever their details, because
//! they test a header the packet does not have or a family/protocol it is not. These are
//! decided **false** (the rule does not apply), not unknown:
//!
//! | match (nft text / iptables text)                                  | false when the packet is |
//! |-------------------------------------------------------------------|--------------------------|
//! | a header match `icmp …`, `icmpv6 …`, `tcp …`, `udp …`, `udplite …`, `sctp …`, `dccp …`, `esp …`, `ah …`, `comp …`, `igmp …` (any operator: nft adds the protocol dependency itself) | not of that protocol (`icmp`/`igmp` also: not IPv4; `icmpv6`: not IPv6) |
//! | `th …` (transport header)                                          | not tcp/udp/udplite/sctp/dccp |
//! | `ip …` (an IPv4 header field: `ip saddr`, `ip protocol`, `ip dscp` …) | IPv6 |
//! | `ip6 …` (an IPv6 header field)                                     | IPv4 |
//! | `meta l4proto X` / `meta l4proto { X, Y }` (not `!=`)              | none of those protocols |
//! | `meta nfproto ipv4\|ipv6`, `meta protocol ip\|ip6` (not `!=`)       | the other family |
//! | iptables `-m tcp`, `-m udp`, `-m icmp`, `-m icmp6`, `-m sctp`, `-m dccp`, `-m udplite` with options the model does not read | not of that protocol (`-m icmp`: not IPv4; `-m icmp6`: not IPv6) |
//! | an IPv6 extension header: iptables `-m rt`, `-m frag`, `-m hbh`, `-m dst` (negated options too: the kernel's match is false when the header is absent), nft `rt type|hdrlength|seg-left …`, `frag …`, `hbh …`, `dst …` (not `exists`/`missing`) | any traced packet: it carries no extension header (ufw's `-m rt --rt-type 0 -j DROP` never drops a connection) |
//!
//! Everything else stays unknown, apart from TCP flags ([`tcp_flags`]): a traced connection
//! is its first packet, a SYN (new) or the SYN-ACK that answers it (the reply), so
//! `--syn`, `--tcp-flags MASK COMP` and nft's `tcp flags & (MASK) == COMP` are decided.

use crate::model::{CtState, Family};

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;
const URG: u8 = 0x20;

fn flag_bits(list: &str) -> Option<u8> {
    let mut bits = 0;
    for f in list
        .split([',', '|'])
        .map(str::trim)
        .filter(|f| !f.is_empty())
    {
        bits |= match f.to_ascii_uppercase().as_str() {
            "FIN" => FIN,
            "SYN" => SYN,
            "RST" => RST,
            "PSH" => PSH,
            "ACK" => ACK,
            "URG" => URG,
            "ALL" => FIN | SYN | RST | PSH | ACK | URG,
            "NONE" => 0,
            _ => return None,
        };
    }
    Some(bits)
}

/// Whether a TCP-flags match holds for the traced packet: the SYN of a new connection, or the
/// SYN-ACK of its reply. None when `text` is not only a flags test, or the packet is neither.
/// `-m tcp --tcp-flags FIN,SYN,RST,ACK SYN` (ufw-docker's recipe), `-m tcp --syn`,
/// `tcp flags & (fin | syn | rst | ack) == syn`, `tcp flags syn`.
pub fn tcp_flags(text: &str, proto: &str, state: CtState) -> Option<bool> {
    if !proto.eq_ignore_ascii_case("tcp") {
        return None;
    }
    let packet = match state {
        CtState::New => SYN,
        CtState::Established => SYN | ACK,
        _ => return None,
    };
    let words: Vec<&str> = text.split_whitespace().collect();
    let (negated, mask, comp) = match words.as_slice() {
        ["-m", "tcp", "--syn"] => (false, FIN | SYN | RST | ACK, SYN),
        ["-m", "tcp", "!", "--syn"] => (true, FIN | SYN | RST | ACK, SYN),
        ["-m", "tcp", "--tcp-flags", mask, comp] => (false, flag_bits(mask)?, flag_bits(comp)?),
        ["-m", "tcp", "!", "--tcp-flags", mask, comp] => (true, flag_bits(mask)?, flag_bits(comp)?),
        ["tcp", "flags", rest @ ..] => {
            let rest = rest.join(" ");
            let (negated, mask, comp) = if let Some(r) = rest.strip_prefix('&') {
                let (mask, comp) = r.split_once("==").or_else(|| r.split_once("!="))?;
                let negated = r.contains("!=");
                let mask = mask.trim().trim_start_matches('(').trim_end_matches(')');
                (negated, flag_bits(mask)?, flag_bits(comp)?)
            } else {
                // `tcp flags syn`: the flag is set; `tcp flags == syn`: exactly it.
                match rest.strip_prefix("==") {
                    Some(c) => (false, 0x3f, flag_bits(c)?),
                    None => {
                        let f = flag_bits(&rest)?;
                        return Some(packet & f != 0);
                    }
                }
            };
            (negated, mask, comp)
        }
        _ => return None,
    };
    Some((packet & mask == comp) != negated)
}

/// True when the match `text` (an unmodelled match's original text) cannot hold for a packet
/// of `family` (`Ip` or `Ip6`) and transport protocol `proto` (`tcp`, `udp`, …).
pub fn cannot_apply(text: &str, family: Family, proto: &str) -> bool {
    let proto = proto.to_ascii_lowercase();
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some(&first) = words.first() else {
        return false;
    };
    if first == "-m" {
        return words
            .get(1)
            .is_some_and(|m| module_excludes(m, family, &proto));
    }
    match first {
        "ip" => family == Family::Ip6,
        "ip6" => family == Family::Ip,
        "th" => !matches!(proto.as_str(), "tcp" | "udp" | "udplite" | "sctp" | "dccp"),
        "meta" => meta_excludes(&words[1..], family, &proto),
        // `rt classid|nexthop|mtu|ipsec` is the routing *lookup*, not the header.
        "rt" => matches!(words.get(1), Some(&("type" | "hdrlength" | "seg-left"))),
        "frag" | "hbh" | "dst" => !words.iter().any(|w| matches!(*w, "exists" | "missing")),
        header => header_excludes(header, family, &proto),
    }
}

/// A header keyword that implies its protocol (and for ICMP, the family).
fn header_excludes(header: &str, family: Family, proto: &str) -> bool {
    match header {
        "icmp" | "igmp" => family == Family::Ip6 || proto != header,
        "icmpv6" => family == Family::Ip || !is_icmpv6(proto),
        "tcp" | "udp" | "udplite" | "sctp" | "dccp" | "esp" | "ah" | "comp" => proto != header,
        _ => false,
    }
}

fn module_excludes(module: &str, family: Family, proto: &str) -> bool {
    match module {
        "icmp" => family == Family::Ip6 || proto != "icmp",
        "icmp6" => family == Family::Ip || !is_icmpv6(proto),
        "tcp" | "udp" | "udplite" | "sctp" | "dccp" => proto != module,
        "rt" | "frag" | "hbh" | "dst" => true,
        _ => false,
    }
}

fn is_icmpv6(proto: &str) -> bool {
    matches!(proto, "icmpv6" | "ipv6-icmp" | "icmp6" | "58")
}

/// `meta l4proto …`, `meta nfproto …`, `meta protocol …` with `==` (or no operator).
fn meta_excludes(words: &[&str], family: Family, proto: &str) -> bool {
    let Some((&key, rest)) = words.split_first() else {
        return false;
    };
    let rest = match rest.first() {
        Some(&"==") => &rest[1..],
        Some(&op) if op.starts_with('!') || op.starts_with('<') || op.starts_with('>') => {
            return false;
        }
        _ => rest,
    };
    let values: Vec<&str> = rest
        .iter()
        .flat_map(|w| w.split(','))
        .map(|w| w.trim_matches(|c| c == '{' || c == '}'))
        .filter(|w| !w.is_empty())
        .collect();
    if values.is_empty() {
        return false;
    }
    match key {
        "l4proto" => {
            let known = |v: &str| {
                matches!(
                    v,
                    "tcp" | "udp" | "icmp" | "icmpv6" | "ipv6-icmp" | "sctp" | "udplite" | "dccp"
                ) || v.parse::<u8>().is_ok()
            };
            values.iter().all(|v| known(v)) && !values.iter().any(|v| same_l4proto(v, proto))
        }
        "nfproto" | "protocol" => {
            let fam = |v: &str| match v {
                "ipv4" | "ip" => Some(Family::Ip),
                "ipv6" | "ip6" => Some(Family::Ip6),
                _ => None,
            };
            values.iter().all(|v| fam(v).is_some())
                && !values.iter().any(|v| fam(v) == Some(family))
        }
        _ => false,
    }
}

fn same_l4proto(v: &str, proto: &str) -> bool {
    let number = |p: &str| match p {
        "icmp" => Some(1),
        "tcp" => Some(6),
        "udp" => Some(17),
        "dccp" => Some(33),
        "icmpv6" | "ipv6-icmp" | "icmp6" => Some(58),
        "sctp" => Some(132),
        "udplite" => Some(136),
        n => n.parse::<u8>().ok(),
    };
    v == proto || (number(v).is_some() && number(v) == number(proto))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Family::{Ip, Ip6};

    #[test]
    fn icmpv6_never_matches_ipv4_tcp() {
        // firewalld 1.3's filter_PREROUTING rule, as `nft -j` renders it.
        assert!(cannot_apply(
            "icmpv6 type { nd-router-advert, nd-neighbor-solicit }",
            Ip,
            "tcp"
        ));
        assert!(cannot_apply("icmpv6 type nd-router-advert", Ip6, "tcp"));
        // An ICMPv6 packet on IPv6: the type decides, which the model does not read.
        assert!(!cannot_apply("icmpv6 type nd-router-advert", Ip6, "icmpv6"));
    }

    #[test]
    fn headers_of_another_protocol_do_not_apply() {
        assert!(cannot_apply("icmp type echo-request", Ip, "tcp"));
        assert!(cannot_apply("icmp type echo-request", Ip6, "icmp"));
        assert!(!cannot_apply("icmp type echo-request", Ip, "icmp"));
        assert!(cannot_apply("udp checksum 0", Ip, "tcp"));
        assert!(!cannot_apply("tcp flags & (syn | ack) == syn", Ip, "tcp"));
        assert!(cannot_apply("tcp flags & (syn | ack) == syn", Ip, "udp"));
        assert!(cannot_apply("th dport 53", Ip, "icmp"));
        assert!(!cannot_apply("th dport 53", Ip, "udp"));
    }

    #[test]
    fn family_headers_decide_by_family() {
        assert!(cannot_apply("ip6 saddr fe80::/64", Ip, "tcp"));
        assert!(!cannot_apply("ip6 saddr fe80::/64", Ip6, "tcp"));
        assert!(cannot_apply("ip dscp cs1", Ip6, "tcp"));
        assert!(!cannot_apply("ip dscp cs1", Ip, "tcp"));
    }

    #[test]
    fn ipv6_extension_headers_are_absent_from_a_traced_packet() {
        // ufw's before6.rules.
        assert!(cannot_apply("-m rt --rt-type 0 -j DROP", Ip6, "tcp"));
        assert!(cannot_apply("-m frag --fragid 0 ! --fraglast", Ip6, "udp"));
        assert!(cannot_apply("rt type 0", Ip6, "tcp"));
        // Testing for the header's absence is true for our packet: not decided false.
        assert!(!cannot_apply("exthdr rt missing", Ip6, "tcp"));
        assert!(!cannot_apply("rt ip6 nexthop fe80::1", Ip6, "tcp"));
    }

    #[test]
    fn tcp_flags_are_decided_for_the_syn_and_its_syn_ack() {
        let recipe = "-m tcp --tcp-flags FIN,SYN,RST,ACK SYN";
        assert_eq!(tcp_flags(recipe, "tcp", CtState::New), Some(true));
        assert_eq!(tcp_flags(recipe, "tcp", CtState::Established), Some(false));
        assert_eq!(
            tcp_flags("-m tcp ! --syn", "tcp", CtState::New),
            Some(false)
        );
        assert_eq!(
            tcp_flags(
                "tcp flags & (fin | syn | rst | ack) == syn",
                "tcp",
                CtState::New
            ),
            Some(true)
        );
        assert_eq!(
            tcp_flags(
                "tcp flags & (syn | ack) == syn | ack",
                "tcp",
                CtState::Established
            ),
            Some(true)
        );
        // Other options beside the flags, or another protocol: not decided here.
        assert_eq!(
            tcp_flags(
                "-m tcp --tcp-flags SYN SYN --tcp-option 2",
                "tcp",
                CtState::New
            ),
            None
        );
        assert_eq!(tcp_flags(recipe, "udp", CtState::New), None);
        assert_eq!(tcp_flags(recipe, "tcp", CtState::Related), None);
    }

    #[test]
    fn meta_l4proto_and_nfproto() {
        assert!(cannot_apply("meta l4proto udp", Ip, "tcp"));
        assert!(cannot_apply("meta l4proto { udp, icmp }", Ip, "tcp"));
        assert!(!cannot_apply("meta l4proto { udp, tcp }", Ip, "tcp"));
        assert!(!cannot_apply("meta l4proto 6", Ip, "tcp"));
        assert!(cannot_apply("meta l4proto 17", Ip, "tcp"));
        // Negated: a tcp packet may well satisfy `!= udp`; not decided here.
        assert!(!cannot_apply("meta l4proto != udp", Ip, "tcp"));
        assert!(cannot_apply("meta nfproto ipv6", Ip, "tcp"));
        assert!(!cannot_apply("meta nfproto ipv4", Ip, "tcp"));
        assert!(cannot_apply("meta protocol ip6", Ip, "udp"));
        // A value the table does not know stays unknown.
        assert!(!cannot_apply("meta l4proto @protos", Ip, "tcp"));
    }

    #[test]
    fn iptables_modules_imply_their_protocol() {
        assert!(cannot_apply("-m icmp6 --icmpv6-type 134", Ip6, "tcp"));
        assert!(cannot_apply("-m icmp --icmp-type 8", Ip, "udp"));
        assert!(cannot_apply(
            "-m udp --sport 53 --dport 1024:65535",
            Ip,
            "tcp"
        ));
        assert!(!cannot_apply(
            "-m tcp --tcp-flags FIN,SYN,RST,ACK SYN",
            Ip,
            "tcp"
        ));
        // Modules that test other things stay unknown.
        assert!(!cannot_apply(
            "-m set --match-set docker-ext-bridges-v4 dst",
            Ip,
            "tcp"
        ));
        assert!(!cannot_apply("-m mark --mark 0x40000/0xff0000", Ip, "tcp"));
        assert!(!cannot_apply("xt match \"set\"", Ip, "tcp"));
        assert!(!cannot_apply("", Ip, "tcp"));
    }
}
