//! The PROXY protocol (HAProxy's, versions 1 and 2): the header a load balancer sends before
//! the miner's own bytes, naming the miner's real address.
//!
//! [`parse_proxy_header`] is pure and says how many more bytes it needs at the least, so a
//! reader can fetch exactly the header and leave the miner's first line in the socket.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The longest version 1 header, CRLF included (the specification's figure).
const V1_MAX: usize = 107;
/// The shortest version 1 header: `PROXY UNKNOWN\r\n`.
const V1_MIN: usize = 15;
/// The fixed part of a version 2 header: signature, version/command, family, length.
const V2_FIXED: usize = 16;
/// The version 2 signature.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The largest address block (and TLVs) a version 2 header may carry here: the
/// specification allows 64 KiB, but none of the addresses needs more than 216 bytes.
const V2_MAX_PAYLOAD: usize = 1024;

/// Why a PROXY header was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProxyError {
    /// The connection does not start with a PROXY header at all.
    #[error("the connection did not start with a PROXY protocol header")]
    Missing,
    /// The header is there but malformed.
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(&'static str),
    /// The connection failed or closed before the header was complete.
    #[error("connection ended inside the PROXY protocol header")]
    Truncated,
}

/// The state of a PROXY header read so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyParse {
    /// More bytes are needed: read at least (and, to stay within the header, exactly)
    /// this many before parsing again.
    Incomplete {
        /// Bytes still needed at the least.
        at_least: usize,
    },
    /// A whole header of `consumed` bytes.
    Done {
        /// The miner's address; `None` for `UNKNOWN` (v1) and `LOCAL` or unspecified
        /// families (v2), where the connection's own peer address stands.
        source: Option<SocketAddr>,
        /// The header's length in bytes.
        consumed: usize,
    },
}

/// Parses the PROXY header at the start of `buf` (v1 text or v2 binary).
pub fn parse_proxy_header(buf: &[u8]) -> Result<ProxyParse, ProxyError> {
    if buf.len() < V1_MIN {
        check_prefix(buf)?;
        return Ok(ProxyParse::Incomplete {
            at_least: V1_MIN - buf.len(),
        });
    }
    if buf.starts_with(b"PROXY ") {
        parse_v1(buf)
    } else if buf.starts_with(&V2_SIGNATURE) {
        parse_v2(buf)
    } else {
        Err(ProxyError::Missing)
    }
}

/// Refuses early what can be neither header, so a plain miner is told at once.
fn check_prefix(buf: &[u8]) -> Result<(), ProxyError> {
    let n = buf.len().min(6);
    if b"PROXY "[..n] == buf[..n] || V2_SIGNATURE[..n] == buf[..n] {
        Ok(())
    } else {
        Err(ProxyError::Missing)
    }
}

/// Reads exactly the PROXY header from `stream`, leaving the miner's bytes after it unread.
/// Returns the miner's address, or `None` where the header names none.
pub(crate) async fn read_proxy_header<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<Option<SocketAddr>, ProxyError> {
    let mut buf = Vec::with_capacity(V1_MAX);
    loop {
        match parse_proxy_header(&buf)? {
            ProxyParse::Incomplete { at_least } => {
                let have = buf.len();
                buf.resize(have + at_least, 0);
                stream
                    .read_exact(&mut buf[have..])
                    .await
                    .map_err(|_| ProxyError::Truncated)?;
            }
            ProxyParse::Done { source, .. } => return Ok(source),
        }
    }
}

fn parse_v1(buf: &[u8]) -> Result<ProxyParse, ProxyError> {
    let Some(end) = buf.windows(2).position(|pair| pair == b"\r\n") else {
        if buf.len() >= V1_MAX {
            return Err(ProxyError::Malformed(
                "version 1 header longer than 107 bytes",
            ));
        }
        // The end is unknown, so one byte at a time keeps the reader inside the header.
        return Ok(ProxyParse::Incomplete { at_least: 1 });
    };
    let consumed = end + 2;
    let text = std::str::from_utf8(&buf[..end])
        .map_err(|_| ProxyError::Malformed("version 1 header is not ASCII"))?;
    let fields: Vec<&str> = text.split(' ').collect();
    let source = match fields[..] {
        ["PROXY", "UNKNOWN", ..] => None,
        [
            "PROXY",
            family @ ("TCP4" | "TCP6"),
            source,
            _destination,
            source_port,
            _dport,
        ] => {
            let ip: IpAddr = source
                .parse()
                .map_err(|_| ProxyError::Malformed("version 1 source address"))?;
            if ip.is_ipv4() != (family == "TCP4") {
                return Err(ProxyError::Malformed(
                    "version 1 address does not match its family",
                ));
            }
            let port: u16 = source_port
                .parse()
                .map_err(|_| ProxyError::Malformed("version 1 source port"))?;
            Some(SocketAddr::new(ip, port))
        }
        _ => return Err(ProxyError::Malformed("version 1 fields")),
    };
    Ok(ProxyParse::Done { source, consumed })
}

fn parse_v2(buf: &[u8]) -> Result<ProxyParse, ProxyError> {
    if buf.len() < V2_FIXED {
        return Ok(ProxyParse::Incomplete {
            at_least: V2_FIXED - buf.len(),
        });
    }
    if buf[..12] != V2_SIGNATURE {
        return Err(ProxyError::Missing);
    }
    let (version, command) = (buf[12] >> 4, buf[12] & 0x0f);
    if version != 2 {
        return Err(ProxyError::Malformed(
            "version 2 signature with another version",
        ));
    }
    let length = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if length > V2_MAX_PAYLOAD {
        return Err(ProxyError::Malformed("version 2 address block too long"));
    }
    let consumed = V2_FIXED + length;
    if buf.len() < consumed {
        return Ok(ProxyParse::Incomplete {
            at_least: consumed - buf.len(),
        });
    }
    let payload = &buf[V2_FIXED..consumed];
    let source = match (command, buf[13]) {
        // LOCAL: the proxy's own connection (a health check); the peer stands.
        (0, _) => None,
        // PROXY over TCP or UDP, IPv4.
        (1, 0x11 | 0x12) => {
            let a = payload
                .get(..12)
                .ok_or(ProxyError::Malformed("version 2 IPv4 block too short"))?;
            let ip = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
            Some(SocketAddr::new(ip.into(), u16::from_be_bytes([a[8], a[9]])))
        }
        // PROXY over TCP or UDP, IPv6.
        (1, 0x21 | 0x22) => {
            let a = payload
                .get(..36)
                .ok_or(ProxyError::Malformed("version 2 IPv6 block too short"))?;
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&a[..16]);
            let ip = Ipv6Addr::from(octets);
            Some(SocketAddr::new(
                ip.into(),
                u16::from_be_bytes([a[32], a[33]]),
            ))
        }
        // Unspecified or UNIX families carry no IP address.
        (1, _) => None,
        _ => return Err(ProxyError::Malformed("version 2 command")),
    };
    Ok(ProxyParse::Done { source, consumed })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `header` as a reader would, `at_least` bytes at a time, and checks it never
    /// asks for a byte past the header's end.
    fn read_like_a_socket(stream: &[u8]) -> Result<(Option<SocketAddr>, usize), ProxyError> {
        let mut have = 0;
        loop {
            match parse_proxy_header(&stream[..have])? {
                ProxyParse::Incomplete { at_least } => {
                    have += at_least;
                    assert!(have <= stream.len(), "asked past the end of the stream");
                }
                ProxyParse::Done { source, consumed } => {
                    assert_eq!(consumed, have, "read more than the header");
                    return Ok((source, consumed));
                }
            }
        }
    }

    #[test]
    fn version_1_tcp4_and_tcp6_give_the_source_address() {
        let v4 = b"PROXY TCP4 203.0.113.7 10.0.0.1 56324 3333\r\n{\"id\":1}";
        assert_eq!(
            read_like_a_socket(v4),
            Ok((Some("203.0.113.7:56324".parse().unwrap()), 44))
        );
        let v6 = b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 3333\r\n";
        assert_eq!(
            read_like_a_socket(v6),
            Ok((Some("[2001:db8::1]:4000".parse().unwrap()), v6.len()))
        );
        let unknown = b"PROXY UNKNOWN\r\n";
        assert_eq!(read_like_a_socket(unknown), Ok((None, 15)));
    }

    #[test]
    fn version_2_ipv4_ipv6_and_local_are_read_exactly() {
        let mut v4 = V2_SIGNATURE.to_vec();
        v4.extend([
            0x21, 0x11, 0, 12, 198, 51, 100, 9, 10, 0, 0, 1, 0x1f, 0x90, 0x0d, 0x05,
        ]);
        v4.extend(b"{\"id\":1}");
        assert_eq!(
            read_like_a_socket(&v4),
            Ok((Some("198.51.100.9:8080".parse().unwrap()), 28))
        );

        let mut v6 = V2_SIGNATURE.to_vec();
        v6.extend([0x21, 0x21, 0, 36 + 3]);
        let source: Ipv6Addr = "2001:db8::9".parse().unwrap();
        v6.extend(source.octets());
        v6.extend([0u8; 16]);
        v6.extend([0x00, 0x50, 0x0d, 0x05]);
        v6.extend([0x04, 0x00, 0x00]); // a NOOP TLV, skipped
        assert_eq!(
            read_like_a_socket(&v6),
            Ok((Some("[2001:db8::9]:80".parse().unwrap()), v6.len()))
        );

        let mut local = V2_SIGNATURE.to_vec();
        local.extend([0x20, 0x00, 0, 0]);
        assert_eq!(read_like_a_socket(&local), Ok((None, 16)));
    }

    #[test]
    fn a_plain_miner_or_a_broken_header_is_refused() {
        assert_eq!(parse_proxy_header(b"{\"id\":1,"), Err(ProxyError::Missing));
        assert!(matches!(
            parse_proxy_header(b"PROXY TCP4 999.0.0.1 10.0.0.1 1 2\r\n"),
            Err(ProxyError::Malformed(_))
        ));
        assert!(matches!(
            parse_proxy_header(b"PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n"),
            Err(ProxyError::Malformed(_))
        ));
        let long = [b"PROXY TCP4 ".as_slice(), &[b'1'; 120]].concat();
        assert!(matches!(
            parse_proxy_header(&long),
            Err(ProxyError::Malformed(_))
        ));
        let mut v3 = V2_SIGNATURE.to_vec();
        v3.extend([0x31, 0x11, 0, 12]);
        assert!(matches!(
            parse_proxy_header(&v3),
            Err(ProxyError::Malformed(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_never_reads_past_what_it_was_given(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            if let Ok(ProxyParse::Done { consumed, .. }) = parse_proxy_header(&bytes) {
                proptest::prop_assert!(consumed <= bytes.len());
            }
        }
    }
}
