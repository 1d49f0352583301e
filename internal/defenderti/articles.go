package defenderti

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/riskiq-opencti/connectors/opencti/scrub"
)

// wireArticle is an article as received; dates are parsed leniently.
type wireArticle struct {
	ID                  string           `json:"id"`
	Title               string           `json:"title"`
	Summary             FormattedContent `json:"summary"`
	Body                FormattedContent `json:"body"`
	CreatedDateTime     string           `json:"createdDateTime"`
	LastUpdatedDateTime string           `json:"lastUpdatedDateTime"`
	IsFeatured          bool             `json:"isFeatured"`
	Tags                []string         `json:"tags"`
	ImageURL            *string          `json:"imageUrl"`
}

func (w *wireArticle) article() Article {
	return Article{
		ID: w.ID, Title: w.Title, Summary: w.Summary, Body: w.Body,
		CreatedDateTime: parseTime(w.CreatedDateTime), LastUpdatedDateTime: parseTime(w.LastUpdatedDateTime),
		IsFeatured: w.IsFeatured, Tags: w.Tags, ImageURL: w.ImageURL,
	}
}

// Articles lists the articles, newest lastUpdatedDateTime first as far as
// the API honours the order, calling fn with each until fn returns false or
// an error, or the list ends. Checking the order is the caller's concern
// (spec §5). An element that does not decode is skipped (debug log).
//
//	GET /security/threatIntelligence/articles?$count=true&$orderby=lastUpdatedDateTime%20desc&$top=N
func (c *Client) Articles(ctx context.Context, fn func(Article) (more bool, err error)) error {
	first := c.url("articles", c.listQuery("lastUpdatedDateTime desc"))
	err := paginate(ctx, c, "articles", first, func(p *wirePage[wireArticle]) (bool, error) {
		for _, raw := range p.Bad {
			c.log.LogAttrs(ctx, slog.LevelDebug, MsgSkipped, slog.String("kind", "article"), slog.String("value", scrub.Text(string(raw), 200)))
		}
		for _, w := range p.Value {
			if w.ID == "" {
				c.log.LogAttrs(ctx, slog.LevelDebug, MsgSkipped, slog.String("kind", "article"), slog.String("value", "an article without id"))
				continue
			}
			more, err := fn(w.article())
			if err != nil || !more {
				return false, err
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("list articles: %w", err)
	}
	return nil
}

// Article returns one article; an unknown id is [ErrNotFound].
//
//	GET /security/threatIntelligence/articles/{id}
func (c *Client) Article(ctx context.Context, id string) (*Article, error) {
	if strings.TrimSpace(id) == "" {
		return nil, fmt.Errorf("article: empty id")
	}
	var w wireArticle
	if err := c.getJSON(ctx, "articles/{id}", c.url("articles/"+url.PathEscape(id), ""), &w); err != nil {
		return nil, fmt.Errorf("article %q: %w", id, err)
	}
	a := w.article()
	return &a, nil
}

// ArticleIndicators returns every indicator of an article (all pages), at
// most DEFENDER_TI_MAX_RECORDS (truncated true, logged). Sources are
// normalised with [NormalizeSource]. An unknown article is [ErrNotFound].
//
//	GET /security/threatIntelligence/articles/{id}/indicators?$count=true&$top=N
func (c *Client) ArticleIndicators(ctx context.Context, id string) ([]ArticleIndicator, bool, error) {
	if strings.TrimSpace(id) == "" {
		return nil, false, fmt.Errorf("article indicators: empty id")
	}
	var (
		out       []ArticleIndicator
		truncated bool
		count     = -1
	)
	first := c.url("articles/"+url.PathEscape(id)+"/indicators", c.listQuery(""))
	err := paginate(ctx, c, "articles/{id}/indicators", first, func(p *wirePage[ArticleIndicator]) (bool, error) {
		if count < 0 && p.Count != nil {
			count = *p.Count
		}
		for _, raw := range p.Bad {
			c.log.LogAttrs(ctx, slog.LevelDebug, MsgSkipped, slog.String("kind", "article indicator"), slog.String("value", scrub.Text(string(raw), 200)))
		}
		for i, in := range p.Value {
			if len(out) >= c.s.MaxRecords {
				truncated = true
				return false, nil
			}
			in.Source = NormalizeSource(in.Source)
			out = append(out, in)
			if len(out) >= c.s.MaxRecords && (i < len(p.Value)-1 || p.NextLink != "") {
				truncated = true
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("indicators of article %q: %w", id, err)
	}
	if truncated {
		c.log.LogAttrs(ctx, slog.LevelWarn, MsgTruncated, slog.String("article_id", id),
			slog.Int("received", len(out)), slog.Int("odata_count", count), slog.Int("max_records", c.s.MaxRecords))
	}
	return out, truncated, nil
}

// NormalizeSource maps an indicator source to SourceMicrosoft, SourceOSINT
// or SourcePublic, accepting the spellings of the abstract indicator page
// (microsoftDefenderThreatIntelligence, openSourceIntelligence); any other
// value is returned lower-cased (callers treat it as the most restrictive,
// spec §4.5).
func NormalizeSource(s string) string {
	v := strings.ToLower(strings.TrimSpace(s))
	switch v {
	case "microsoft", "microsoftdefenderthreatintelligence":
		return SourceMicrosoft
	case "osint", "opensourceintelligence":
		return SourceOSINT
	case "public":
		return SourcePublic
	}
	return v
}
