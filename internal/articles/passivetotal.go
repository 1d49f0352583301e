package articles

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"time"

	"github.com/riskiq-opencti/connectors/internal/passivetotal"
)

// ErrAuth reports that the article provider refused the credentials.
var ErrAuth = errors.New("authentication failed")

// ErrNotFound reports an article the provider does not know.
var ErrNotFound = errors.New("article not found")

// ErrQuotaExceeded reports that the provider refuses calls until its quota
// resets: it stops the run rather than failing every article.
var ErrQuotaExceeded = errors.New("quota exceeded")

// ErrArticleRefused reports an error of one article that retrying cannot
// cure: the source refuses that article (an id it cannot ask for, a 4xx other
// than an authentication, rate-limit or not-found answer) or it cannot be
// mapped. Unlike a transport error or a 5xx, it says nothing about the
// source's health, so it counts towards giving the article up even when no
// other article of the run could be imported.
var ErrArticleRefused = errors.New("the source refuses this article")

// PassiveTotal is the [Source] reading the RiskIQ PassiveTotal v2 API.
type PassiveTotal struct {
	// Client is the PassiveTotal client (its retries and backoff apply).
	Client *passivetotal.Client
}

// Articles yields the articles created on or after the UTC day of since (all
// when nil), oldest first, following the pages.
//
// GET /v2/articles?createdAfter=YYYY-MM-DD&sort=created&order=asc&page=N
func (p PassiveTotal) Articles(ctx context.Context, since *time.Time) iter.Seq2[Article, error] {
	return func(yield func(Article, error) bool) {
		for a, err := range p.Client.AllArticles(ctx, passivetotal.ArticlesQuery{CreatedAfter: since}) {
			if err != nil {
				yield(Article{}, listError(err))
				return
			}
			if !yield(fromPassiveTotal(&a), nil) {
				return
			}
		}
	}
}

// Article returns one article with its full content, when the API has one.
//
// GET /v2/articles/{guid}
func (p PassiveTotal) Article(ctx context.Context, guid string) (Article, error) {
	a, err := p.Client.Article(ctx, guid)
	if err != nil {
		return Article{}, sourceError(err)
	}
	return fromPassiveTotal(a), nil
}

func fromPassiveTotal(a *passivetotal.Article) Article {
	out := Article{
		GUID: a.GUID, Title: a.Title, Summary: a.Summary, Content: a.Content, Link: a.Link,
		Created: a.CreatedDate, CreatedRaw: a.RawCreatedDate,
		Published: a.PublishedDate, PublishedRaw: a.RawPublishedDate,
		Private:    a.Type != "public",
		Tags:       a.Tags,
		Indicators: make([]IndicatorGroup, len(a.Indicators)),
	}
	for i, g := range a.Indicators {
		out.Indicators[i] = IndicatorGroup{Type: g.Type, Values: g.Values, Source: g.Source}
	}
	return out
}

// authError is a refusal of the credentials: its message says which
// settings to check, without the API's wording (or any secret).
type authError struct{ err error }

func (e *authError) Error() string {
	return "authentication failed: RiskIQ refused RISKIQ_USER and RISKIQ_PASSWORD (the password must be the API key, not the web password)"
}

func (e *authError) Unwrap() []error { return []error{ErrAuth, e.err} }

// listError classifies an error of the article list. A 404 there is not a
// missing article but a wrong endpoint: say which setting to check.
func listError(err error) error {
	if errors.Is(err, passivetotal.ErrNotFound) {
		return fmt.Errorf("the article list answered 404: check RISKIQ_BASE_URL, the API root (e.g. https://api.riskiq.net/pt or https://api.riskiq.net/pt/v2): %w", err)
	}
	return sourceError(err)
}

// sourceError classifies a client error for the importer.
func sourceError(err error) error {
	switch {
	case errors.Is(err, passivetotal.ErrAuth):
		return &authError{err: err}
	case errors.Is(err, passivetotal.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, passivetotal.ErrQuotaExceeded):
		return fmt.Errorf("%w: %w", ErrQuotaExceeded, err)
	case errors.Is(err, passivetotal.ErrInvalidGUID):
		return fmt.Errorf("%w: %w", ErrArticleRefused, err)
	}
	var ae *passivetotal.APIError
	if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 &&
		ae.Status != http.StatusRequestTimeout && ae.Status != http.StatusTooManyRequests {
		return fmt.Errorf("%w: %w", ErrArticleRefused, err)
	}
	return err
}
