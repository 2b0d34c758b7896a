package netsim

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// Ports handed out for ":0", sequentially, as an ephemeral range would.
const (
	firstEphemeralPort = 49152
	lastEphemeralPort  = 65535
)

var defaultIP = netip.AddrFrom4([4]byte{127, 0, 0, 1})

// parseListenAddr parses "host:port" where host is empty or an IP literal.
// An empty or unspecified host means the loopback address of its family; port
// 0 means "pick one" (returned as port 0).
func parseListenAddr(s string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: %q: %v", ErrInvalidAddr, s, err)
	}
	ip := defaultIP
	if host != "" {
		ip, err = netip.ParseAddr(host)
		if err != nil || ip.Zone() != "" {
			return netip.AddrPort{}, fmt.Errorf("%w: %q: host is not an IP literal", ErrInvalidAddr, s)
		}
		ip = ip.Unmap()
		if ip.IsUnspecified() {
			if ip.Is4() {
				ip = defaultIP
			} else {
				ip = netip.IPv6Loopback()
			}
		}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: %q: bad port", ErrInvalidAddr, s)
	}
	return netip.AddrPortFrom(ip, uint16(p)), nil
}

// addrKey turns a destination address into a routing key.
func addrKey(a net.Addr) (netip.AddrPort, bool) {
	switch a := a.(type) {
	case nil:
		return netip.AddrPort{}, false
	case *net.UDPAddr:
		if a == nil {
			return netip.AddrPort{}, false
		}
		ap := a.AddrPort()
		if !ap.Addr().IsValid() {
			return netip.AddrPort{}, false
		}
		return netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port()), true
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.AddrPort{}, false
		}
		return netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port()), true
	}
}
