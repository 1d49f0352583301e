package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/riskiq-opencti/connectors/opencti/api"
)

// Example registers a connector the way a runtime does at start-up: health
// check, capability probe, registration.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case bytes.Contains(body, []byte("healthCheck")):
			_, _ = io.WriteString(w, `{"data":{"about":{"version":"6.9.7"}}}`)
		case bytes.Contains(body, []byte("ApiCompatibility")):
			_, _ = io.WriteString(w, `{"data":{"about":{"version":"6.9.7"},
				"registerConnectorInput":{"inputFields":[{"name":"id"}]},
				"connector":{"fields":[{"name":"id"}]},"connectorConfig":{"fields":[{"name":"listen"}]}}}`)
		default:
			_, _ = io.WriteString(w, `{"data":{"registerConnector":{"id":"5a8f3f1e-2b8e-4d0c-9f67-2f8f0f0b1c11",
				"connector_state":null,"connector_user_id":"88ec0c6a-13ce-5e39-b486-354fe4a7084f",
				"config":{"connection":{"host":"rabbitmq","vhost":"/","use_ssl":false,"port":5672,"user":"opencti","pass":"changeme"},
				"listen":"listen_5a8f","listen_routing":"listen_routing_5a8f","listen_exchange":"amqp.connector.exchange",
				"push":"push_5a8f","push_routing":"push_routing_5a8f","push_exchange":"amqp.worker.exchange"}}}}`)
		}
	}))
	defer srv.Close()

	ctx := context.Background()
	client, err := api.New(srv.URL, "my-token")
	if err != nil {
		fmt.Println(err)
		return
	}
	version, err := client.HealthCheck(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	caps, err := client.Introspect(ctx)
	if err != nil {
		caps = nil // introspection refused: register with the 6.x baseline
	}
	reg, err := client.RegisterConnector(ctx, api.RegisterInput{
		ID:                   "5a8f3f1e-2b8e-4d0c-9f67-2f8f0f0b1c11",
		Name:                 "RiskIQ PassiveTotal",
		Type:                 "INTERNAL_ENRICHMENT",
		Scope:                []string{"IPv4-Addr", "Domain-Name"},
		EnrichmentResolution: "none",
		PlaybookCompatible:   true,
	}, caps)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("platform", version)
	fmt.Println("listen", reg.Config.Listen)
	fmt.Println("broker", reg.Config.Connection)
	// Output:
	// platform 6.9.7
	// listen listen_5a8f
	// broker {Host:rabbitmq VHost:/ User:opencti Pass:REDACTED UseSSL:false Port:5672}
}
