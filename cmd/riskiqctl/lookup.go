package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
	"github.com/riskiq-opencti/connectors/internal/enrichment"
	"github.com/riskiq-opencti/connectors/internal/launch"
	"github.com/riskiq-opencti/connectors/internal/passivetotal"
	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/config"
	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// CLI retry policy of the PassiveTotal client: a person is waiting, so give up
// sooner than the connectors do (passivetotal.DefaultMaxTries,
// DefaultMaxElapsed).
const (
	cliMaxTries       = 3
	cliMaxElapsed     = 30 * time.Second
	cliInitialBackoff = 500 * time.Millisecond
	cliMaxBackoff     = 5 * time.Second
)

const lookupHelp = `Look up the passive DNS of IPv4 addresses and domain names in PassiveTotal,
through the enrichment connector's code path (same mapping, same ids, same
quota check), and write STIX 2.1: one bundle holding every value's objects to
stdout, or one bundle per value into --out DIR (DIR/VALUE.json).

Settings, from the environment then config.yml (section riskiq), as for the
enrichment connector: RISKIQ_USERNAME, RISKIQ_API_KEY (both required),
RISKIQ_BASE_URL (default ` + enrichment.DefaultBaseURL + `) and
RISKIQ_IMPORT_LAST_SEEN_TIME_WINDOW (default P30D: records last seen before
now minus the window are left out).

Example, against 'riskiqctl simulate':
  RISKIQ_BASE_URL=http://127.0.0.1:8765/pt RISKIQ_USERNAME=demo@example.com \
  RISKIQ_API_KEY=demo riskiqctl lookup passivetotal.org 54.153.123.93

With --source defender (or RISKIQ_SOURCE=defender, which the flag overrides)
the values are looked up in Microsoft Defender Threat Intelligence on
Microsoft Graph, through the connector's Defender path: forward passive DNS for
domain names, reverse for IPv4 and IPv6 addresses. Settings (section
defender_ti): DEFENDER_TI_TENANT_ID, DEFENDER_TI_CLIENT_ID, and
DEFENDER_TI_CLIENT_SECRET or DEFENDER_TI_CLIENT_CERTIFICATE (required);
DEFENDER_TI_BASE_URL, DEFENDER_TI_AUTHORITY_URL, DEFENDER_TI_PAGE_SIZE,
DEFENDER_TI_MAX_RECORDS, DEFENDER_TI_HOST_REPUTATION; RISKIQ_USERNAME and
RISKIQ_API_KEY are not needed.

Example, against 'riskiqctl simulate --source defender --ca-file /tmp/sim.pem':
  SSL_CERT_FILE=/tmp/sim.pem DEFENDER_TI_BASE_URL=https://127.0.0.1:8765/v1.0 \
  DEFENDER_TI_AUTHORITY_URL=https://127.0.0.1:8765 DEFENDER_TI_TENANT_ID=contoso.example \
  DEFENDER_TI_CLIENT_ID=00000000-0000-4000-8000-000000000001 DEFENDER_TI_CLIENT_SECRET=demo \
  riskiqctl lookup --source defender malicious.example 192.0.2.10 2001:db8::10`

// lookup implements "riskiqctl lookup".
func (c *cli) lookup(ctx context.Context, args []string) int {
	fs := c.flagSet("lookup", "[flags] VALUE...", lookupHelp)
	configPath := fs.String("config", "", "config.yml to read (default: ./config.yml, then config.yml beside the binary, if present)")
	outDir := fs.String("out", "", "write one bundle per value into this `directory` instead of one bundle to stdout")
	logLevel := fs.String("log-level", "error", "level of the log lines on stderr: debug, info, warn (retries) or error")
	sourceFlag := fs.String("source", "", "where to look up: passivetotal or defender (default: RISKIQ_SOURCE, else passivetotal)")
	values, code, done := c.parse(fs, args)
	if done {
		return code
	}
	env := c.env
	if *sourceFlag != "" {
		switch v := strings.ToLower(*sourceFlag); v {
		case defenderti.SourcePassiveTotal, defenderti.SourceDefender:
			env = withEnv(c.env, defenderti.EnvSource, v)
		default:
			return c.usageError(fs.Name(), "--source must be passivetotal or defender")
		}
	}
	if len(values) == 0 {
		return c.usageError(fs.Name(), "no value to look up: give IPv4 addresses or domain names")
	}
	log, err := c.logger(*logLevel)
	if err != nil {
		return c.usageError(fs.Name(), err.Error())
	}
	src, err := config.ReadSource(env, *configPath)
	if err != nil {
		return c.fail("lookup", fmt.Errorf("read configuration: %w", err))
	}
	settings := enrichment.LoadSettings(src)
	defender := settings.Source == defenderti.SourceDefender
	requests := make([]*opencti.Request, 0, len(values))
	for _, v := range values {
		req, err := lookupRequestFor(v, defender)
		if err != nil {
			return c.fail("lookup", err)
		}
		requests = append(requests, req)
	}
	if src.Validate() != nil {
		return c.configProblems("lookup", src)
	}
	hc := enrichment.Config{MaxTLP: settings.MaxTLP, Window: settings.Window, Now: c.now, Logger: log}
	var handler *enrichment.Handler
	if defender {
		opts := []defenderti.Option{defenderti.WithLogger(log), defenderti.WithUserAgent("riskiqctl/" + launch.Version(version)),
			defenderti.WithRetry(cliMaxTries, cliMaxElapsed), defenderti.WithBackoff(cliInitialBackoff, cliMaxBackoff)}
		if c.graphHTTP != nil {
			opts = append(opts, defenderti.WithHTTPClient(c.graphHTTP))
		}
		client, err := defenderti.New(settings.Defender, opts...)
		if err != nil {
			return c.fail("lookup", err)
		}
		d := enrichment.Defender{Client: client}
		if settings.HostReputation {
			d.Reputation = client
		}
		handler = enrichment.NewDefenderHandler(d, hc)
	} else {
		client, err := passivetotal.New(passivetotal.JoinVersion(settings.BaseURL), settings.Username, settings.APIKey.Reveal(),
			passivetotal.WithLogger(log), passivetotal.WithUserAgent("riskiqctl/"+launch.Version(version)),
			passivetotal.WithRetry(cliMaxTries, cliMaxElapsed), passivetotal.WithBackoff(cliInitialBackoff, cliMaxBackoff))
		if err != nil {
			return c.fail("lookup", fmt.Errorf("passivetotal client: %w", err))
		}
		handler = enrichment.NewHandler(enrichment.PassiveTotal{Client: client}, hc)
	}

	var all []any
	var written []string
	for i, req := range requests {
		res, err := handler.Enrich(ctx, req)
		if err != nil {
			return c.fail("lookup", fmt.Errorf("%s: %w", values[i], err))
		}
		if len(res.Objects) == 0 {
			fmt.Fprintf(c.stderr, "riskiqctl lookup: %s: %s\n", line(values[i]), line(res.Message))
			continue
		}
		if *outDir == "" {
			all = append(all, res.Objects...)
			continue
		}
		path := filepath.Join(*outDir, values[i]+".json")
		if err := writeBundle(path, res.Objects); err != nil {
			return c.fail("lookup", err)
		}
		written = append(written, path)
	}
	if *outDir != "" {
		return c.summarize("lookup", *outDir, written)
	}
	b, err := indentedBundle(stix.Deduplicate(all))
	if err != nil {
		return c.fail("lookup", err)
	}
	if _, err := c.stdout.Write(b); err != nil {
		return c.fail("lookup", fmt.Errorf("write bundle: %w", err))
	}
	return exitOK
}

// lookupRequest builds the enrichment request the platform would send for
// value: its entity id, type and STIX object (the keys in the order
// encoding/json sorts a map, as in the enrichment connector's golden tests),
// without markings since it comes from no platform.
func lookupRequest(value string) (*opencti.Request, error) {
	return lookupRequestFor(value, false)
}

// lookupRequestFor is lookupRequest; with defender, IPv6 addresses are
// looked up too (reverse passive DNS in Defender TI).
func lookupRequestFor(value string, defender bool) (*opencti.Request, error) {
	stixType, entityType, err := classify(value)
	if err != nil && defender {
		if addr, perr := netip.ParseAddr(value); perr == nil && addr.Is6() && addr.Zone() == "" {
			if addr.String() != value {
				// Ids are computed from the value: the platform's is canonical.
				return nil, fmt.Errorf("%q: give the IPv6 address in canonical form, %s: %w", value, addr.String(), errUnsupportedValue)
			}
			stixType, entityType, err = "ipv6-addr", "IPv6-Addr", nil
		}
	}
	if err != nil {
		return nil, err
	}
	var id string
	switch stixType {
	case "ipv4-addr":
		id = stix.NewIPv4Addr(value).ID()
	case "ipv6-addr":
		id = stix.NewIPv6Addr(value).ID()
	default:
		id = stix.NewDomainName(value).ID()
	}
	entity, err := json.Marshal(map[string]any{"type": stixType, "spec_version": stix.SpecVersion, "id": id, "value": value})
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", value, err)
	}
	return &opencti.Request{
		EntityID: id, EntityType: entityType, StixEntity: entity,
		StixObjects: []json.RawMessage{entity},
	}, nil
}

// domainName matches a host name: dot-separated labels of letters, digits,
// hyphens (not at a label's ends) and underscores (SRV and DMARC names), at
// least two labels, the last one not all digits.
var domainName = regexp.MustCompile(`^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// allDigits matches a label made of digits only.
var allDigits = regexp.MustCompile(`^[0-9]+$`)

// errUnsupportedValue is wrapped by every error of classify.
var errUnsupportedValue = errors.New("lookup takes IPv4 addresses and domain names")

// classify returns the STIX and OpenCTI types of a value to look up: an IPv4
// address or a domain name, kept verbatim since ids are computed from it.
func classify(v string) (stixType, entityType string, err error) {
	if addr, perr := netip.ParseAddr(v); perr == nil {
		if addr.Is4() {
			return "ipv4-addr", "IPv4-Addr", nil
		}
		return "", "", fmt.Errorf("%q is an IPv6 address, which passive DNS enrichment does not cover: %w", v, errUnsupportedValue)
	}
	last := v[strings.LastIndexByte(v, '.')+1:]
	switch {
	case strings.Contains(v, "://"):
		return "", "", fmt.Errorf("%q is a URL, not a value to look up (give its host name): %w", v, errUnsupportedValue)
	case strings.Contains(v, "/"):
		return "", "", fmt.Errorf("%q is not a single address or name (networks and paths are not looked up): %w", v, errUnsupportedValue)
	case strings.Contains(v, "@"):
		return "", "", fmt.Errorf("%q is an e-mail address, not a value to look up: %w", v, errUnsupportedValue)
	case len(v) <= 253 && domainName.MatchString(v) && !allDigits.MatchString(last):
		return "domain-name", "Domain-Name", nil
	case allDigits.MatchString(last) && strings.Contains(v, "."):
		return "", "", fmt.Errorf("%q is not a valid IPv4 address: %w", v, errUnsupportedValue)
	}
	return "", "", fmt.Errorf("%q is neither an IPv4 address nor a domain name: %w", v, errUnsupportedValue)
}

// configProblems prints every configuration problem of src and returns exitFailure.
func (c *cli) configProblems(name string, src *config.Source) int {
	fmt.Fprintf(c.stderr, "riskiqctl %s: configuration is invalid:\n", name)
	for _, p := range src.Problems() {
		fmt.Fprintln(c.stderr, "  -", line(p.Error()))
	}
	return exitFailure
}

// withEnv returns env with name set to value.
func withEnv(env config.LookupEnv, name, value string) config.LookupEnv {
	return func(k string) (string, bool) {
		if k == name {
			return value, true
		}
		return env(k)
	}
}
