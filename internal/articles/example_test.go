package articles_test

import (
	"fmt"
	"time"

	"github.com/riskiq-opencti/connectors/internal/articles"
)

// An article with one private URL and a tag naming a known malware maps to
// the indicator, its observable, the malware, their relationships, the
// report and the author, with the Python connector's ids (no marking
// definition: the platform knows the TLP ones).
func ExampleConverter_Convert() {
	a := &articles.Article{
		GUID: "e86878b1", Title: "Spam Farm Spotted in the Wild",
		Link:    "https://community.riskiq.com/article/e86878b1",
		Created: time.Date(2021, 3, 5, 15, 31, 2, 0, time.UTC), CreatedRaw: "2021-03-05T15:31:02.000+0000",
		Published: time.Date(2021, 3, 5, 8, 0, 0, 0, time.UTC), PublishedRaw: "2021-03-05T08:00:00.000+0000",
		Tags:       []string{"Emotet"},
		Indicators: []articles.IndicatorGroup{{Type: "url", Values: []string{"https://example.com/evil.php"}, Source: "riskiq"}},
	}
	conv := articles.NewConverter(articles.Options{CreateObservables: true}, func() time.Time { return time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC) })
	res, err := conv.Convert(a, []articles.Entity{{Type: articles.EntityMalware, Name: "Emotet"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, o := range res.Objects {
		fmt.Println(o.ID())
	}
	// Output:
	// malware--36297121-bf18-56e1-b200-d39c9f9f5cee
	// indicator--c76db3f7-3ffd-5287-9f92-616310e4ea24
	// url--ba69d7d9-eb0d-59d0-8914-44ca30347966
	// relationship--0bf4f32a-113f-5bd8-b6c1-c9911e26a4b8
	// relationship--0caf137d-3ff5-5077-8b27-00e3b7d72f20
	// report--06f7f4d5-6ebb-5588-ac3d-a2f98d46c36f
	// identity--12206468-7cbe-566d-a9b5-c7b23a2e8818
}
