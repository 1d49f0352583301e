package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/riskiq-opencti/connectors/internal/articles"
	"github.com/riskiq-opencti/connectors/internal/defenderti"
	"github.com/riskiq-opencti/connectors/internal/defenderti/defendertitest"
	"github.com/riskiq-opencti/connectors/opencti/openctitest"
)

// defenderEnv is the connector's environment with RISKIQ_SOURCE=defender
// against the fake Graph (no RiskIQ credentials), importing from
// 2026-09-01 so that the fake's built-in articles are in, whatever the
// date.
func defenderEnv(octi *openctitest.Server, graph *defendertitest.Server, extra map[string]string) map[string]string {
	env := map[string]string{
		"OPENCTI_URL": octi.URL, "OPENCTI_TOKEN": octi.Token(), "CONNECTOR_ID": uuid.NewString(),
		"CONNECTOR_LOG_LEVEL": "debug", "CONNECTOR_RUN_AND_TERMINATE": "true",
		"RISKIQ_SOURCE": "defender", "RISKIQ_IMPORT_FROM_TIMESTAMP": "1788220800",
		"DEFENDER_TI_TENANT_ID": graph.TenantID(), "DEFENDER_TI_CLIENT_ID": graph.ClientID(),
		"DEFENDER_TI_CLIENT_SECRET": graph.ClientSecret(), "DEFENDER_TI_BASE_URL": graph.URL(),
		"DEFENDER_TI_AUTHORITY_URL": graph.AuthorityURL(), "DEFENDER_TI_PAGE_SIZE": "2",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// waitComplete waits until the work has been processed by the worker.
func waitComplete(t *testing.T, ctx context.Context, octi *openctitest.Server, id string) openctitest.Work {
	t.Helper()
	for {
		if w, _ := octi.Work(id); w.Status == openctitest.StatusComplete {
			return w
		}
		select {
		case <-ctx.Done():
			t.Fatal("the work never completed")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// checkDefenderLogs checks the logs are pycti JSON lines without the client
// secret, a token or the OpenCTI token.
func checkDefenderLogs(t *testing.T, logs, token string, graph *defendertitest.Server) {
	t.Helper()
	checkLogs(t, logs, token)
	if strings.Contains(logs, graph.ClientSecret()) || strings.Contains(logs, "Bearer ") {
		t.Error("the client secret or a token appears in the logs")
	}
}

// TestIntegrationDefenderRunAndTerminate runs the connector with
// RISKIQ_SOURCE=defender against the fake Graph and token endpoint,
// openctitest and the real RabbitMQ: the articles become reports (tags
// resolved against the platform), the work is closed and completed by the
// worker, the Defender cursor is on the platform, one token served the
// whole run; a second start before the interval does nothing (a run that
// finds nothing new is in the second-run golden of internal/articles).
func TestIntegrationDefenderRunAndTerminate(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: RabbitMQ")
	}
	t.Parallel()
	octi := openctitest.NewServer(t, openctitest.WithStrict())
	if _, err := octi.AddDomainObject("Malware", "ExampleLoader", nil); err != nil {
		t.Fatal(err)
	}
	graph := defendertitest.NewServer(t)
	env := defenderEnv(octi, graph, nil)
	opts := []defenderti.Option{defenderti.WithHTTPClient(graph.Client())}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var logs syncBuffer
	if code := runWith(ctx, nil, envOf(env), &logs, &logs, opts); code != 0 {
		t.Fatalf("run = %d\n%s", code, logs.String())
	}
	works := connectorWorks(octi, env["CONNECTOR_ID"])
	want := "3 articles read, 2 reports sent (35 objects), 1 without indicators or known entities, " +
		"3 indicators of types without a STIX mapping skipped"
	if len(works) != 1 || len(works[0].Errors) != 0 || strings.Join(works[0].Messages, "") != want {
		t.Fatalf("works = %+v, want one processed: %s", works, want)
	}
	waitComplete(t, ctx, octi, works[0].ID)
	c, _ := octi.Connector(env["CONNECTOR_ID"])
	var st map[string]any
	if c.State == nil || json.Unmarshal([]byte(*c.State), &st) != nil ||
		st[articles.StateDefenderLastUpdated] != "2026-11-20T15:40:03.007Z" || st[articles.StateLatestArticle] != nil {
		t.Errorf("platform state = %v", c.State)
	}
	if n := graph.Calls(defendertitest.EndpointToken); n != 1 {
		t.Errorf("%d tokens requested, want 1 for the whole run", n)
	}

	// Before the interval: no run.
	if code := runWith(ctx, nil, envOf(env), &logs, &logs, opts); code != 0 {
		t.Fatalf("second run = %d", code)
	}
	if n := len(connectorWorks(octi, env["CONNECTOR_ID"])); n != 1 {
		t.Errorf("%d works after the second start, want no new run before the interval", n)
	}
	checkDefenderLogs(t, logs.String(), octi.Token(), graph)
}

// TestIntegrationDefenderAccessDenied: a 403 from Graph (the application
// permission missing) closes the work in error with Graph's message and the
// permission to grant; the process exits 1.
func TestIntegrationDefenderAccessDenied(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: RabbitMQ")
	}
	t.Parallel()
	octi := openctitest.NewServer(t, openctitest.WithStrict())
	graph := defendertitest.NewServer(t)
	graph.Fail(defendertitest.EndpointArticles, http.StatusForbidden, 0, 0)
	env := defenderEnv(octi, graph, nil)
	var logs syncBuffer
	if code := runWith(t.Context(), nil, envOf(env), &logs, &logs, []defenderti.Option{defenderti.WithHTTPClient(graph.Client())}); code != 1 {
		t.Fatalf("run = %d, want 1\n%s", code, logs.String())
	}
	works := connectorWorks(octi, env["CONNECTOR_ID"])
	if len(works) != 1 || len(works[0].Errors) != 1 || !strings.Contains(works[0].Errors[0], "ThreatIntelligence.Read.All") ||
		!strings.Contains(works[0].Errors[0], "403") {
		t.Errorf("works = %+v, want one in error naming the permission", works)
	}
	checkDefenderLogs(t, logs.String(), octi.Token(), graph)
}

// TestDefenderCheckWithoutRiskIQCredentials: -check accepts a defender
// configuration without RISKIQ_USER and RISKIQ_PASSWORD, and names the
// missing DEFENDER_TI_* settings otherwise.
func TestDefenderCheckWithoutRiskIQCredentials(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"OPENCTI_URL": "http://opencti:8080", "OPENCTI_TOKEN": "tok", "CONNECTOR_ID": uuid.NewString(),
		"RISKIQ_SOURCE": "defender", "DEFENDER_TI_TENANT_ID": "72f988bf-86f1-41af-91ab-2d7cd011db47",
		"DEFENDER_TI_CLIENT_ID": "00001111-aaaa-2222-bbbb-3333cccc4444", "DEFENDER_TI_CLIENT_SECRET": "s3cr3t-never-printed",
	}
	var out, errOut syncBuffer
	if code := runContext(t.Context(), []string{"-check"}, envOf(env), &out, &errOut); code != 0 {
		t.Fatalf("-check = %d\n%s%s", code, out.String(), errOut.String())
	}
	delete(env, "DEFENDER_TI_CLIENT_ID")
	if code := runContext(t.Context(), []string{"-check"}, envOf(env), &out, &errOut); code == 0 ||
		!strings.Contains(out.String()+errOut.String(), "DEFENDER_TI_CLIENT_ID") {
		t.Errorf("-check without the client id = %d\n%s%s", code, out.String(), errOut.String())
	}
	if strings.Contains(out.String()+errOut.String(), "s3cr3t-never-printed") {
		t.Error("the client secret was printed")
	}
}
