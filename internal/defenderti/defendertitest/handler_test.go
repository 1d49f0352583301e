package defendertitest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	"github.com/riskiq-opencti/connectors/internal/defenderti/defendertitest"
)

func TestDefaultDataLoads(t *testing.T) {
	d := defendertitest.DefaultData()
	if got := strings.Join(d.Hosts(), ","); got != "192.0.2.10,2001:db8::10,malicious.example" {
		t.Errorf("hosts %s", got)
	}
	if got := strings.Join(d.ArticleIDs(), ","); got != "3f9c01ab,a272d5ab,e86878b1" {
		t.Errorf("articles %s", got)
	}
}

// token gets a token with the secret through the raw protocol.
func token(t *testing.T, srv *defendertitest.Server, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := srv.Client().PostForm(srv.AuthorityURL()+"/"+srv.TenantID()+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func get(t *testing.T, srv *defendertitest.Server, tok, rel string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/security/threatIntelligence/"+rel, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("%s: %v: %s", rel, err, raw)
	}
	return resp.StatusCode, body
}

func TestTokenAndGraphProtocol(t *testing.T) {
	srv := defendertitest.NewServer(t)
	good := url.Values{"grant_type": {"client_credentials"}, "client_id": {srv.ClientID()}, "client_secret": {srv.ClientSecret()},
		"scope": {"https://graph.microsoft.com/.default openid offline_access profile"}}
	status, body := token(t, srv, good)
	if status != 200 || body["token_type"] != "Bearer" || body["expires_in"] != float64(3599) {
		t.Fatalf("token: %d %v", status, body)
	}
	tok := body["access_token"].(string)

	for _, tc := range []struct {
		name   string
		change func(url.Values)
		status int
		code   float64
	}{
		{"wrong secret", func(v url.Values) { v.Set("client_secret", "nope") }, 401, 7000215},
		{"no credential", func(v url.Values) { v.Del("client_secret") }, 401, 7000218},
		{"unknown client", func(v url.Values) { v.Set("client_id", "x") }, 400, 700016},
		{"wrong scope", func(v url.Values) { v.Set("scope", "https://management.azure.com/.default") }, 400, 1002012},
		{"bad grant", func(v url.Values) { v.Set("grant_type", "password") }, 400, 70003},
		{"bad assertion", func(v url.Values) {
			v.Del("client_secret")
			v.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
			v.Set("client_assertion", "a.b.c")
		}, 401, 700027},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{}
			for k, v := range good {
				form[k] = append([]string(nil), v...)
			}
			tc.change(form)
			status, body := token(t, srv, form)
			codes, _ := body["error_codes"].([]any)
			if status != tc.status || len(codes) != 1 || codes[0] != tc.code || body["trace_id"] == "" {
				t.Errorf("%d %v", status, body)
			}
		})
	}

	if status, body := get(t, srv, "", "hosts/malicious.example/passiveDns"); status != 401 ||
		body["error"].(map[string]any)["code"] != "InvalidAuthenticationToken" {
		t.Errorf("no token: %d %v", status, body)
	}
	status, body = get(t, srv, tok, "hosts('malicious.example')/passiveDns?$filter=recordType%20eq%20'A'&$count=true")
	if status != 200 || body["@odata.count"] != float64(2) {
		t.Errorf("key syntax + filter: %d %v", status, body)
	}
	status, body = get(t, srv, tok, "hosts/malicious.example/passiveDns?$top=2&$orderby=lastSeenDateTime%20desc")
	next, _ := body["@odata.nextLink"].(string)
	if status != 200 || !strings.HasPrefix(next, srv.URL()+"/security/threatIntelligence/hosts/malicious.example/passiveDns?") ||
		!strings.HasSuffix(next, "$top=2&$orderby=lastSeenDateTime%20desc&$skip=2") {
		t.Errorf("nextLink %q", next)
	}
	for _, bad := range []string{"$filter=lastSeenDateTime%20gt%202026-01-01", "$orderby=recordType", "$expand=artifact", "$top=x"} {
		if status, body := get(t, srv, tok, "hosts/malicious.example/passiveDns?"+bad); status != 400 {
			t.Errorf("%s: %d %v", bad, status, body)
		}
	}
	if status, _ := get(t, srv, tok, "articles/ffffffff"); status != 404 {
		t.Errorf("unknown article: %d", status)
	}
	if srv.Calls(defendertitest.EndpointPassiveDNS) != 7 || srv.Calls("hosts/malicious.example/passiveDns") != 7 {
		t.Errorf("calls %d", srv.Calls(defendertitest.EndpointPassiveDNS))
	}
}

// TestNoTestingDependency keeps package testing out of what riskiqctl links.
func TestNoTestingDependency(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/riskiq-opencti/connectors/internal/defenderti/defendertitest").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "testing" {
			t.Fatal("defendertitest imports package testing")
		}
	}
}
