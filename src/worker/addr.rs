//! Conversions between [`SocketAddr`] and the kernel's `sockaddr_in`/`sockaddr_in6`,
//! without allocation: [`RawAddr`] holds either in place, [`parse_sockaddr`] reads one
//! from raw bytes (as found in a multishot recvmsg buffer) and never panics.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Room for an IPv4 or IPv6 socket address, as the kernel lays them out.
#[repr(C)]
#[derive(Clone, Copy)]
pub union RawAddr {
    v4: libc::sockaddr_in,
    v6: libc::sockaddr_in6,
}

/// The size of the name field asked of recvmsg (room for either family).
pub const NAME_LEN: usize = std::mem::size_of::<libc::sockaddr_in6>();

impl RawAddr {
    /// An all-zero address (family `AF_UNSPEC`).
    pub fn zeroed() -> Self {
        // SAFETY: both variants are plain C structs for which all-zero is valid.
        unsafe { std::mem::zeroed() }
    }

    /// Writes `addr` and returns the length the kernel must be given with it.
    pub fn set(&mut self, addr: SocketAddr) -> libc::socklen_t {
        match addr {
            SocketAddr::V4(a) => {
                // SAFETY: all-zero is a valid sockaddr_in.
                let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr = libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                };
                self.v4 = sin;
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
            }
            SocketAddr::V6(a) => {
                // SAFETY: all-zero is a valid sockaddr_in6.
                let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_flowinfo = a.flowinfo().to_be();
                sin6.sin6_addr = libc::in6_addr {
                    s6_addr: a.ip().octets(),
                };
                sin6.sin6_scope_id = a.scope_id();
                self.v6 = sin6;
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
            }
        }
    }

    /// Pointer for the kernel.
    pub fn as_ptr(&self) -> *const libc::sockaddr {
        (self as *const Self).cast()
    }

    /// Mutable pointer for the kernel to fill.
    pub fn as_mut_ptr(&mut self) -> *mut libc::sockaddr {
        (self as *mut Self).cast()
    }

    /// Reads the address back (`None` for an unknown family or a short length).
    pub fn get(&self, len: usize) -> Option<SocketAddr> {
        // SAFETY: RawAddr is plain bytes of its full size.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (self as *const Self).cast::<u8>(),
                std::mem::size_of::<Self>(),
            )
        };
        parse_sockaddr(&bytes[..len.min(bytes.len())])
    }
}

/// Parses a `sockaddr_in` or `sockaddr_in6` from raw (possibly unaligned) bytes.
pub fn parse_sockaddr(b: &[u8]) -> Option<SocketAddr> {
    if b.len() < 2 {
        return None;
    }
    let family = i32::from(u16::from_ne_bytes([b[0], b[1]]));
    if family == libc::AF_INET && b.len() >= 8 {
        let port = u16::from_be_bytes([b[2], b[3]]);
        let ip = Ipv4Addr::new(b[4], b[5], b[6], b[7]);
        Some(SocketAddr::V4(SocketAddrV4::new(ip, port)))
    } else if family == libc::AF_INET6 && b.len() >= NAME_LEN {
        let port = u16::from_be_bytes([b[2], b[3]]);
        let flow = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
        let mut ip = [0u8; 16];
        ip.copy_from_slice(&b[8..24]);
        let scope = u32::from_ne_bytes([b[24], b[25], b[26], b[27]]);
        Some(SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(ip),
            port,
            flow,
            scope,
        )))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_v4_and_v6() {
        let addrs: [SocketAddr; 3] = [
            "127.0.0.1:5004".parse().expect("v4"),
            "[::1]:40000".parse().expect("v6"),
            SocketAddr::V6(SocketAddrV6::new(
                "fe80::1".parse().expect("ip"),
                7,
                0x12345,
                3,
            )),
        ];
        for a in addrs {
            let mut raw = RawAddr::zeroed();
            let len = raw.set(a);
            assert_eq!(raw.get(len as usize), Some(a));
        }
    }

    #[test]
    fn kernel_layout_matches() {
        // What the kernel reports for a std socket must parse back to its address.
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let want = s.local_addr().expect("addr");
        let mut raw = RawAddr::zeroed();
        let mut len = std::mem::size_of::<RawAddr>() as libc::socklen_t;
        use std::os::fd::AsRawFd;
        // SAFETY: raw is writable for len bytes.
        let rc = unsafe { libc::getsockname(s.as_raw_fd(), raw.as_mut_ptr(), &mut len) };
        assert_eq!(rc, 0);
        assert_eq!(raw.get(len as usize), Some(want));
    }

    #[test]
    fn malformed_input_is_rejected() {
        assert_eq!(parse_sockaddr(&[]), None);
        assert_eq!(parse_sockaddr(&[2]), None);
        // AF_INET but truncated.
        let fam = (libc::AF_INET as u16).to_ne_bytes();
        assert_eq!(parse_sockaddr(&[fam[0], fam[1], 0, 1]), None);
        // Unknown family.
        assert_eq!(parse_sockaddr(&[0xff, 0xff, 0, 0, 0, 0, 0, 0]), None);
        // AF_INET6 but truncated.
        let fam6 = (libc::AF_INET6 as u16).to_ne_bytes();
        assert_eq!(
            parse_sockaddr(&[fam6[0], fam6[1], 0, 1, 0, 0, 0, 0, 0]),
            None
        );
    }
}
