package passivetotal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Article is a RiskIQ article (spec §2.3, §2.4).
type Article struct {
	// GUID is the article id, e.g. "e86878b1".
	GUID    string
	Title   string
	Summary string
	// Content is the full text when the answer carries one ("content", else
	// "body"); no recorded answer does, so it is usually empty.
	Content string
	// Type is the visibility: "public" or "private".
	Type string
	// PublishedDate is zero when null or unparsable; RawPublishedDate is the
	// value as received ("" for null). Callers fall back to CreatedDate.
	PublishedDate    time.Time
	RawPublishedDate string
	// CreatedDate is when RiskIQ added the article (format not pinned, parsed
	// leniently, zero when unparsable); RawCreatedDate is the value as
	// received.
	CreatedDate    time.Time
	RawCreatedDate string
	// Link is the article's page, e.g. "https://community.riskiq.com/article/<guid>".
	Link       string
	Categories []string
	// Tags are free text: actors, malware, sectors, CVEs, and ATT&CK
	// techniques as "T1566.001 - Spearphishing Attachment".
	Tags       []string
	Indicators []IndicatorGroup
}

// IndicatorGroup is the set of indicator values of one type in an article.
type IndicatorGroup struct {
	// Type is the indicator type as received, e.g. "domain", "ip", "hash_md5",
	// "certificate_sha1" (spec §3); not normalised.
	Type string
	// Count is the number of values (len(Values) when absent).
	Count  int
	Values []string
	// Source is "public" or a private source such as "riskiq".
	Source string
}

// ArticlesQuery selects a page of articles.
type ArticlesQuery struct {
	// CreatedAfter keeps the articles created on or after that day (its UTC
	// date is sent); nil asks for all articles.
	CreatedAfter *time.Time
	// Page is the 0-based page number; 0 sends no page parameter.
	Page int
	// Size is the page size; 0 sends no size parameter (server default).
	Size int
}

// ArticlesPage is one page of GET /v2/articles.
type ArticlesPage struct {
	// TotalRecords counts the articles matching the query on all pages.
	TotalRecords int
	// Page is the page number that was asked for.
	Page int
	// Articles are the page's articles, oldest created first; never nil.
	Articles []Article
}

// Articles returns one page of articles, sorted by creation date, oldest
// first. An answer without "success": true or without an articles array is a
// [*DecodeError].
//
// GET /v2/articles?createdAfter=YYYY-MM-DD&sort=created&order=asc[&page=N&size=M]
func (c *Client) Articles(ctx context.Context, q ArticlesQuery) (*ArticlesPage, error) {
	if q.Page < 0 || q.Size < 0 {
		return nil, fmt.Errorf("passivetotal: articles: page %d and size %d must not be negative", q.Page, q.Size)
	}
	params := url.Values{"sort": {"created"}, "order": {"asc"}}
	if q.CreatedAfter != nil {
		params.Set("createdAfter", q.CreatedAfter.UTC().Format(dateLayout))
	}
	if q.Page > 0 {
		params.Set("page", strconv.Itoa(q.Page))
	}
	if q.Size > 0 {
		params.Set("size", strconv.Itoa(q.Size))
	}
	res, err := c.get(ctx, &call{endpoint: EndpointArticles, path: EndpointArticles, rawPath: EndpointArticles, query: params})
	if err != nil {
		return nil, c.scrub(fmt.Errorf("passivetotal: articles page %d: %w", q.Page, err))
	}
	if res.status == http.StatusNoContent {
		return &ArticlesPage{Page: q.Page, Articles: []Article{}}, nil
	}
	page, err := decodeArticlesPage(res.body)
	if err != nil {
		return nil, c.scrub(fmt.Errorf("passivetotal: articles page %d: %w", q.Page, c.checkDecoded(err, res.status)))
	}
	page.Page = q.Page
	return page, nil
}

// AllArticles yields the articles of every page from q.Page on, following
// pages while the answers count more records than were read (spec §1.7, §2.3).
// It stops at an empty page or a page that brings no new article (by guid),
// and yields an article once even when pages overlap. On error it yields the
// error once and stops.
func (c *Client) AllArticles(ctx context.Context, q ArticlesQuery) iter.Seq2[Article, error] {
	return func(yield func(Article, error) bool) {
		seen := make(map[string]struct{})
		read := 0
		for {
			page, err := c.Articles(ctx, q)
			if err != nil {
				yield(Article{}, err)
				return
			}
			fresh := 0
			for _, a := range page.Articles {
				key := articleKey(&a)
				if _, dup := seen[key]; dup {
					continue
				}
				seen[key] = struct{}{}
				fresh++
				if !yield(a, nil) {
					return
				}
			}
			read += len(page.Articles)
			if len(page.Articles) == 0 || fresh == 0 || read >= page.TotalRecords {
				return
			}
			q.Page++
		}
	}
}

// articleKey identifies an article for de-duplication across pages.
func articleKey(a *Article) string {
	if a.GUID != "" {
		return "guid:" + a.GUID
	}
	return "link:" + a.Link + "\x00" + a.Title + "\x00" + a.RawCreatedDate
}

// Article returns one article by guid. The detail answer has no "success"
// wrapper; an unknown guid gives an [*APIError] that is errors.Is
// [ErrNotFound].
//
// GET /v2/articles/{guid}
func (c *Client) Article(ctx context.Context, guid string) (*Article, error) {
	if guid == "" || guid == "." || guid == ".." {
		return nil, fmt.Errorf("passivetotal: article: %w %q", ErrInvalidGUID, guid)
	}
	res, err := c.get(ctx, &call{
		endpoint: EndpointArticle,
		path:     "/articles/" + guid,
		rawPath:  "/articles/" + url.PathEscape(guid),
	})
	if err != nil {
		return nil, c.scrub(fmt.Errorf("passivetotal: article %q: %w", guid, err))
	}
	a, err := decodeArticle(res.body)
	if err != nil {
		return nil, c.scrub(fmt.Errorf("passivetotal: article %q: %w", guid, c.checkDecoded(err, res.status)))
	}
	if a.GUID == "" {
		a.GUID = guid
	}
	return a, nil
}

type articlesWire struct {
	errorFields
	Success      *bool          `json:"success"`
	TotalRecords *int           `json:"totalRecords"`
	Articles     *[]articleWire `json:"articles"`
}

type articleWire struct {
	GUID          string           `json:"guid"`
	Title         string           `json:"title"`
	Summary       string           `json:"summary"`
	Content       string           `json:"content"`
	Body          string           `json:"body"`
	Type          string           `json:"type"`
	PublishedDate flexTime         `json:"publishedDate"`
	CreatedDate   flexTime         `json:"createdDate"`
	Link          string           `json:"link"`
	Categories    stringList       `json:"categories"`
	Tags          stringList       `json:"tags"`
	Indicators    []indicatorsWire `json:"indicators"`
}

type indicatorsWire struct {
	Type   string     `json:"type"`
	Count  *int       `json:"count"`
	Values stringList `json:"values"`
	Source string     `json:"source"`
}

func (w *articleWire) article() Article {
	a := Article{
		GUID:             w.GUID,
		Title:            w.Title,
		Summary:          w.Summary,
		Content:          w.Content,
		Type:             w.Type,
		PublishedDate:    w.PublishedDate.Time,
		RawPublishedDate: w.PublishedDate.Raw,
		CreatedDate:      w.CreatedDate.Time,
		RawCreatedDate:   w.CreatedDate.Raw,
		Link:             w.Link,
		Categories:       nonNil(w.Categories),
		Tags:             nonNil(w.Tags),
		Indicators:       make([]IndicatorGroup, 0, len(w.Indicators)),
	}
	if a.Content == "" {
		a.Content = w.Body
	}
	for _, g := range w.Indicators {
		ig := IndicatorGroup{Type: g.Type, Values: nonNil(g.Values), Source: g.Source}
		if g.Count != nil {
			ig.Count = *g.Count
		} else {
			ig.Count = len(ig.Values)
		}
		a.Indicators = append(a.Indicators, ig)
	}
	return a
}

func nonNil(l stringList) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// decodeArticlesPage decodes a list answer: it must say "success": true and
// hold an articles array.
func decodeArticlesPage(body []byte) (*ArticlesPage, error) {
	if !isJSONObject(body) {
		return nil, &DecodeError{Endpoint: EndpointArticles, Err: errNotObject}
	}
	var w articlesWire
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, &DecodeError{Endpoint: EndpointArticles, Err: err}
	}
	msg, isErr := w.reported()
	if isErr || (msg != "" && (w.Articles == nil || w.Success == nil || !*w.Success)) {
		return nil, &APIError{Endpoint: EndpointArticles, Status: http.StatusOK, Message: msg, Body: excerpt(body), jsonBody: true}
	}
	switch {
	case w.Success == nil:
		return nil, &DecodeError{Endpoint: EndpointArticles, Err: errNoSuccess}
	case !*w.Success:
		return nil, &DecodeError{Endpoint: EndpointArticles, Err: errUnsuccessful}
	case w.Articles == nil:
		return nil, &DecodeError{Endpoint: EndpointArticles, Err: errNoArticles}
	}
	p := &ArticlesPage{Articles: make([]Article, len(*w.Articles))}
	for i := range *w.Articles {
		p.Articles[i] = (*w.Articles)[i].article()
	}
	if w.TotalRecords != nil {
		p.TotalRecords = *w.TotalRecords
	} else {
		p.TotalRecords = len(p.Articles)
	}
	return p, nil
}

type articleDetailWire struct {
	errorFields
	Success *bool `json:"success"`
	articleWire
}

var errNotArticle = errors.New("answer has neither a guid nor a title")

// decodeArticle decodes a detail answer: a bare article object.
func decodeArticle(body []byte) (*Article, error) {
	if !isJSONObject(body) {
		return nil, &DecodeError{Endpoint: EndpointArticle, Err: errNotObject}
	}
	var w articleDetailWire
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, &DecodeError{Endpoint: EndpointArticle, Err: err}
	}
	msg, isErr := w.reported()
	noArticle := w.GUID == "" && w.Title == ""
	if isErr || (msg != "" && noArticle) {
		return nil, &APIError{Endpoint: EndpointArticle, Status: http.StatusOK, Message: msg, Body: excerpt(body), jsonBody: true}
	}
	if w.Success != nil && !*w.Success {
		return nil, &DecodeError{Endpoint: EndpointArticle, Err: errUnsuccessful}
	}
	if noArticle {
		return nil, &DecodeError{Endpoint: EndpointArticle, Err: errNotArticle}
	}
	a := w.article()
	return &a, nil
}
