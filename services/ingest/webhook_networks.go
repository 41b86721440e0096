package ingest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// WebhookNetworks decides which addresses webhooks are delivered to. The
// address a webhook's host resolves to is checked as ingest connects, so a
// name that resolves to a private address (or starts to, later) is caught
// too. The longest prefix of Allow and Deny that holds the address
// decides; an address neither names is refused when it is private
// (privateNetworks: loopback, RFC 1918, link-local with the cloud
// metadata endpoints, carrier-grade NAT, unique local IPv6, multicast,
// unspecified) and allowed otherwise.
type WebhookNetworks struct {
	// Allow lists networks delivered to even though private, e.g. the
	// subnet of an internal receiver; `clickstream dev` allows loopback.
	Allow []netip.Prefix
	// Deny lists networks never delivered to, beside the private ones.
	Deny []netip.Prefix
}

// privateNetworks are refused unless allowed.
var privateNetworks = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("224.0.0.0/3"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("ff00::/8"),
}

// LoopbackNetworks are the loopback networks, which `clickstream dev`
// allows webhooks to.
var LoopbackNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// errNetworkRefused marks a destination the policy refuses.
var errNetworkRefused = errors.New("destination refused")

// Check says why ip is refused, or returns nil.
func (n WebhookNetworks) Check(ip netip.Addr) error {
	ip = ip.Unmap()
	best, allowed := -1, true
	for _, p := range n.Allow {
		if p.Contains(ip) && p.Bits() > best {
			best, allowed = p.Bits(), true
		}
	}
	for _, p := range n.Deny {
		if p.Contains(ip) && p.Bits() >= best {
			best, allowed = p.Bits(), false
		}
	}
	if best >= 0 {
		if !allowed {
			return fmt.Errorf("%w: %s is in a network the operator denies webhooks (--webhook-deny-networks)", errNetworkRefused, ip)
		}
		return nil
	}
	for _, p := range privateNetworks {
		if p.Contains(ip) {
			return fmt.Errorf("%w: %s is a private address (%s); webhooks go to one only if an operator allows its network (--webhook-allow-networks)", errNetworkRefused, ip, p)
		}
	}
	return nil
}

// webhookClient is the client of webhook deliveries: it never follows a
// redirect (a 3xx answer is a failed delivery, see post), and it connects
// only to addresses networks allows, checked on the address it actually
// dials.
func webhookClient(networks WebhookNetworks, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{
		Timeout: timeout,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s is not an IP address and port", errNetworkRefused, address)
			}
			return networks.Check(ap.Addr())
		},
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil
	transport.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: transport, CheckRedirect: noRedirects}
}

// noRedirects makes a client hand back a redirect as the answer.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
