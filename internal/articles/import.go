package articles

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/metrics"
	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// State keys, those of the Python connector: Unix seconds.
const (
	// StateLatestRun is when the latest run started.
	StateLatestRun = "latest_run_timestamp"
	// StateLatestArticle is the creation date of the latest imported article.
	StateLatestArticle = "latest_article_timestamp"
)

// WorkNamePrefix starts the name of every work: "RiskIQ run @ 2025-06-01 12:00:00" (UTC).
const WorkNamePrefix = "RiskIQ run @ "

// Source reads articles from a provider (PassiveTotal, later Microsoft
// Defender TI).
type Source interface {
	// Articles yields the articles created on or after the UTC day of since
	// (all when nil), oldest first, across pages. On failure it yields one
	// error and stops; a refusal of the credentials wraps ErrAuth.
	Articles(ctx context.Context, since *time.Time) iter.Seq2[Article, error]
	// Article returns one article with its full content; an unknown guid
	// wraps ErrNotFound.
	Article(ctx context.Context, guid string) (Article, error)
}

// Platform is what a run uses of the OpenCTI connector runtime;
// *opencti.Helper fits.
type Platform interface {
	// InitiateWork creates the run's work.
	InitiateWork(ctx context.Context, name string) (string, error)
	// SendBundle splits and publishes a bundle, counting it on the work.
	SendBundle(ctx context.Context, bundle []byte, o opencti.SendOptions) (int, error)
	// WorkToProcessed closes the work.
	WorkToProcessed(ctx context.Context, workID, message string, inError bool) error
	// State reads the connector state; found is false when there is none.
	State(v any) (found bool, err error)
	// SetState replaces the connector state.
	SetState(v any) error
	// PushState sends the state to the platform now; afterwards State reports
	// no state when the platform reset it remotely.
	PushState(ctx context.Context) error
}

// Config configures an [Importer].
type Config struct {
	// Source reads the articles.
	Source Source
	// Platform is the connector runtime.
	Platform Platform
	// Lister resolves article tags to OpenCTI entities.
	Lister DomainObjectLister
	// Options are the mapping options.
	Options Options
	// Interval is the time between two runs (RISKIQ_INTERVAL_SEC), whole
	// seconds.
	Interval time.Duration
	// ImportFrom is the first day to import when no article was imported yet
	// (RISKIQ_IMPORT_FROM_TIMESTAMP); nil imports every article.
	ImportFrom *time.Time
	// Logger receives the run's logs; nil discards them.
	Logger *slog.Logger
	// Metrics are updated with runs, records sent, client errors and the
	// state; nil uses a private set.
	Metrics *metrics.Metrics
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// InFlight is how many articles' bundles are published at once
	// (CONNECTOR_CONCURRENCY; 0 means DefaultInFlight); the state still
	// advances in article order.
	InFlight int
}

// DefaultInFlight is the default of Config.InFlight, that of
// CONNECTOR_CONCURRENCY. Publishing waits for the broker's confirm of each
// message: bundles of several articles in flight let RabbitMQ confirm them
// in batches, at the cost of memory (each holds its bundle and its parts).
const DefaultInFlight = 8

// Importer runs the connector: [Importer.Run] is called at least every
// minute and imports when the interval has elapsed.
type Importer struct {
	src      Source
	platform Platform
	lister   DomainObjectLister
	conv     *Converter
	interval int64 // seconds
	from     *time.Time
	log      *slog.Logger
	metrics  *metrics.Metrics
	now      func() time.Time
	inFlight int
}

// closeTimeout bounds closing the work and saving the state once the run's
// context is done (shutdown).
const closeTimeout = 15 * time.Second

// NewImporter returns an importer.
func NewImporter(c Config) (*Importer, error) {
	var errs []error
	if c.Source == nil {
		errs = append(errs, errors.New("no article source"))
	}
	if c.Platform == nil {
		errs = append(errs, errors.New("no platform"))
	}
	if c.Lister == nil {
		errs = append(errs, errors.New("no domain object lister"))
	}
	if c.InFlight < 0 {
		errs = append(errs, fmt.Errorf("in-flight articles %d: must not be negative", c.InFlight))
	}
	if c.Interval < time.Second {
		errs = append(errs, fmt.Errorf("interval %s: must be at least one second", c.Interval))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new importer: %w", err)
	}
	im := &Importer{
		src: c.Source, platform: c.Platform, lister: c.Lister,
		interval: int64(c.Interval / time.Second), from: c.ImportFrom,
		log: c.Logger, metrics: c.Metrics, now: c.Now, inFlight: c.InFlight,
	}
	if im.inFlight == 0 {
		im.inFlight = DefaultInFlight
	}
	if im.log == nil {
		im.log = slog.New(slog.DiscardHandler)
	}
	if im.metrics == nil {
		im.metrics = metrics.New("", "")
	}
	if im.now == nil {
		im.now = time.Now
	}
	im.conv = NewConverter(c.Options, im.now)
	return im, nil
}

// Run is one tick of the schedule: it returns nil at once when the latest
// run is more recent than the interval, else it imports the articles created
// since the latest imported one. The run's work is always closed, in error
// when the run fails; the error is also returned.
func (im *Importer) Run(ctx context.Context) error {
	start := im.now().UTC().Truncate(time.Second)
	st, err := im.loadState()
	if err != nil {
		return err
	}
	if last, ok := st.timestamp(StateLatestRun); ok {
		if wait := im.interval - (start.Unix() - last); wait > 0 {
			im.log.Info("Connector will not run, next run later", "next_run_in_seconds", wait)
			return nil
		}
	}
	im.metrics.Run()
	im.metrics.SetState("running")
	defer im.metrics.SetState("idle")

	name := WorkNamePrefix + start.Format(time.DateTime)
	workID, err := im.platform.InitiateWork(ctx, name)
	if err != nil {
		return fmt.Errorf("start run: %w", err)
	}
	r := &run{
		Importer: im, st: st, start: start, workID: workID,
		log:     im.log.With("work_id", workID),
		tags:    newTagResolver(im.lister),
		unknown: map[string]bool{},
	}
	r.log.Info("Run started", "work_name", name)
	return r.finish(ctx, r.importArticles(ctx))
}

// run is one import run.
type run struct {
	*Importer
	st      state
	start   time.Time
	workID  string
	log     *slog.Logger
	tags    *tagResolver
	unknown map[string]bool // indicator types already reported

	// Counted by the reading goroutine.
	read, already, undated int
	// Counted by the committing goroutine.
	reports, empty, objects, parts int

	stateMu sync.Mutex // orders SetState and PushState
	reset   atomic.Bool
}

// errStateReset stops a run whose state the platform reset.
var errStateReset = errors.New("the connector state was reset remotely")

// job is one article on its way to the platform. Bundles of several
// articles are published at once (RabbitMQ confirms them in batches), but
// they are committed to the state in article order.
type job struct {
	guid    string
	created int64
	log     *slog.Logger
	// bundle is the bundle to send, nil once sent; report is false for an
	// article that maps to nothing.
	bundle                           []byte
	report                           bool
	reportID                         string
	objects, indicators, observables int
	done                             chan struct{}
	parts                            int
	err                              error
}

// importArticles imports the new articles: it reads and maps them in order,
// publishes up to inFlight bundles at once, and records each article in the
// state once it and every older one are published.
func (r *run) importArticles(ctx context.Context) error {
	var since *time.Time
	latest, hasLatest := r.st.timestamp(StateLatestArticle)
	switch {
	case hasLatest:
		t := time.Unix(latest, 0).UTC()
		since = &t
	case r.from != nil:
		since = r.from
	}
	if since != nil {
		r.log.Debug("Retrieving articles", "created_after", since.Format(time.DateOnly))
	} else {
		r.log.Debug("Retrieving every article")
	}

	sendCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan *job, r.inFlight-1)
	committed := make(chan error, 1)
	p := r.startPusher(ctx)
	go func() { committed <- r.commit(queue, cancel, p) }()

	var readErr error
	for a, err := range r.src.Articles(sendCtx, since) {
		if err != nil {
			if sendCtx.Err() == nil {
				r.metrics.ClientError()
			}
			readErr = fmt.Errorf("fetch articles: %w", err)
			break
		}
		r.read++
		switch {
		case a.Created.IsZero():
			r.undated++
			r.log.Warn("Article skipped: no creation date", "article_guid", a.GUID, "created_date", a.CreatedRaw)
			continue
		case hasLatest && a.Created.Unix() <= latest:
			r.already++
			r.log.Debug("Article already imported", "article_guid", a.GUID)
			continue
		}
		j, err := r.prepare(sendCtx, &a)
		if err != nil {
			readErr = err
			break
		}
		select {
		case queue <- j:
		case <-sendCtx.Done():
			readErr = sendCtx.Err()
		}
		if readErr != nil {
			break
		}
		if j.report {
			go r.send(sendCtx, j)
		} else {
			close(j.done)
		}
	}
	close(queue)
	commitErr := <-committed
	p.stop()
	switch {
	case commitErr != nil:
		return commitErr
	case readErr != nil && errors.Is(readErr, context.Canceled) && ctx.Err() == nil && r.isReset():
		return errStateReset
	}
	return readErr
}

// prepare reads an article's full content, resolves its tags and maps it.
func (r *run) prepare(ctx context.Context, a *Article) (*job, error) {
	log := r.log.With("article_guid", a.GUID)
	if a.Content == "" && a.GUID != "" {
		d, err := r.src.Article(ctx, a.GUID)
		switch {
		case err == nil:
			a.Content = d.Content
		case errors.Is(err, ErrNotFound):
			log.Debug("Article details not found, importing without content")
		default:
			if ctx.Err() == nil {
				r.metrics.ClientError()
			}
			return nil, fmt.Errorf("fetch article %s: %w", a.GUID, err)
		}
	}
	entities, err := r.tags.resolve(ctx, a.Tags)
	if err != nil {
		return nil, fmt.Errorf("article %s: %w", a.GUID, err)
	}
	res, err := r.conv.Convert(a, entities)
	if err != nil {
		return nil, fmt.Errorf("map article %s: %w", a.GUID, err)
	}
	for _, t := range res.UnknownTypes {
		if !r.unknown[t] {
			r.unknown[t] = true
			log.Warn("Indicator type not supported, its values are skipped", "indicator_type", t)
		}
	}
	for _, s := range res.Skipped {
		log.Warn("Indicator value skipped", "indicator_type", s.Type, "indicator_value", s.Value, "reason", s.Reason)
	}
	j := &job{guid: a.GUID, created: a.Created.Unix(), log: log, done: make(chan struct{})}
	if res.Report == nil {
		return j, nil
	}
	objects := make([]any, len(res.Objects))
	for i, o := range res.Objects {
		objects[i] = o
	}
	// Bundle.MarshalJSON directly: json.Marshal would scan its output again.
	if j.bundle, err = stix.NewBundle(objects...).MarshalJSON(); err != nil {
		return nil, fmt.Errorf("encode the bundle of article %s: %w", a.GUID, err)
	}
	j.report, j.reportID, j.objects, j.indicators, j.observables = true, res.Report.ID(), len(res.Objects), res.Indicators, res.Observables
	return j, nil
}

// send publishes a job's bundle.
func (r *run) send(ctx context.Context, j *job) {
	defer close(j.done)
	j.parts, j.err = r.platform.SendBundle(ctx, j.bundle, opencti.SendOptions{WorkID: r.workID})
	j.bundle = nil // sent: only the counts wait for the commit
	if j.err != nil {
		j.err = fmt.Errorf("send the report of article %s: %w", j.guid, j.err)
	}
}

// commit records the jobs in the state in article order, as each is done.
// The first failure cancels the others; the rest are drained unrecorded.
func (r *run) commit(queue <-chan *job, cancel context.CancelFunc, p *pusher) error {
	var failed error
	for j := range queue {
		<-j.done
		if failed != nil {
			continue
		}
		if j.err != nil {
			failed = j.err
			cancel()
			continue
		}
		if !j.report {
			r.empty++
			j.log.Info("No indicator in article, report will not be created")
		} else {
			r.metrics.RecordsSent(j.objects)
			r.reports++
			r.objects += j.objects
			r.parts += j.parts
			j.log.Info("Report sent", "report_id", j.reportID, "indicators", j.indicators,
				"observables", j.observables, "objects", j.objects, "messages", j.parts)
		}
		if err := r.saveArticle(j.created); err != nil {
			failed = err
			cancel()
			continue
		}
		if r.isReset() {
			failed = errStateReset
			cancel()
			continue
		}
		if j.report {
			p.kick()
		}
	}
	return failed
}

// saveArticle records an article in the state (not yet pushed).
func (r *run) saveArticle(created int64) error {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	if r.reset.Load() {
		return nil
	}
	if prev, ok := r.st.timestamp(StateLatestArticle); !ok || created > prev {
		r.st[StateLatestArticle] = created
	}
	r.st[StateLatestRun] = r.start.Unix()
	if err := r.platform.SetState(map[string]any(r.st)); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// pusher sends the state to the platform after published articles, one ping
// at a time: kicks that come during a ping are merged into the next one,
// which carries the newest state.
type pusher struct {
	kicks chan struct{}
	done  chan struct{}
}

func (r *run) startPusher(ctx context.Context) *pusher {
	p := &pusher{kicks: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for range p.kicks {
			r.pushState(ctx)
		}
	}()
	return p
}

func (p *pusher) kick() {
	select {
	case p.kicks <- struct{}{}:
	default:
	}
}

// stop waits for the last ping.
func (p *pusher) stop() {
	close(p.kicks)
	<-p.done
}

func (r *run) isReset() bool { return r.reset.Load() }

// pushState sends the state now; a failure is only logged (the state travels
// with the next ping). It notices a remote reset: the runtime then holds no
// state.
func (r *run) pushState(ctx context.Context) {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	if r.reset.Load() {
		return
	}
	if err := r.platform.PushState(ctx); err != nil {
		r.log.Warn("State not pushed, it will travel with the next ping", "error", err)
		return
	}
	var probe map[string]any
	if found, err := r.platform.State(&probe); err == nil && !found {
		r.reset.Store(true)
	}
}

// finish records the run in the state and closes the work.
func (r *run) finish(ctx context.Context, runErr error) error {
	interrupted := ctx.Err() != nil
	if interrupted {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
	}
	if errors.Is(runErr, errStateReset) || r.isReset() {
		// The state stays as the reset left it: empty.
		r.log.Info("Connector state has been remotely reset, run stopped")
		msg := r.summary() + "; the connector state was reset remotely: the next run starts from scratch"
		inError := runErr != nil && !errors.Is(runErr, errStateReset)
		if inError {
			msg = "RiskIQ run failed: " + runErr.Error() + "; " + msg
		}
		if err := r.platform.WorkToProcessed(ctx, r.workID, msg, inError); err != nil {
			return errors.Join(runErr, fmt.Errorf("close work: %w", err))
		}
		if inError {
			return fmt.Errorf("riskiq run: %w", runErr)
		}
		return nil
	}
	r.st[StateLatestRun] = r.start.Unix()
	if err := r.platform.SetState(map[string]any(r.st)); err != nil && runErr == nil {
		runErr = fmt.Errorf("save state: %w", err)
	}
	r.pushState(ctx)

	msg, inError := r.summary(), false
	if runErr != nil {
		reason := runErr.Error()
		if interrupted {
			reason = "interrupted: the connector is stopping"
		}
		if r.read > 0 {
			reason += "; before that: " + msg
		}
		msg, inError = "RiskIQ run failed: "+reason, true
	}
	if err := r.platform.WorkToProcessed(ctx, r.workID, msg, inError); err != nil {
		return errors.Join(runErr, fmt.Errorf("close work: %w", err))
	}
	r.log.Info("Run finished", "articles", r.read, "reports", r.reports, "objects", r.objects,
		"messages", r.parts, "in_error", inError)
	if runErr != nil {
		return fmt.Errorf("riskiq run: %w", runErr)
	}
	return nil
}

// summary is the work message of the run.
func (r *run) summary() string {
	if r.read == 0 {
		return "No new article"
	}
	parts := []string{
		fmt.Sprintf("%d articles read", r.read),
		fmt.Sprintf("%d reports sent (%d objects)", r.reports, r.objects),
	}
	if r.already > 0 {
		parts = append(parts, fmt.Sprintf("%d already imported", r.already))
	}
	if r.empty > 0 {
		parts = append(parts, fmt.Sprintf("%d without indicators or known entities", r.empty))
	}
	if r.undated > 0 {
		parts = append(parts, fmt.Sprintf("%d without creation date", r.undated))
	}
	return strings.Join(parts, ", ")
}

// state is the connector state: the Python connector's keys, and any other
// key kept as it was.
type state map[string]any

func (im *Importer) loadState() (state, error) {
	st := state{}
	if _, err := im.platform.State(&st); err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	if st == nil {
		st = state{}
	}
	for _, k := range []string{StateLatestRun, StateLatestArticle} {
		if v, ok := st[k]; ok {
			if _, valid := st.timestamp(k); !valid && v != nil {
				im.log.Warn("State value ignored: not a Unix timestamp", "state_key", k)
				delete(st, k)
			}
		}
	}
	return st, nil
}

// timestamp reads a Unix timestamp: a JSON number (a float is truncated as
// Python's int() would) or a decimal string.
func (s state) timestamp(key string) (int64, bool) {
	switch v := s[key].(type) {
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > math.MaxInt64/2 {
			return 0, false
		}
		return int64(v), true
	case int64:
		return v, v >= 0
	case int:
		return int64(v), v >= 0
	case json.Number: // how the SDK decodes numbers
		if n, err := v.Int64(); err == nil {
			return n, n >= 0
		}
		f, err := v.Float64()
		if err != nil {
			return 0, false
		}
		return state{key: f}.timestamp(key)
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return n, err == nil && n >= 0
	}
	return 0, false
}
