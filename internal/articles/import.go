package articles

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/metrics"
	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// State keys. The first two are the Python connector's (Unix seconds); the
// others are ours, absent from a Python state and ignored by Python.
const (
	// StateLatestRun is when the latest finished run started: a run that
	// ended, imported everything or failed, but was neither interrupted nor
	// killed.
	StateLatestRun = "latest_run_timestamp"
	// StateLatestArticle is the creation date of the latest imported article:
	// every article created at or before it was imported or given up.
	StateLatestArticle = "latest_article_timestamp"
	// StateCurrentRun is when the run in progress started (Unix seconds); it
	// is removed when the run finishes. Found at start, it means the previous
	// run was interrupted or killed: the connector runs at once instead of
	// waiting for the interval.
	StateCurrentRun = "current_run_timestamp"
	// StateCurrentWork is the work of the run in progress, closed by the next
	// run when the process was killed before closing it.
	StateCurrentWork = "current_run_work_id"
	// StateFailedArticles counts, by article guid, the runs in which an
	// article failed (an object {"guid": runs}). An article that failed
	// MaxArticleAttempts times is given up.
	StateFailedArticles = "failed_articles"
)

// MaxArticleAttempts is how many runs an article may fail in before it is
// given up. An article that fails (its detail cannot be read, other than 404,
// or it cannot be mapped) is skipped and the later ones are imported, but the
// state stays before it so that the next run tries it again; once it has
// failed in this many runs, the state passes it with an error log. A run
// counts failures only when it was not interrupted and imported at least one
// other article (when every article fails, the source is more likely down
// than the articles bad), except failures of the article's own
// ([ErrArticleRefused], a mapping error), which always count.
const MaxArticleAttempts = 3

// WorkNamePrefix starts the name of every work: "RiskIQ run @ 2025-06-01 12:00:00" (UTC).
const WorkNamePrefix = "RiskIQ run @ "

// Source reads articles from a provider (PassiveTotal, Microsoft Defender
// TI).
type Source interface {
	// Articles yields the articles from since (all when nil), across pages,
	// in the order the run's [Cursor] advances: PassiveTotal the articles
	// created on or after the UTC day of since, oldest first; Defender TI
	// those updated at or after since, least recently updated first. On
	// failure it yields one error and stops; a refusal of the credentials
	// wraps ErrAuth.
	Articles(ctx context.Context, since *time.Time) iter.Seq2[Article, error]
	// Article returns one article with its full content; an unknown guid
	// wraps ErrNotFound.
	Article(ctx context.Context, guid string) (Article, error)
}

// Completer is a [Source] whose listed articles lack a part read one article
// at a time (the indicators of a Defender TI article): the run completes
// only the articles it imports, after the [Cursor] has passed the others.
type Completer interface {
	// Complete reads what the list lacks into a. An article gone from the
	// provider wraps ErrNotFound (the article is skipped and passed); a
	// failure of the provider rather than of the article wraps ErrAuth,
	// ErrQuotaExceeded or ErrUnavailable (the run stops, keeping the state
	// before the article); any other error skips the article, which is
	// tried again by the next run (see MaxArticleAttempts).
	Complete(ctx context.Context, a *Article) error
}

// ErrUnavailable reports that the provider failed after the client's
// retries (5xx, transport errors, throttling): the run stops rather than
// failing every article, and the next run starts from the same place.
var ErrUnavailable = errors.New("source unavailable")

// objectSender is a Platform that sends objects not yet encoded
// (*opencti.Helper's SendObjects: the messages SendBundle would publish for
// the encoded bundle, for less work).
type objectSender interface {
	SendObjects(ctx context.Context, objects []any, o opencti.SendOptions) (int, error)
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
	// (RISKIQ_IMPORT_FROM_TIMESTAMP); nil imports every article. It is the
	// From of the default cursor, unused when Cursor is set.
	ImportFrom *time.Time
	// Cursor keeps the position of the import in the state; nil is
	// CreatedCursor{From: ImportFrom}, the PassiveTotal importer's.
	Cursor Cursor
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
	cursor   Cursor
	log      *slog.Logger
	metrics  *metrics.Metrics
	now      func() time.Time
	inFlight int
}

// maxFailuresInARow stops a run when that many articles in a row failed: the
// source is more likely down than the articles bad, and each would wait for
// the client's retries. Those failures are not counted.
const maxFailuresInARow = 10

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
		interval: int64(c.Interval / time.Second), cursor: c.Cursor,
		log: c.Logger, metrics: c.Metrics, now: c.Now, inFlight: c.InFlight,
	}
	if im.cursor == nil {
		im.cursor = CreatedCursor{From: c.ImportFrom}
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
// finished run is more recent than the interval, else it imports the
// articles created since the latest imported one. A run that did not finish
// (the process was stopped or killed) is resumed at once. The run's work is
// always closed, in error when the run fails; the error is also returned.
func (im *Importer) Run(ctx context.Context) error {
	start := im.now().UTC().Truncate(time.Second)
	st, err := im.loadState()
	if err != nil {
		return err
	}
	began, resume := st.timestamp(StateCurrentRun)
	if resume {
		im.log.Info("The previous run did not finish, resuming it now",
			"previous_run_started", time.Unix(began, 0).UTC().Format(time.DateTime))
	} else if last, ok := st.timestamp(StateLatestRun); ok {
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
		Importer: im, st: st, start: start, workID: workID, name: name,
		log:      im.log.With("work_id", workID),
		tags:     newTagResolver(im.lister),
		unknown:  map[string]bool{},
		failures: st.failures(),
	}
	r.log.Info("Run started", "work_name", name, "resumed", resume)
	if err := r.begin(ctx); err != nil {
		return r.finish(ctx, err)
	}
	return r.finish(ctx, r.importArticles(ctx))
}

// begin closes the work of a run that was killed, and records the run in
// progress on the platform, so that a run killed in turn is resumed at once.
func (r *run) begin(ctx context.Context) error {
	if old, _ := r.st[StateCurrentWork].(string); old != "" && old != r.workID {
		msg := "RiskIQ run interrupted: the connector stopped before the run ended; " + r.name + " resumes it"
		if err := r.platform.WorkToProcessed(ctx, old, msg, true); err != nil {
			r.log.Warn("The work of the interrupted run could not be closed", "interrupted_work_id", old, "error", err)
		}
	}
	r.st[StateCurrentRun] = r.start.Unix()
	if r.workID != "" {
		r.st[StateCurrentWork] = r.workID
	} else {
		delete(r.st, StateCurrentWork)
	}
	if err := r.platform.SetState(map[string]any(r.st)); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	r.pushState(ctx)
	if r.isReset() {
		return errStateReset
	}
	return nil
}

// run is one import run.
type run struct {
	*Importer
	st      state
	start   time.Time
	workID  string
	name    string
	log     *slog.Logger
	tags    *tagResolver
	unknown map[string]bool // indicator types already reported
	// failures are the failed runs of each article, from the state.
	failures map[string]int64

	// Counted by the reading goroutine.
	read, already, undated, prepared, gone, unsupported int
	// Counted by the committing goroutine.
	reports, empty, objects, parts int
	// held are the articles committed after one that failed, in order: the
	// state does not pass them during the run (see settle).
	held []*job
	// failed and passed are the articles that failed in this run: all of
	// them, and those given up (settle).
	failed, passed []*job
	// sourceDown is set when every article failed, or too many in a row:
	// the failures are not counted.
	sourceDown bool

	stateMu sync.Mutex // orders SetState and PushState
	reset   atomic.Bool
}

// errStateReset stops a run whose state the platform reset.
var errStateReset = errors.New("the connector state was reset remotely")

// job is one article on its way to the platform. Bundles of several
// articles are published at once (RabbitMQ confirms them in batches), but
// they are committed to the state in article order.
type job struct {
	guid string
	pos  Position
	log  *slog.Logger
	// skip is why the article failed: it is skipped, the run goes on.
	skip error
	// refused tells skip is the article's own (ErrArticleRefused, or its
	// mapping failed): it says nothing about the source's health.
	refused bool
	// gone is an article the source no longer has: skipped and passed.
	gone bool
	// mapped is the article's objects, nil once sent; report is false for an
	// article that maps to nothing.
	mapped                           *mapping
	report                           bool
	reportID                         string
	objects, indicators, observables int
	done                             chan struct{}
	parts, bundles                   int
	err                              error
}

// importArticles imports the new articles: it reads and maps them in order,
// publishes up to inFlight bundles at once, and records each article in the
// state once it and every older one are published.
func (r *run) importArticles(ctx context.Context) error {
	since := r.cursor.Since(r.st, r.start)
	// The committing goroutine advances r.st meanwhile: the reading one
	// compares with the state as the run found it (cursors replace the
	// values they change, never edit them in place).
	found := maps.Clone(r.st)
	if since != nil {
		r.log.Debug("Retrieving articles", "since", since.Format(time.RFC3339))
	} else {
		r.log.Debug("Retrieving every article")
	}

	sendCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan *job, r.inFlight-1)
	committed := make(chan error, 1)
	p := r.startPusher(ctx)
	go func() { committed <- r.commit(queue, cancel, p) }()

	var (
		readErr       error
		skips, inARow int
		lastSkip      *job
	)
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
		case r.cursor.Imported(found, &a):
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
			close(j.done) // nothing to send: an empty or a failed article
		}
		if j.skip == nil {
			inARow = 0
			continue
		}
		if j.refused {
			continue // the article's own fault: no sign of an outage
		}
		skips, inARow, lastSkip = skips+1, inARow+1, j
		if inARow >= maxFailuresInARow {
			r.sourceDown = true
			readErr = fmt.Errorf("%d articles in a row failed, the source looks unavailable: article %q: %w", inARow, j.guid, j.skip)
			break
		}
	}
	if readErr == nil && skips > 0 && r.prepared == 0 {
		r.sourceDown = true
		readErr = fmt.Errorf("every new article failed, the source looks unavailable: article %q: %w", lastSkip.guid, lastSkip.skip)
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

// prepare reads an article's full content, resolves its tags and maps it. An
// error of the article itself (its detail unreadable, other than 404, or its
// mapping) gives a job to skip; an error of the run (interrupted, the
// credentials or the quota refused, OpenCTI failing) is returned.
func (r *run) prepare(ctx context.Context, a *Article) (*job, error) {
	log := r.log.With("article_guid", a.GUID)
	j := &job{guid: a.GUID, pos: a.position(), log: log, done: make(chan struct{})}
	if c, ok := r.src.(Completer); ok {
		err := c.Complete(ctx, a)
		switch {
		case err == nil:
		case errors.Is(err, ErrNotFound):
			r.gone++
			j.gone = true
			log.Warn("Article skipped: the source no longer has it", "error", err)
			return j, nil // passed, as an empty article
		case ctx.Err() != nil:
			return nil, fmt.Errorf("read article %s: %w", a.GUID, err)
		case errors.Is(err, ErrAuth), errors.Is(err, ErrQuotaExceeded), errors.Is(err, ErrUnavailable):
			r.metrics.ClientError()
			return nil, fmt.Errorf("read article %s: %w", a.GUID, err)
		default:
			r.metrics.ClientError()
			j.skip = fmt.Errorf("read article: %w", err)
			j.refused = errors.Is(err, ErrArticleRefused)
			return j, nil
		}
		r.unsupported += a.Unsupported
	}
	if a.Content == "" && a.GUID != "" {
		d, err := r.src.Article(ctx, a.GUID)
		switch {
		case err == nil:
			a.Content = d.Content
		case errors.Is(err, ErrNotFound):
			log.Debug("Article details not found, importing without content")
		case ctx.Err() != nil:
			return nil, fmt.Errorf("fetch article %s: %w", a.GUID, err)
		case errors.Is(err, ErrAuth), errors.Is(err, ErrQuotaExceeded):
			r.metrics.ClientError()
			return nil, fmt.Errorf("fetch article %s: %w", a.GUID, err)
		default:
			r.metrics.ClientError()
			j.skip = fmt.Errorf("fetch article: %w", err)
			j.refused = errors.Is(err, ErrArticleRefused)
			return j, nil
		}
	}
	entities, err := r.tags.resolve(ctx, a.Tags)
	if err != nil {
		return nil, fmt.Errorf("article %s: %w", a.GUID, err)
	}
	m, err := r.conv.mapArticle(a, entities)
	if err != nil {
		j.skip = fmt.Errorf("map article: %w", err)
		j.refused = true
		return j, nil
	}
	r.prepared++
	for _, t := range m.res.UnknownTypes {
		if !r.unknown[t] {
			r.unknown[t] = true
			log.Warn("Indicator type not supported, its values are skipped", "indicator_type", t)
		}
	}
	for _, s := range m.res.Skipped {
		log.Warn("Indicator value skipped", "indicator_type", s.Type, "indicator_value", s.Value, "reason", s.Reason)
	}
	if m.empty() {
		return j, nil
	}
	j.mapped, j.report = m, true
	j.objects, j.indicators, j.observables = m.objects(), m.res.Indicators, m.res.Observables
	return j, nil
}

// send publishes a job's objects, in bundles of at most MaxBundleObjects
// objects made one at a time.
func (r *run) send(ctx context.Context, j *job) {
	defer close(j.done)
	report, err := j.mapped.bundles(MaxBundleObjects, func(objects []stix.Object) error {
		all := make([]any, len(objects))
		for i, o := range objects {
			all[i] = o
		}
		var (
			n   int
			err error
		)
		if s, ok := r.platform.(objectSender); ok {
			// The same messages, without encoding the bundle to parse it again.
			n, err = s.SendObjects(ctx, all, opencti.SendOptions{WorkID: r.workID})
		} else {
			// Bundle.MarshalJSON directly: json.Marshal would scan its output again.
			b, merr := stix.NewBundle(all...).MarshalJSON()
			if merr != nil {
				return fmt.Errorf("encode a bundle: %w", merr)
			}
			n, err = r.platform.SendBundle(ctx, b, opencti.SendOptions{WorkID: r.workID})
		}
		j.parts += n
		j.bundles++
		return err
	})
	j.mapped = nil // sent: only the counts wait for the commit
	if err != nil {
		j.err = fmt.Errorf("send the report of article %s: %w", j.guid, err)
		return
	}
	j.reportID = report.ID()
}

// commit records the jobs in the state in article order, as each is done.
// The first failure cancels the others; the rest are drained unrecorded. An
// article that failed is skipped; from it on, the articles are held (sent,
// but not recorded) until the run settles.
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
		switch {
		case j.skip != nil:
			r.failed = append(r.failed, j)
			j.log.Warn("Article skipped after an error, it is tried again at the next run", "error", j.skip,
				"failed_runs_before", r.failures[j.guid], "max_attempts", MaxArticleAttempts)
		case j.gone:
			// counted and logged by prepare; passed as an empty article
		case !j.report:
			r.empty++
			j.log.Info("No indicator in article, report will not be created")
		default:
			r.metrics.RecordsSent(j.objects)
			r.reports++
			r.objects += j.objects
			r.parts += j.parts
			j.log.Info("Report sent", "report_id", j.reportID, "indicators", j.indicators,
				"observables", j.observables, "objects", j.objects, "messages", j.parts, "bundles", j.bundles)
		}
		if j.skip != nil || len(r.held) > 0 {
			r.held = append(r.held, j)
			continue
		}
		if err := r.saveArticle(j.pos); err != nil {
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
func (r *run) saveArticle(p Position) error {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	if r.reset.Load() {
		return nil
	}
	r.advance(p)
	if err := r.platform.SetState(map[string]any(r.st)); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// advance moves the cursor to an imported (or given up) article, which no
// longer counts failures.
func (r *run) advance(p Position) {
	r.cursor.Advance(r.st, p)
	if _, ok := r.failures[p.GUID]; ok {
		delete(r.failures, p.GUID)
		r.st.setFailures(r.failures)
	}
}

// settle decides, at the end of a run, what happens to the articles that
// failed: each failure counts (when the run's verdict is reliable, see
// MaxArticleAttempts); the state passes the held articles up to the first
// failed one that may still be tried again, giving up those that failed in
// MaxArticleAttempts runs. A run that was not interrupted and did not fail
// forgets the failures of articles it did not see fail: they were imported
// or are gone.
func (r *run) settle(interrupted, complete bool) {
	counting := !interrupted && r.prepared > 0 && !r.sourceDown
	failures := r.failures
	if complete && !interrupted {
		failures = map[string]int64{}
		for _, j := range r.failed {
			if n, ok := r.failures[j.guid]; ok {
				failures[j.guid] = n
			}
		}
	}
	r.failures = failures
	stuck := false
	for _, j := range r.held {
		if j.skip == nil {
			if !stuck {
				r.advance(j.pos)
			}
			delete(failures, j.guid)
			continue
		}
		n := failures[j.guid]
		if counting || (j.refused && !interrupted) {
			n++
		}
		if !stuck && n >= MaxArticleAttempts {
			j.log.Error("Article given up: it failed in too many runs, the state passes it", "failed_runs", n, "error", j.skip)
			r.passed = append(r.passed, j)
			delete(failures, j.guid)
			r.advance(j.pos)
			continue
		}
		stuck = true
		if n > 0 {
			failures[j.guid] = n
		}
	}
	r.st.setFailures(failures)
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

// finish records the run in the state and closes the work. A run that
// ended (imported everything or failed) records latest_run_timestamp and
// clears the run in progress; an interrupted one leaves the run in progress
// in the state, so that the next start resumes it at once.
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
	r.settle(interrupted, runErr == nil)
	delete(r.st, StateCurrentWork) // closed below
	if !interrupted {
		delete(r.st, StateCurrentRun)
		r.st[StateLatestRun] = r.start.Unix()
	}
	if err := r.platform.SetState(map[string]any(r.st)); err != nil && runErr == nil {
		runErr = fmt.Errorf("save state: %w", err)
	}
	r.pushState(ctx)

	msg, inError := r.summary(), false
	if runErr != nil {
		reason := runErr.Error()
		if interrupted {
			reason = "interrupted: the connector is stopping; the next start resumes the run"
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
		"messages", r.parts, "failed_articles", len(r.failed), "given_up_articles", len(r.passed), "in_error", inError)
	if runErr != nil {
		return fmt.Errorf("riskiq run: %w", runErr)
	}
	return nil
}

// maxNamed is how many failed articles a work message names.
const maxNamed = 5

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
	if r.gone > 0 {
		parts = append(parts, fmt.Sprintf("%d gone from the source (404), skipped", r.gone))
	}
	if r.unsupported > 0 {
		parts = append(parts, fmt.Sprintf("%d indicators of types without a STIX mapping skipped", r.unsupported))
	}
	if retried := len(r.failed) - len(r.passed); retried > 0 {
		var named []string
		for _, j := range r.failed {
			if !slices.Contains(r.passed, j) {
				named = append(named, describeFailure(j))
			}
		}
		parts = append(parts, fmt.Sprintf("%d failed, tried again at the next run: %s", retried, nameList(named)))
	}
	if len(r.passed) > 0 {
		var named []string
		for _, j := range r.passed {
			named = append(named, describeFailure(j))
		}
		parts = append(parts, fmt.Sprintf("%d given up after failing in %d runs: %s", len(r.passed), MaxArticleAttempts, nameList(named)))
	}
	return strings.Join(parts, ", ")
}

// describeFailure names a failed article and why, briefly.
func describeFailure(j *job) string {
	reason := j.skip.Error()
	if len(reason) > 160 {
		reason = strings.ToValidUTF8(reason[:160], "") + "…"
	}
	return fmt.Sprintf("%q (%s)", j.guid, reason)
}

// nameList joins at most maxNamed names.
func nameList(names []string) string {
	if len(names) <= maxNamed {
		return strings.Join(names, "; ")
	}
	return strings.Join(names[:maxNamed], "; ") + fmt.Sprintf("; and %d more", len(names)-maxNamed)
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
	for _, k := range []string{StateLatestRun, StateLatestArticle, StateCurrentRun} {
		if v, ok := st[k]; ok {
			if _, valid := st.timestamp(k); !valid && v != nil {
				im.log.Warn("State value ignored: not a Unix timestamp", "state_key", k)
				delete(st, k)
			}
		}
	}
	if v, ok := st[StateCurrentWork]; ok {
		if _, valid := v.(string); !valid {
			im.log.Warn("State value ignored: not a work id", "state_key", StateCurrentWork)
			delete(st, StateCurrentWork)
		}
	}
	im.cursor.Clean(st, im.log)
	if v, ok := st[StateFailedArticles]; ok {
		failures, valid := parseFailures(v)
		if !valid {
			im.log.Warn("State value ignored: not an object of article guids and counts", "state_key", StateFailedArticles)
		}
		st.setFailures(failures)
	}
	return st, nil
}

// parseFailures reads failed_articles: an object of guids and positive
// counts. Entries of another form are dropped; valid is false when any was.
func parseFailures(v any) (map[string]int64, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, v == nil
	}
	out := make(map[string]int64, len(m))
	valid := true
	for guid, n := range m {
		c, ok := state{"n": n}.timestamp("n")
		if !ok || c == 0 {
			valid = false
			continue
		}
		out[guid] = c
	}
	return out, valid
}

// failures returns a copy of the failed runs of each article.
func (s state) failures() map[string]int64 {
	m, _ := s[StateFailedArticles].(map[string]int64)
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// setFailures records the failed runs of each article; none removes the key.
func (s state) setFailures(m map[string]int64) {
	if len(m) == 0 {
		delete(s, StateFailedArticles)
		return
	}
	c := make(map[string]int64, len(m))
	for k, v := range m {
		c[k] = v
	}
	s[StateFailedArticles] = c
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
