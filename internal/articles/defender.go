package articles

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
)

// DefenderClient is what the import reads of Microsoft Defender TI;
// *defenderti.Client fits.
type DefenderClient interface {
	// Articles lists the articles, newest lastUpdatedDateTime first when
	// the API honours $orderby, page by page until fn returns false.
	Articles(ctx context.Context, fn func(defenderti.Article) (more bool, err error)) error
	// Article reads one article.
	Article(ctx context.Context, id string) (*defenderti.Article, error)
	// ArticleIndicators reads every indicator of an article (all pages, up
	// to the record cap: truncated).
	ArticleIndicators(ctx context.Context, id string) (inds []defenderti.ArticleIndicator, truncated bool, err error)
}

// Defender is the [Source] reading Microsoft Defender Threat Intelligence
// articles from Microsoft Graph (spec §4, §5). Use it with an
// [UpdatedCursor]. It is also a [Completer]: the indicators of an article
// are read only when the article is imported.
type Defender struct {
	// Client is the Graph client (its retries, throttling pause and record
	// cap apply).
	Client DefenderClient
	// TLP says which indicator sources are TLP:AMBER.
	TLP DefenderTLP
	// Logger receives the source's logs; nil discards them.
	Logger *slog.Logger
	// OrderCheck is how many articles older than the cutoff are read, in
	// order, before the list is left; 0 is DefaultOrderCheck.
	OrderCheck int
}

// DefaultOrderCheck is the default of Defender.OrderCheck: one page of the
// default size. An API that ignores $orderby is then noticed unless a whole
// page past the cutoff happens to be in order.
const DefaultOrderCheck = defenderti.DefaultPageSize

func (d *Defender) log() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

// Articles yields the articles updated at or after since (all when nil),
// least recently updated first (ties by id), without their indicators.
//
// The list is asked newest first ($orderby=lastUpdatedDateTime desc) and
// read past the first article updated before since by OrderCheck articles,
// to confirm the order. Graph's own metadata calls articles non-sortable
// (spec §8.5): when an article comes out of order, the whole list is read
// instead (a full scan) and a warning says so. An article listed twice
// (pages shifting while they are read) is kept once, with its latest date.
//
// GET /security/threatIntelligence/articles?$orderby=lastUpdatedDateTime desc&$top=N&$count=true
func (d *Defender) Articles(ctx context.Context, since *time.Time) iter.Seq2[Article, error] {
	return func(yield func(Article, error) bool) {
		var (
			found  = map[string]int{}
			picked []defenderti.Article
			prev   time.Time
			sorted = true
			listed int
			past   int // articles older than since, read in order
		)
		check := d.OrderCheck
		if check <= 0 {
			check = DefaultOrderCheck
		}
		err := d.Client.Articles(ctx, func(a defenderti.Article) (bool, error) {
			listed++
			u := a.LastUpdatedDateTime
			if sorted && listed > 1 && u.After(prev) {
				sorted = false
				d.log().Warn("Defender TI articles are not in lastUpdatedDateTime order (the API ignored $orderby): reading every article",
					"article_id", a.ID, "last_updated", u.UTC().Format(time.RFC3339Nano),
					"previous_last_updated", prev.UTC().Format(time.RFC3339Nano))
			}
			prev = u
			if since != nil && u.Before(*since) {
				past++
				return !sorted || past < check, nil
			}
			if i, dup := found[a.ID]; dup {
				if u.After(picked[i].LastUpdatedDateTime) {
					picked[i] = a
				}
				return true, nil
			}
			found[a.ID] = len(picked)
			picked = append(picked, a)
			return true, nil
		})
		if err != nil {
			yield(Article{}, d.listError(err))
			return
		}
		d.log().Debug("Defender TI articles listed", "listed", listed, "candidates", len(picked), "full_scan", !sorted,
			"older_read", past)
		slices.SortStableFunc(picked, func(a, b defenderti.Article) int {
			return cmp.Or(a.LastUpdatedDateTime.Compare(b.LastUpdatedDateTime), cmp.Compare(a.ID, b.ID))
		})
		for i := range picked {
			if !yield(fromDefender(&picked[i]), nil) {
				return
			}
		}
	}
}

// Complete reads the article's indicators (every page) into a.
//
// GET /security/threatIntelligence/articles/{id}/indicators
func (d *Defender) Complete(ctx context.Context, a *Article) error {
	inds, truncated, err := d.Client.ArticleIndicators(ctx, a.GUID)
	if err != nil {
		return d.sourceError(err) // the client's error names the article
	}
	log := d.log().With("article_guid", a.GUID)
	groups, skipped := defenderIndicators(inds, d.TLP)
	for _, s := range skipped {
		log.Debug("defender ti value skipped", "kind", s.Type, "unclassified_kind", s.Kind, "value", s.Value, "reason", s.Reason)
	}
	if truncated {
		log.Warn("Article indicators truncated at DEFENDER_TI_MAX_RECORDS: the rest are not imported", "received", len(inds))
	}
	a.Indicators, a.Unsupported = groups, len(skipped)
	log.Debug("Article indicators read", "indicators", len(inds), "skipped", len(skipped), "truncated", truncated)
	return nil
}

// Article returns one article with its indicators.
//
// GET /security/threatIntelligence/articles/{id}, then its indicators.
func (d *Defender) Article(ctx context.Context, guid string) (Article, error) {
	a, err := d.Client.Article(ctx, guid)
	if err != nil {
		return Article{}, d.sourceError(err)
	}
	out := fromDefender(a)
	if err := d.Complete(ctx, &out); err != nil {
		return Article{}, err
	}
	return out, nil
}

// listError classifies an error of the article list: each ends the run, the
// cursor kept. A 404 there is a wrong base URL.
func (d *Defender) listError(err error) error {
	if errors.Is(err, defenderti.ErrNotFound) {
		return fmt.Errorf("the Defender TI article list answered 404: check DEFENDER_TI_BASE_URL (e.g. https://graph.microsoft.com/v1.0): %w", err)
	}
	return d.sourceError(err)
}

// sourceError classifies a client error for the importer (spec §6.2, import
// column). A refusal of the credentials or of the permission wraps ErrAuth,
// a 404 ErrNotFound, throttling beyond the client's retries
// ErrQuotaExceeded: each stops the run (a 404 of one article skips it). An
// answer that is the article's own problem (a 400, a malformed or oversized
// body, a paging loop) wraps ErrArticleRefused: that article is skipped,
// tried again by the next runs and given up after MaxArticleAttempts. Anything else (5xx
// or transport failures after the client's retries) wraps ErrUnavailable:
// the run stops, keeping the cursor.
func (d *Defender) sourceError(err error) error {
	var (
		apiErr  *defenderti.APIError
		authErr *defenderti.AuthError
		decErr  *defenderti.DecodeError
	)
	isAPI := errors.As(err, &apiErr)
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, defenderti.ErrAuthentication), errors.Is(err, defenderti.ErrAccessDenied):
		// The client's message names the setting or the permission to fix.
		return &classified{kind: ErrAuth, err: err}
	case errors.Is(err, defenderti.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case isAPI && apiErr.Status == http.StatusTooManyRequests,
		errors.As(err, &authErr) && authErr.Status == http.StatusTooManyRequests:
		return fmt.Errorf("%w: Defender TI kept throttling beyond the client's retries: %w", ErrQuotaExceeded, err)
	case isAPI && apiErr.Status >= 400 && apiErr.Status < 500,
		errors.As(err, &decErr), errors.Is(err, defenderti.ErrPaging), errors.Is(err, defenderti.ErrResponseTooLarge):
		return &classified{kind: ErrArticleRefused, err: err}
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// classified gives an error a kind for the importer without changing its
// message.
type classified struct{ kind, err error }

func (e *classified) Error() string   { return e.err.Error() }
func (e *classified) Unwrap() []error { return []error{e.kind, e.err} }
