use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::resubscribe::{Ended, keep_subscribed};
use crate::template_source::{TemplateWaker, WakeSource};

/// Protocol version announced in `version` (70015: what Bitcoin Core 0.13+ and Bitcoin SV speak).
const PROTOCOL_VERSION: i32 = 70015;
/// Header of every P2P message: magic, command, payload length, checksum.
const HEADER_LEN: usize = 24;
/// Larger payloads are read and thrown away: this peer never asks for blocks or transactions.
const MAX_KEPT_PAYLOAD: usize = 4 << 20;
/// `inv` entry types announcing a block (plain, witness, compact).
const BLOCK_INV_TYPES: [u32; 3] = [2, 0x4000_0002, 4];

/// Where the P2P peer connects (NOMP's `p2p` section with the coin's `peerMagic`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P2pOptions {
    /// The daemon's host.
    pub host: String,
    /// The daemon's P2P port.
    pub port: u16,
    /// The network magic, in wire order (NOMP's `peerMagic` hex, e.g. `f9beb4d9` for Bitcoin).
    pub magic: [u8; 4],
    /// Ask the daemon to relay transactions (`false` when NOMP's `disableTransactions` is set).
    pub relay_transactions: bool,
}

/// Connects to a daemon as a P2P peer and wakes `waker` with [`WakeSource::P2p`] whenever
/// the daemon announces a block. Answers `ping`s, ignores everything else, and reconnects
/// with backoff (1 s doubling to 30 s) whenever the connection drops, until `cancel`.
pub fn spawn_block_notify(
    options: P2pOptions,
    waker: TemplateWaker,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(
        async move {
            let peer = format!("{}:{}", options.host, options.port);
            keep_subscribed("P2P block notify", &peer, &cancel, || async {
                match session(&options, &waker).await {
                    Ok(ended) => ended,
                    Err(error) => Ended::Unreachable(error),
                }
            })
            .await;
        }
        .in_current_span(),
    )
}

/// One session: how it ended after the handshake (the error that ended it) or before.
async fn session(options: &P2pOptions, waker: &TemplateWaker) -> io::Result<Ended<io::Error>> {
    let mut stream = TcpStream::connect((options.host.as_str(), options.port)).await?;
    stream.set_nodelay(true)?;
    let version = version_payload(options.relay_transactions, unix_time(), nonce());
    stream
        .write_all(&encode(options.magic, "version", &version))
        .await?;
    let mut handshaken = false;
    let mut payload = Vec::new();
    loop {
        let command = match read_message(&mut stream, options.magic, &mut payload).await {
            Ok(command) => command,
            Err(error) if handshaken => return Ok(Ended::Lost(error)),
            Err(error) => return Ok(Ended::Unreachable(error)),
        };
        match command.as_str() {
            "version" => {
                stream
                    .write_all(&encode(options.magic, "verack", &[]))
                    .await?
            }
            "verack" => {
                handshaken = true;
                tracing::info!(peer = %format!("{}:{}", options.host, options.port), "P2P block notify connected");
            }
            "ping" => {
                stream
                    .write_all(&encode(options.magic, "pong", &payload))
                    .await?
            }
            "inv" if announces_block(&payload) => {
                waker.wake(WakeSource::P2p);
            }
            // An unsolicited `headers` message also means a new block.
            "headers" if payload.first().is_some_and(|count| *count > 0) => {
                waker.wake(WakeSource::P2p);
            }
            _ => {}
        }
    }
}

/// Reads one message into `payload` and returns its command. Oversized payloads are
/// drained and left empty.
async fn read_message(
    stream: &mut TcpStream,
    magic: [u8; 4],
    payload: &mut Vec<u8>,
) -> io::Result<String> {
    let mut header = [0u8; HEADER_LEN];
    stream.read_exact(&mut header).await?;
    let (command, length, checksum) = parse_header(&header, magic)?;
    payload.clear();
    if length > MAX_KEPT_PAYLOAD {
        let mut rest = stream.take(length as u64);
        tokio::io::copy(&mut rest, &mut tokio::io::sink()).await?;
        return Ok(command);
    }
    payload.resize(length, 0);
    stream.read_exact(payload).await?;
    if checksum_of(payload) != checksum {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad checksum on {command}"),
        ));
    }
    Ok(command)
}

fn parse_header(header: &[u8; HEADER_LEN], magic: [u8; 4]) -> io::Result<(String, usize, [u8; 4])> {
    if header[..4] != magic {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "network magic {} is not the configured {}",
                hex4(&header[..4]),
                hex4(&magic)
            ),
        ));
    }
    let command: String = header[4..16]
        .iter()
        .take_while(|b| **b != 0)
        .map(|b| char::from(*b))
        .collect();
    let length = u32::from_le_bytes([header[16], header[17], header[18], header[19]]) as usize;
    let checksum = [header[20], header[21], header[22], header[23]];
    Ok((command, length, checksum))
}

fn hex4(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A framed message: magic, NUL-padded command, length, first 4 bytes of sha256d(payload).
fn encode(magic: [u8; 4], command: &str, payload: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(HEADER_LEN + payload.len());
    message.extend_from_slice(&magic);
    let mut name = [0u8; 12];
    name[..command.len()].copy_from_slice(command.as_bytes());
    message.extend_from_slice(&name);
    message.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    message.extend_from_slice(&checksum_of(payload));
    message.extend_from_slice(payload);
    message
}

fn checksum_of(payload: &[u8]) -> [u8; 4] {
    let hash = Sha256::digest(Sha256::digest(payload));
    [hash[0], hash[1], hash[2], hash[3]]
}

/// The `version` payload: no services, addresses left zero (the daemon does not need
/// them), start height 0, and the relay flag.
fn version_payload(relay: bool, timestamp: i64, nonce: u64) -> Vec<u8> {
    let user_agent = concat!("/nomp-rs:", env!("CARGO_PKG_VERSION"), "/");
    let mut payload = Vec::with_capacity(86 + user_agent.len());
    payload.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
    payload.extend_from_slice(&0u64.to_le_bytes());
    payload.extend_from_slice(&timestamp.to_le_bytes());
    payload.extend_from_slice(&[0u8; 26]);
    payload.extend_from_slice(&[0u8; 26]);
    payload.extend_from_slice(&nonce.to_le_bytes());
    payload.push(user_agent.len() as u8);
    payload.extend_from_slice(user_agent.as_bytes());
    payload.extend_from_slice(&0i32.to_le_bytes());
    payload.push(u8::from(relay));
    payload
}

/// Whether an `inv` payload lists at least one block.
fn announces_block(payload: &[u8]) -> bool {
    let Some((count, mut rest)) = read_varint(payload) else {
        return false;
    };
    for _ in 0..count {
        if rest.len() < 36 {
            return false;
        }
        let kind = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        if BLOCK_INV_TYPES.contains(&kind) {
            return true;
        }
        rest = &rest[36..];
    }
    false
}

/// Bitcoin's CompactSize integer.
fn read_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (&first, rest) = bytes.split_first()?;
    let width = match first {
        0xfd => 2,
        0xfe => 4,
        0xff => 8,
        small => return Some((u64::from(small), rest)),
    };
    if rest.len() < width {
        return None;
    }
    let mut value = [0u8; 8];
    value[..width].copy_from_slice(&rest[..width]);
    Some((u64::from_le_bytes(value), &rest[width..]))
}

fn unix_time() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A connection nonce; the daemon only uses it to detect connecting to itself.
fn nonce() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGTEST: [u8; 4] = [0xda, 0xb5, 0xbf, 0xfa];

    #[test]
    fn verack_frame_matches_the_protocol() {
        // An empty payload's checksum is sha256d("")[..4] = 5df6e0e2.
        let frame = encode(REGTEST, "verack", &[]);
        assert_eq!(hex4(&frame[..4]), "dab5bffa");
        assert_eq!(&frame[4..10], b"verack");
        assert_eq!(&frame[16..24], &[0, 0, 0, 0, 0x5d, 0xf6, 0xe0, 0xe2]);
    }

    #[test]
    fn header_round_trips_and_wrong_magic_is_refused() {
        let frame = encode(REGTEST, "ping", &[1, 2, 3, 4, 5, 6, 7, 8]);
        let header: [u8; HEADER_LEN] = frame[..HEADER_LEN].try_into().unwrap();
        let (command, length, checksum) = parse_header(&header, REGTEST).unwrap();
        assert_eq!((command.as_str(), length), ("ping", 8));
        assert_eq!(checksum, checksum_of(&frame[HEADER_LEN..]));
        let error = parse_header(&header, [0xf9, 0xbe, 0xb4, 0xd9]).unwrap_err();
        assert!(error.to_string().contains("dab5bffa"), "{error}");
    }

    #[test]
    fn version_payload_has_the_fields_in_order() {
        let payload = version_payload(false, 1_700_000_000, 42);
        assert_eq!(&payload[..4], &PROTOCOL_VERSION.to_le_bytes());
        assert_eq!(&payload[12..20], &1_700_000_000i64.to_le_bytes());
        assert_eq!(&payload[72..80], &42u64.to_le_bytes());
        assert_eq!(*payload.last().unwrap(), 0, "relay off");
        assert_eq!(*version_payload(true, 0, 0).last().unwrap(), 1);
    }

    #[test]
    fn only_block_inventory_counts_as_an_announcement() {
        let mut tx_only = vec![1u8];
        tx_only.extend_from_slice(&1u32.to_le_bytes());
        tx_only.extend_from_slice(&[0u8; 32]);
        assert!(!announces_block(&tx_only));
        let mut with_block = vec![2u8];
        with_block.extend_from_slice(&tx_only[1..]);
        with_block.extend_from_slice(&2u32.to_le_bytes());
        with_block.extend_from_slice(&[7u8; 32]);
        assert!(announces_block(&with_block));
        assert!(!announces_block(&[5, 1, 2]), "truncated inventory");
    }

    #[test]
    fn varints_of_every_width_decode() {
        assert_eq!(read_varint(&[0xfc]), Some((0xfc, &[][..])));
        assert_eq!(read_varint(&[0xfd, 0x34, 0x12]), Some((0x1234, &[][..])));
        assert_eq!(read_varint(&[0xfe, 1, 0, 0, 0, 9]), Some((1, &[9u8][..])));
        assert_eq!(read_varint(&[0xff, 1, 0]), None);
    }
}
