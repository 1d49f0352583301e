package articles_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
	"github.com/riskiq-opencti/connectors/opencti"
	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// objectPlatform is a fakePlatform that also sends objects not yet encoded,
// as *opencti.Helper does: it encodes them as the run did and records them.
type objectPlatform struct {
	*fakePlatform
	objectSends atomic.Int64
}

func (p *objectPlatform) SendObjects(ctx context.Context, objects []any, o opencti.SendOptions) (int, error) {
	p.objectSends.Add(1)
	b, err := stix.NewBundle(objects...).MarshalJSON()
	if err != nil {
		return 0, err
	}
	return p.fakePlatform.SendBundle(ctx, b, o)
}

// TestRunSendsObjectsWhenThePlatformCan: with a platform that has
// SendObjects (the Helper), every bundle goes through it, with the objects
// of the goldens.
func TestRunSendsObjectsWhenThePlatformCan(t *testing.T) {
	t.Parallel()
	for _, c := range cases(t) {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			data := c.data(t)
			_, src := c.source(t, passivetotaltest.WithData(data))
			p := &objectPlatform{fakePlatform: newFakePlatform(c.State)}
			l := &fakeLister{objects: c.DomainObjects}
			if err := c.importer(t, src, p, l).Run(t.Context()); err != nil {
				t.Fatalf("Run() = %v", err)
			}
			gotBundles := p.goldenBundles(t)
			if got := p.objectSends.Load(); got != int64(len(gotBundles)) {
				t.Errorf("%d bundles, %d sent through SendObjects", len(gotBundles), got)
			}
			sortBundles(gotBundles, data)
			compareGolden(t, c.goldenPath("bundles.golden.json"), gotBundles)
		})
	}
}
