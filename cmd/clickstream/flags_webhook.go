package main

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/spf13/pflag"

	"github.com/clickstream-dev/clickstream/services/ingest"
)

// addWebhookFlags adds the networks ingest delivers webhook subscriptions
// to; dev allows loopback, where a developer's receiver runs.
func addWebhookFlags(f *pflag.FlagSet, n *ingest.WebhookNetworks, dev bool) {
	allowDefault := "none"
	if dev {
		n.Allow = append(n.Allow, ingest.LoopbackNetworks...)
		allowDefault = "loopback"
	}
	f.Var(&prefixesFlag{prefixes: &n.Allow}, "webhook-allow-networks",
		"comma-separated networks (CIDR) webhooks may be delivered to although private: loopback, RFC 1918, link-local and metadata addresses, CGNAT and unique local IPv6 are refused otherwise (ingest; default "+allowDefault+")")
	f.Var(&prefixesFlag{prefixes: &n.Deny}, "webhook-deny-networks",
		"comma-separated networks (CIDR) webhooks are never delivered to; the longest matching prefix of the two lists decides (ingest)")
}

// prefixesFlag is a comma-separated list of networks.
type prefixesFlag struct{ prefixes *[]netip.Prefix }

func (p *prefixesFlag) String() string {
	if p.prefixes == nil {
		return ""
	}
	s := make([]string, len(*p.prefixes))
	for i, x := range *p.prefixes {
		s[i] = x.String()
	}
	return strings.Join(s, ",")
}

// Set replaces the default with the networks given.
func (p *prefixesFlag) Set(v string) error {
	var out []netip.Prefix
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		x, err := netip.ParsePrefix(part)
		if err != nil {
			if a, aerr := netip.ParseAddr(part); aerr == nil {
				x = netip.PrefixFrom(a, a.BitLen())
			} else {
				return fmt.Errorf("%q is not a network: write it as CIDR, e.g. 10.0.0.0/8 or fd00::/8", part)
			}
		}
		out = append(out, x.Masked())
	}
	*p.prefixes = out
	return nil
}

func (p *prefixesFlag) Type() string { return "networks" }
