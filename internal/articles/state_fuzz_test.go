package articles_test

import (
	"bytes"
	"context"
	"encoding/json"
	"iter"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/riskiq-opencti/connectors/internal/articles"
)

// noArticles is a Source without any article.
type noArticles struct{}

func (noArticles) Articles(context.Context, *time.Time) iter.Seq2[articles.Article, error] {
	return func(func(articles.Article, error) bool) {}
}

func (noArticles) Article(context.Context, string) (articles.Article, error) {
	return articles.Article{}, articles.ErrNotFound
}

// sdkStatePlatform decodes the state as the SDK's Helper.State does (numbers as
// json.Number).
type sdkStatePlatform struct{ *fakePlatform }

func (p sdkStatePlatform) State(v any) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == nil {
		return false, nil
	}
	dec := json.NewDecoder(bytes.NewReader(p.state))
	dec.UseNumber()
	return true, dec.Decode(v)
}

// FuzzImportState runs the importer on any connector state the platform may hand back
// (the state is operator-editable in the platform's UI): the run never fails nor panics
// because of it, the timestamps it keeps are valid Unix timestamps, and the keys it does
// not own are kept as they were.
func FuzzImportState(f *testing.F) {
	for _, s := range []string{
		`{"latest_run_timestamp": 1723705200, "latest_article_timestamp": 1723705100}`,
		`{"latest_run_timestamp": "1723705200", "latest_article_timestamp": " 17 "}`,
		`{"latest_run_timestamp": 1.7e9, "latest_article_timestamp": -5}`,
		`{"latest_run_timestamp": 1e308, "latest_article_timestamp": 9223372036854775807}`,
		`{"latest_run_timestamp": null, "latest_article_timestamp": [1]}`,
		`{"latest_run_timestamp": {"x": 1}, "other": {"nested": [1, "a", null]}}`,
		`{"latest_run_timestamp": 99999999999999999999, "latest_article_timestamp": "0x10"}`,
		`{"latest_run_timestamp": true, "latest_article_timestamp": "\u0000"}`,
		`{"other": "kept"}`,
		`{"latest_run_timestamp": 1e999, "latest_article_timestamp": 1723705100, "other": 12345678901234567890}`,
		`{"latest_run_timestamp": 1723705200.9, "latest_article_timestamp": 1.7237051e9}`,
	} {
		f.Add(s)
	}
	now := time.Date(2024, 8, 15, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		// The SDK keeps a state only when it is a non-empty JSON object (opencti.Helper.State).
		var in map[string]any
		if json.Unmarshal([]byte(raw), &in) != nil || len(in) == 0 {
			return
		}
		p := newFakePlatform(nil)
		p.state = []byte(raw)
		im, err := articles.NewImporter(articles.Config{
			Source: noArticles{}, Platform: sdkStatePlatform{p}, Lister: &fakeLister{},
			Interval: time.Hour, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now },
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := im.Run(t.Context()); err != nil {
			t.Fatalf("Run() with state %s = %v", raw, err)
		}
		var out map[string]any
		if p.state != nil {
			if err := json.Unmarshal(p.state, &out); err != nil {
				t.Fatalf("state after the run %s is not a JSON object: %v", p.state, err)
			}
		}
		for _, k := range []string{articles.StateLatestRun, articles.StateLatestArticle} {
			v, ok := out[k]
			if !ok || v == nil {
				continue
			}
			if !validTimestamp(v) {
				t.Errorf("state %s after the run: %s = %v, want a Unix timestamp", raw, k, v)
			}
		}
		for k, v := range in {
			if k == articles.StateLatestRun || k == articles.StateLatestArticle {
				continue
			}
			if diff := cmp.Diff(v, out[k]); diff != "" {
				t.Errorf("state key %q not kept by the run (-before +after):\n%s", k, diff)
			}
		}
	})
}

// validTimestamp reports whether v, decoded from JSON, is what the Python connector
// reads as a Unix timestamp: a non-negative number or decimal string.
func validTimestamp(v any) bool {
	switch v := v.(type) {
	case float64:
		return v >= 0 && !math.IsInf(v, 0) && !math.IsNaN(v)
	case string: // Python's int() ignores surrounding white space
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return err == nil && n >= 0
	}
	return false
}
