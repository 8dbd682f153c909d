//! Which addresses Herald may contact: the SSRF guard's decisions, as pure functions.
//!
//! Only this module decides. The production policy allows globally routable unicast addresses
//! only: loopback, private, link-local, CGNAT, unspecified, broadcast, multicast, documentation,
//! benchmarking and reserved ranges are refused, for IPv4 and IPv6 — including IPv6 forms that
//! embed an IPv4 address (IPv4-mapped, IPv4-compatible, 6to4, NAT64), which are judged by the
//! address they embed. An operator allow-list of CIDRs is always reachable; the development
//! policy reaches everything (and allows `http://`).
//!
//! Nothing here opens a connection: the dispatcher resolves names, asks [`Policy::check`] about
//! every address, and connects only to the ones allowed.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an address is not globally reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Unspecified,
    ThisNetwork,
    Loopback,
    Private,
    Cgnat,
    LinkLocal,
    Multicast,
    Broadcast,
    Documentation,
    Benchmarking,
    Reserved,
    ProtocolAssignments,
    UniqueLocal,
    SiteLocal,
    Discard,
    Teredo,
    Orchid,
}

impl Range {
    /// The indefinite article that goes before the range's name.
    pub fn article(&self) -> &'static str {
        match self {
            Range::Unspecified | Range::ProtocolAssignments | Range::Orchid => "an",
            _ => "a",
        }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Range::Unspecified => "unspecified",
            Range::ThisNetwork => "\"this network\"",
            Range::Loopback => "loopback",
            Range::Private => "private",
            Range::Cgnat => "carrier-grade NAT",
            Range::LinkLocal => "link-local",
            Range::Multicast => "multicast",
            Range::Broadcast => "broadcast",
            Range::Documentation => "documentation",
            Range::Benchmarking => "benchmarking",
            Range::Reserved => "reserved",
            Range::ProtocolAssignments => "IETF protocol assignments",
            Range::UniqueLocal => "unique-local",
            Range::SiteLocal => "site-local",
            Range::Discard => "discard-only",
            Range::Teredo => "Teredo",
            Range::Orchid => "ORCHID",
        })
    }
}

fn in4(ip: Ipv4Addr, net: [u8; 4], bits: u32) -> bool {
    let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn in6(ip: Ipv6Addr, net: Ipv6Addr, bits: u32) -> bool {
    let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
    (u128::from(ip) & mask) == (u128::from(net) & mask)
}

/// The special range an IPv4 address belongs to, if any.
pub fn classify_v4(ip: Ipv4Addr) -> Option<Range> {
    let table: &[([u8; 4], u32, Range)] = &[
        ([0, 0, 0, 0], 32, Range::Unspecified),
        ([0, 0, 0, 0], 8, Range::ThisNetwork),
        ([10, 0, 0, 0], 8, Range::Private),
        ([100, 64, 0, 0], 10, Range::Cgnat),
        ([127, 0, 0, 0], 8, Range::Loopback),
        ([169, 254, 0, 0], 16, Range::LinkLocal),
        ([172, 16, 0, 0], 12, Range::Private),
        ([192, 0, 0, 0], 24, Range::ProtocolAssignments),
        ([192, 0, 2, 0], 24, Range::Documentation),
        ([192, 88, 99, 0], 24, Range::Reserved),
        ([192, 168, 0, 0], 16, Range::Private),
        ([198, 18, 0, 0], 15, Range::Benchmarking),
        ([198, 51, 100, 0], 24, Range::Documentation),
        ([203, 0, 113, 0], 24, Range::Documentation),
        ([224, 0, 0, 0], 4, Range::Multicast),
        ([255, 255, 255, 255], 32, Range::Broadcast),
        ([240, 0, 0, 0], 4, Range::Reserved),
    ];
    table.iter().find(|(net, bits, _)| in4(ip, *net, *bits)).map(|(_, _, range)| *range)
}

/// The IPv4 address an IPv6 address embeds, for the forms that route to it.
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    let mapped = in6(ip, Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96);
    let compatible = in6(ip, Ipv6Addr::UNSPECIFIED, 96) && u128::from(ip) > 1;
    let nat64 = in6(ip, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96);
    let nat64_local = in6(ip, Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48);
    if mapped || compatible || nat64 || nat64_local {
        return Some(low);
    }
    if in6(ip, Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        // 6to4: 2002:AABB:CCDD::/48 embeds AA.BB.CC.DD.
        return Some(Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8));
    }
    None
}

/// The special range an IPv6 address belongs to, if any (embedded IPv4 judged by its own range).
pub fn classify_v6(ip: Ipv6Addr) -> Option<Range> {
    if ip.is_unspecified() {
        return Some(Range::Unspecified);
    }
    if ip.is_loopback() {
        return Some(Range::Loopback);
    }
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    let table: &[(Ipv6Addr, u32, Range)] = &[
        (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64, Range::Discard),
        (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32, Range::Teredo),
        (Ipv6Addr::new(0x2001, 0x2, 0, 0, 0, 0, 0, 0), 48, Range::Benchmarking),
        (Ipv6Addr::new(0x2001, 0x10, 0, 0, 0, 0, 0, 0), 28, Range::Orchid),
        (Ipv6Addr::new(0x2001, 0x20, 0, 0, 0, 0, 0, 0), 28, Range::Orchid),
        (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32, Range::Documentation),
        (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20, Range::Documentation),
        (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, Range::UniqueLocal),
        (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, Range::LinkLocal),
        (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, Range::SiteLocal),
        (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, Range::Multicast),
        // Everything outside 2000::/3 (global unicast) is unassigned or special.
    ];
    if let Some((_, _, range)) = table.iter().find(|(net, bits, _)| in6(ip, *net, *bits)) {
        return Some(*range);
    }
    if !in6(ip, Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3) {
        return Some(Range::Reserved);
    }
    None
}

pub fn classify(ip: IpAddr) -> Option<Range> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// An IPv4 or IPv6 network in CIDR notation (`10.0.0.0/8`, `::1/128`, a bare address = /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    bits: u32,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => in4(ip, net.octets(), self.bits),
            (IpAddr::V6(net), IpAddr::V6(ip)) => in6(ip, net, self.bits),
            (IpAddr::V4(_), IpAddr::V6(ip)) => {
                ip.to_ipv4_mapped().is_some_and(|v4| self.contains(IpAddr::V4(v4)))
            }
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let addr: IpAddr =
            addr.trim().parse().map_err(|_| format!("`{s}` is not an IP network like 10.0.0.0/8"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(b) => b
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("`{s}`: bad prefix length"))?,
            None => max,
        };
        Ok(Self { addr, bits })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.bits)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// A refused address or URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Blocked {
    #[error("{0} is {article} {1} address, which the reachability policy does not allow", article = .1.article())]
    Address(IpAddr, Range),
    #[error("only https:// URLs are allowed by the reachability policy")]
    Scheme,
    #[error("{0} is not in the reachability allow-list")]
    NotAllowed(IpAddr),
}

/// What may be contacted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Development: every address and `http://` are allowed.
    pub development: bool,
    /// Allow-list only: nothing outside `allow` is reachable, public addresses included.
    pub only_allowed: bool,
    /// Allow `http://` URLs (production allows only `https://`).
    pub allow_http: bool,
    /// Networks that are always reachable, special or not.
    pub allow: Vec<Cidr>,
}

impl Policy {
    pub fn production() -> Self {
        Self::default()
    }

    pub fn development() -> Self {
        Self { development: true, allow_http: true, ..Self::default() }
    }

    /// Only the listed networks are reachable.
    pub fn allow_list(allow: Vec<Cidr>) -> Self {
        Self { only_allowed: true, allow, ..Self::default() }
    }

    /// Whether a connection to `ip` is allowed.
    pub fn check(&self, ip: IpAddr) -> Result<(), Blocked> {
        if self.development || self.allow.iter().any(|net| net.contains(ip)) {
            return Ok(());
        }
        match classify(ip) {
            None if self.only_allowed => Err(Blocked::NotAllowed(ip)),
            None => Ok(()),
            Some(range) => Err(Blocked::Address(ip, range)),
        }
    }

    /// Whether a URL's scheme is allowed (`https`, or `http` where allowed).
    pub fn check_scheme(&self, scheme: &str) -> Result<(), Blocked> {
        match scheme {
            "https" => Ok(()),
            "http" if self.development || self.allow_http => Ok(()),
            _ => Err(Blocked::Scheme),
        }
    }

    /// What can be checked without resolving: the scheme, and the host when it is an IP literal.
    pub fn check_url(&self, url: &url::Url) -> Result<(), Blocked> {
        self.check_scheme(url.scheme())?;
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.check(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check(IpAddr::V6(ip)),
            _ => Ok(()),
        }
    }

    /// Whether this policy is looser than production (worth a loud log line).
    pub fn is_relaxed(&self) -> bool {
        self.development || self.allow_http || !self.allow.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn refusals_read_as_english() {
        let ip: IpAddr = "0.0.0.0".parse().unwrap();
        assert_eq!(
            Blocked::Address(ip, Range::Unspecified).to_string(),
            "0.0.0.0 is an unspecified address, which the reachability policy does not allow"
        );
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(
            Blocked::Address(ip, Range::Private).to_string().starts_with("10.0.0.1 is a private address")
        );
    }

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn special_ipv4_ranges_are_refused() {
        let p = Policy::production();
        for (ip, range) in [
            ("0.0.0.0", Range::Unspecified),
            ("0.1.2.3", Range::ThisNetwork),
            ("10.1.2.3", Range::Private),
            ("100.64.0.1", Range::Cgnat),
            ("100.127.255.255", Range::Cgnat),
            ("127.0.0.1", Range::Loopback),
            ("127.255.0.9", Range::Loopback),
            ("169.254.169.254", Range::LinkLocal),
            ("172.16.0.1", Range::Private),
            ("172.31.255.255", Range::Private),
            ("192.0.0.8", Range::ProtocolAssignments),
            ("192.0.2.1", Range::Documentation),
            ("192.168.1.1", Range::Private),
            ("198.18.0.1", Range::Benchmarking),
            ("198.19.255.255", Range::Benchmarking),
            ("198.51.100.7", Range::Documentation),
            ("203.0.113.9", Range::Documentation),
            ("224.0.0.1", Range::Multicast),
            ("239.255.255.255", Range::Multicast),
            ("240.0.0.1", Range::Reserved),
            ("255.255.255.255", Range::Broadcast),
        ] {
            assert_eq!(p.check(v4(ip)), Err(Blocked::Address(v4(ip), range)), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "198.20.0.1",
            "223.255.255.254",
        ] {
            assert_eq!(p.check(v4(ip)), Ok(()), "{ip}");
        }
    }

    #[test]
    fn special_ipv6_ranges_and_embedded_ipv4_are_refused() {
        let p = Policy::production();
        for ip in [
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "3fff::1",
            "100::1",
            "2001:2::1",
            "2001:10::1",
            "2001::1",
            // IPv4 embedded in IPv6, judged by the IPv4 address:
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::10.0.0.1",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
            // outside global unicast 2000::/3:
            "4000::1",
            "e000::1",
        ] {
            assert!(p.check(ip.parse().unwrap()).is_err(), "{ip}");
        }
        for ip in [
            "2606:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert_eq!(p.check(ip.parse().unwrap()), Ok(()), "{ip}");
        }
    }

    #[test]
    fn allow_list_development_and_schemes() {
        let mut p = Policy::production();
        assert_eq!(p.check_scheme("http"), Err(Blocked::Scheme));
        assert_eq!(p.check_scheme("https"), Ok(()));
        p.allow = vec!["127.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()];
        assert_eq!(p.check(v4("127.0.0.1")), Ok(()));
        assert_eq!(p.check("::ffff:127.0.0.1".parse().unwrap()), Ok(()), "mapped form of an allowed address");
        assert_eq!(p.check("fd00::5".parse().unwrap()), Ok(()));
        assert!(p.check(v4("10.0.0.1")).is_err(), "only the listed networks");
        assert!(p.is_relaxed());
        assert_eq!(Policy::development().check(v4("10.0.0.1")), Ok(()));
        assert_eq!(Policy::development().check_scheme("http"), Ok(()));
        assert!(!Policy::production().is_relaxed());
        let strict = Policy::allow_list(vec!["127.0.0.0/8".parse().unwrap()]);
        assert_eq!(strict.check(v4("127.0.0.1")), Ok(()));
        assert_eq!(
            strict.check(v4("8.8.8.8")),
            Err(Blocked::NotAllowed(v4("8.8.8.8"))),
            "public, but not listed"
        );
        assert!(strict.check(v4("10.0.0.1")).is_err());
        let url = url::Url::parse("https://[::1]:8443/hook").unwrap();
        assert!(Policy::production().check_url(&url).is_err());
        assert!(Policy::production().check_url(&url::Url::parse("https://example.com/").unwrap()).is_ok());
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
        assert_eq!("10.0.0.0/8".parse::<Cidr>().unwrap().to_string(), "10.0.0.0/8");
    }

    proptest! {
        #[test]
        fn private_and_loopback_v4_always_refused(a in any::<u8>(), b in any::<u8>(), c in any::<u8>()) {
            let p = Policy::production();
            for ip in [Ipv4Addr::new(10, a, b, c), Ipv4Addr::new(127, a, b, c), Ipv4Addr::new(192, 168, b, c),
                       Ipv4Addr::new(172, 16 | (a & 0x0f), b, c), Ipv4Addr::new(169, 254, b, c),
                       Ipv4Addr::new(100, 64 | (a & 0x3f), b, c), Ipv4Addr::new(224 | (a & 0x0f), a, b, c)] {
                prop_assert!(p.check(IpAddr::V4(ip)).is_err(), "{}", ip);
            }
        }

        #[test]
        fn embedded_forms_match_their_ipv4(bits in any::<u32>()) {
            let p = Policy::production();
            let v4 = Ipv4Addr::from(bits);
            let direct = p.check(IpAddr::V4(v4)).is_ok();
            let [a, b, c, d] = v4.octets();
            let mapped = v4.to_ipv6_mapped();
            let nat64 = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
            let six_to_four = Ipv6Addr::new(0x2002, u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]), 0, 0, 0, 0, 1);
            prop_assert_eq!(p.check(IpAddr::V6(mapped)).is_ok(), direct);
            prop_assert_eq!(p.check(IpAddr::V6(nat64)).is_ok(), direct);
            prop_assert_eq!(p.check(IpAddr::V6(six_to_four)).is_ok(), direct);
        }

        #[test]
        fn cidr_contains_what_it_should(bits in any::<u32>(), len in 0u32..=32) {
            let ip = Ipv4Addr::from(bits);
            let cidr: Cidr = format!("{ip}/{len}").parse().unwrap();
            prop_assert!(cidr.contains(IpAddr::V4(ip)));
            if len > 0 {
                let flipped = Ipv4Addr::from(bits ^ (1 << (32 - len)));
                prop_assert!(!cidr.contains(IpAddr::V4(flipped)));
            }
        }
    }
}
