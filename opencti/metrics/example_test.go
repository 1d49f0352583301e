package metrics_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/riskiq-opencti/connectors/opencti/metrics"
)

func ExampleMetrics() {
	m := metrics.New("opencti", "riskiq")
	m.SetState(metrics.StateRunning)
	m.BundleSent(2)
	m.RecordsSent(17)
	m.SetState(metrics.StateIdle)

	// In a connector: go m.Serve(ctx, ":9095", log)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "opencti_riskiq_") {
			fmt.Println(line)
		}
	}
	// Output:
	// opencti_riskiq_bundles_sent_total 2
	// opencti_riskiq_client_errors_total 0
	// opencti_riskiq_errors_total 0
	// opencti_riskiq_ping_api_errors_total 0
	// opencti_riskiq_ping_api_total 0
	// opencti_riskiq_records_sent_total 17
	// opencti_riskiq_requests_dropped_total 0
	// opencti_riskiq_runs_total 0
	// opencti_riskiq_state{opencti_riskiq_state="idle"} 1
	// opencti_riskiq_state{opencti_riskiq_state="running"} 0
	// opencti_riskiq_state{opencti_riskiq_state="stopped"} 0
}
