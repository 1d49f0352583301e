package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/riskiq-opencti/connectors/internal/articles"
	"github.com/riskiq-opencti/connectors/internal/defenderti"
	"github.com/riskiq-opencti/connectors/internal/launch"
	"github.com/riskiq-opencti/connectors/internal/passivetotal"
	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/api"
	"github.com/riskiq-opencti/connectors/opencti/config"
	"github.com/riskiq-opencti/connectors/opencti/metrics"
	"github.com/riskiq-opencti/connectors/opencti/scrub"
)

const importHelp = `Import RiskIQ articles as STIX 2.1 reports through the import connector's
code path (same mapping, same ids, one bundle per article), writing each
bundle to DIR/GUID.json instead of sending it to OpenCTI. Article tags
(malware, intrusion sets, ATT&CK techniques...) are resolved to OpenCTI
entities only when OpenCTI is configured (OPENCTI_URL and OPENCTI_TOKEN);
without it, tag resolution is skipped. Progress is shown on stderr when it is
a terminal.

Settings, from the environment then config.yml, as for the import connector:
RISKIQ_USER, RISKIQ_PASSWORD (both required), RISKIQ_BASE_URL (default
` + articles.DefaultBaseURL + `), RISKIQ_CREATE_OBSERVABLES (default true),
and RISKIQ_IMPORT_FROM_TIMESTAMP when neither --since nor --from-timestamp is
given.

With --source defender (or RISKIQ_SOURCE=defender) the articles come from
Microsoft Defender Threat Intelligence on Microsoft Graph instead:
DEFENDER_TI_TENANT_ID, DEFENDER_TI_CLIENT_ID and DEFENDER_TI_CLIENT_SECRET
(or DEFENDER_TI_CLIENT_CERTIFICATE) are required, RISKIQ_USER and
RISKIQ_PASSWORD are not; --since and --from-timestamp select the articles
updated from that date on (default: the last DEFENDER_TI_IMPORT_WINDOW_DAYS
days). Files are named after the article id.

Example, against 'riskiqctl simulate':
  RISKIQ_BASE_URL=http://127.0.0.1:8765/pt/v2 RISKIQ_USER=demo@example.com \
  RISKIQ_PASSWORD=demo riskiqctl import --since 2025-01-01 --out out/import

Against 'riskiqctl simulate --source defender --ca-file sim-ca.pem':
  DEFENDER_TI_BASE_URL=https://127.0.0.1:8766/v1.0 \
  DEFENDER_TI_AUTHORITY_URL=https://127.0.0.1:8766 DEFENDER_TI_TENANT_ID=contoso.example \
  DEFENDER_TI_CLIENT_ID=00001111-aaaa-2222-bbbb-3333cccc4444 DEFENDER_TI_CLIENT_SECRET=demo \
  riskiqctl import --source defender --ca-file sim-ca.pem --out out/defender`

// importArticles implements "riskiqctl import".
func (c *cli) importArticles(ctx context.Context, args []string) int {
	fs := c.flagSet("import", "[flags] [--source passivetotal|defender] --since DATE | --from-timestamp N", importHelp)
	since := fs.String("since", "", "import the articles created on or after this `date`: YYYY-MM-DD or RFC 3339 (UTC day)")
	fromTimestamp := fs.String("from-timestamp", "", "import the articles created on or after the UTC day of this Unix time in `seconds`, as RISKIQ_IMPORT_FROM_TIMESTAMP")
	outDir := fs.String("out", "", "write one bundle per article into this `directory` (required)")
	configPath := fs.String("config", "", "config.yml to read (default: ./config.yml, then config.yml beside the binary, if present)")
	logLevel := fs.String("log-level", "error", "level of the log lines on stderr: debug, info, warn (skipped values) or error")
	sourceFlag := fs.String("source", "", "article `source`: passivetotal or defender (default: RISKIQ_SOURCE, else passivetotal)")
	caFile := fs.String("ca-file", "", "defender: also trust the CA certificate(s) of this PEM `file` for Microsoft Graph and Entra ID (e.g. the one 'riskiqctl simulate --source defender' writes)")
	pos, code, done := c.parse(fs, args)
	if done {
		return code
	}
	if len(pos) > 0 {
		return c.usageError(fs.Name(), "unexpected argument "+pos[0])
	}
	if *outDir == "" {
		return c.usageError(fs.Name(), "--out DIR is required")
	}
	if *since != "" && *fromTimestamp != "" {
		return c.usageError(fs.Name(), "give --since or --from-timestamp, not both")
	}
	from, err := importFrom(*since, *fromTimestamp)
	if err != nil {
		return c.usageError(fs.Name(), err.Error())
	}
	log, err := c.logger(*logLevel)
	if err != nil {
		return c.usageError(fs.Name(), err.Error())
	}
	env := c.env
	switch v := strings.ToLower(strings.TrimSpace(*sourceFlag)); v {
	case "":
	case defenderti.SourcePassiveTotal, defenderti.SourceDefender:
		env = func(k string) (string, bool) {
			if k == defenderti.EnvSource {
				return v, true
			}
			return c.env(k)
		}
	default:
		return c.usageError(fs.Name(), "--source must be passivetotal or defender")
	}
	src, err := config.ReadSource(env, *configPath)
	if err != nil {
		return c.fail("import", fmt.Errorf("read configuration: %w", err))
	}
	settings := articles.LoadSettings(src)
	platformURL := src.String("OPENCTI_URL", "opencti.url", "")
	token := src.Secret("OPENCTI_TOKEN", "opencti.token", platformURL != "")
	if src.Validate() != nil {
		return c.configProblems("import", src)
	}
	if from == nil {
		from = settings.ImportFrom
	}
	if *caFile != "" && settings.Defender == nil {
		return c.usageError(fs.Name(), "--ca-file applies to --source defender only")
	}
	if from == nil && settings.Defender == nil {
		return c.usageError(fs.Name(), "give --since DATE or --from-timestamp N (or set RISKIQ_IMPORT_FROM_TIMESTAMP)")
	}
	settings.ImportFrom = from
	source, err := c.importSource(settings, *caFile, log)
	if err != nil {
		return c.fail("import", err)
	}
	var lister articles.DomainObjectLister = noPlatform{}
	if platformURL != "" {
		apiClient, err := api.New(platformURL, token.Reveal(), api.WithLogger(log))
		if err != nil {
			return c.fail("import", fmt.Errorf("opencti client: %w", err))
		}
		lister = apiClient
		fmt.Fprintf(c.stderr, "import: resolving article tags in OpenCTI at %s\n", line(scrub.URL(platformURL)))
	}
	out := &directoryPlatform{dir: *outDir, progress: c.progressWriter()}
	im, err := articles.NewImporter(articles.Config{
		Source:   &trackingSource{Source: source, out: out},
		Platform: out, Lister: lister,
		Options:  articles.Options{CreateObservables: settings.CreateObservables},
		Interval: settings.Interval,
		Cursor:   settings.Cursor(),
		Logger:   log,
		Metrics:  metrics.New("", ""),
		Now:      c.now,
	})
	if err != nil {
		return c.fail("import", err)
	}
	if err := im.Run(ctx); err != nil {
		return c.fail("import", err)
	}
	if skipped := out.read - len(out.files); skipped > 0 {
		fmt.Fprintf(c.stderr, "import: %d of %d %s gave no report (no indicator, no creation date, or already imported)\n",
			skipped, out.read, plural(out.read, "article"))
	}
	return c.summarize("import", *outDir, out.files)
}

// importSource returns the article source of the settings: the PassiveTotal
// API, or Defender TI trusting caFile's certificates in addition to the
// system's.
func (c *cli) importSource(settings articles.Settings, caFile string, log *slog.Logger) (articles.Source, error) {
	if d := settings.Defender; d != nil {
		opts := []defenderti.Option{defenderti.WithLogger(log), defenderti.WithUserAgent("riskiqctl/" + launch.Version(version)),
			defenderti.WithRetry(cliMaxTries, cliMaxElapsed), defenderti.WithBackoff(cliInitialBackoff, cliMaxBackoff)}
		if caFile != "" {
			hc, err := trustingClient(caFile)
			if err != nil {
				return nil, err
			}
			opts = append(opts, defenderti.WithHTTPClient(hc))
		}
		client, err := defenderti.New(d.Client, opts...)
		if err != nil {
			return nil, fmt.Errorf("defender ti client: %w", err)
		}
		return &articles.Defender{Client: client, TLP: d.TLP, Logger: log}, nil
	}
	client, err := passivetotal.New(settings.BaseURL, settings.User, settings.Password.Reveal(),
		passivetotal.WithLogger(log), passivetotal.WithUserAgent("riskiqctl/"+launch.Version(version)),
		passivetotal.WithRetry(cliMaxTries, cliMaxElapsed), passivetotal.WithBackoff(cliInitialBackoff, cliMaxBackoff))
	if err != nil {
		return nil, fmt.Errorf("passivetotal client: %w", err)
	}
	return articles.PassiveTotal{Client: client}, nil
}

// trustingClient returns an HTTP client trusting the PEM certificates of
// path in addition to the system's.
func trustingClient(path string) (*http.Client, error) {
	pem, err := os.ReadFile(path) //nolint:gosec // G304: the operator names the file
	if err != nil {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca-file %s: no PEM certificate in it", line(path))
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr}, nil
}

// importFrom reads --since or --from-timestamp; nil when neither is given.
func importFrom(since, fromTimestamp string) (*time.Time, error) {
	switch {
	case since != "":
		for _, layout := range []string{time.DateOnly, time.RFC3339} {
			if t, err := time.Parse(layout, since); err == nil {
				t = t.UTC()
				return &t, nil
			}
		}
		return nil, fmt.Errorf("--since %q is not a date: want YYYY-MM-DD or RFC 3339, e.g. 2025-06-01 or 2025-06-01T00:00:00Z", since)
	case fromTimestamp != "":
		n, err := strconv.ParseInt(fromTimestamp, 10, 64)
		if err != nil || n < 0 || n > 253402300799 {
			return nil, fmt.Errorf("--from-timestamp %q is not a Unix time in seconds between 0 and 253402300799, e.g. 1712929994", fromTimestamp)
		}
		t := time.Unix(n, 0).UTC()
		return &t, nil
	}
	return nil, nil
}

// progressWriter returns where progress lines go: stderr when it is a
// terminal, else nowhere.
func (c *cli) progressWriter() io.Writer {
	if c.progress {
		return c.stderr
	}
	return io.Discard
}

// noPlatform is the tag lister without OpenCTI: no tag names a known entity,
// so tag resolution yields nothing.
type noPlatform struct{}

// StixDomainObjects finds nothing.
func (noPlatform) StixDomainObjects(context.Context, api.DomainObjectQuery) ([]api.DomainObject, error) {
	return nil, nil
}

// trackingSource tells out which article is being imported: the importer
// handles each article inside the iteration, before the next one is read.
type trackingSource struct {
	articles.Source
	out *directoryPlatform
}

// Complete completes the article when the source lists partial articles
// (Defender TI: the indicators), else does nothing.
func (s *trackingSource) Complete(ctx context.Context, a *articles.Article) error {
	if c, ok := s.Source.(articles.Completer); ok {
		return c.Complete(ctx, a)
	}
	return nil
}

// Articles yields the source's articles, recording each as the current one.
func (s *trackingSource) Articles(ctx context.Context, since *time.Time) iter.Seq2[articles.Article, error] {
	return func(yield func(articles.Article, error) bool) {
		for a, err := range s.Source.Articles(ctx, since) {
			if err == nil {
				s.out.begin(a.GUID)
			}
			if !yield(a, err) {
				return
			}
		}
	}
}

// directoryPlatform is the import connector's platform for the CLI: each
// bundle is written to dir/GUID.json, the state is kept in memory for the
// run, and the work is only a name. The importer publishes several articles
// at once, so bundles are matched to articles by their report's guid.
type directoryPlatform struct {
	dir      string
	progress io.Writer

	mu    sync.Mutex
	order []string        // guids of the articles read, in order
	sent  map[string]bool // guids that gave a bundle
	read  int             // articles read
	files []string        // bundles written, in order
	state []byte          // JSON
}

// begin records that the article guid is being imported.
func (p *directoryPlatform) begin(guid string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.order = append(p.order, guid)
	p.read++
}

// number is the 1-based position of guid among the articles read (0 if unknown).
func (p *directoryPlatform) number(guid string) int {
	for i, g := range p.order {
		if g == guid {
			return i + 1
		}
	}
	return 0
}

// InitiateWork names the run; there is no platform to tell.
func (p *directoryPlatform) InitiateWork(_ context.Context, name string) (string, error) {
	return "riskiqctl " + name, nil
}

// SendBundle writes the bundle of an article, named after its report's guid.
func (p *directoryPlatform) SendBundle(_ context.Context, bundle []byte, _ opencti.SendOptions) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	name := reportGUID(bundle)
	if name == "" {
		name = fmt.Sprintf("article-%d", len(p.files)+1)
	}
	path := filepath.Join(p.dir, name+".json")
	b, err := indent(bundle)
	if err != nil {
		return 0, err
	}
	if err := writeFileAtomic(path, b); err != nil {
		return 0, err
	}
	p.files = append(p.files, path)
	if p.sent == nil {
		p.sent = map[string]bool{}
	}
	p.sent[name] = true
	fmt.Fprintf(p.progress, "import: article %d (%s): %s\n", p.number(name), line(name), line(path))
	return 1, nil
}

// reportGUID returns the article id of the bundle's report (its riskiq or
// Microsoft Defender Threat Intelligence external reference), or "" when
// the bundle has none.
func reportGUID(bundle []byte) string {
	var b struct {
		Objects []struct {
			Type string `json:"type"`
			Refs []struct {
				SourceName string `json:"source_name"`
				ExternalID string `json:"external_id"`
			} `json:"external_references"`
		} `json:"objects"`
	}
	if json.Unmarshal(bundle, &b) != nil {
		return ""
	}
	for _, o := range b.Objects {
		if o.Type != "report" {
			continue
		}
		for _, r := range o.Refs {
			if (r.SourceName == "riskiq" || r.SourceName == articles.DefenderReferenceSource) &&
				r.ExternalID != "" && filepath.Base(r.ExternalID) == r.ExternalID {
				return r.ExternalID
			}
		}
	}
	return ""
}

// WorkToProcessed ends the run: it reports the articles that gave no bundle.
func (p *directoryPlatform) WorkToProcessed(context.Context, string, string, bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, g := range p.order {
		if !p.sent[g] {
			fmt.Fprintf(p.progress, "import: article %d (%s): no report\n", i+1, line(g))
		}
	}
	return nil
}

// State reads the state of this run.
func (p *directoryPlatform) State(v any) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == nil {
		return false, nil
	}
	if err := json.Unmarshal(p.state, v); err != nil {
		return false, fmt.Errorf("decode state: %w", err)
	}
	return true, nil
}

// SetState keeps the state for this run.
func (p *directoryPlatform) SetState(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state = b
	return nil
}

// PushState has nowhere to push to.
func (p *directoryPlatform) PushState(context.Context) error { return nil }
