package defenderti

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/riskiq-opencti/connectors/opencti/scrub"
)

// credential returns the credential in use and its generation, building it
// from the settings when there is none (first call, or after a 401).
func (c *Client) credential() (azcore.TokenCredential, uint64, error) {
	c.credMu.Lock()
	defer c.credMu.Unlock()
	if c.cred != nil {
		return c.cred, c.credGen, nil
	}
	cred, err := c.newCredential()
	if err != nil {
		return nil, c.credGen, err
	}
	c.cred = cred
	return cred, c.credGen, nil
}

// dropCredential discards the credential of generation gen, with its token
// cache, so that the next call fetches a new token (spec §1.3: on a Graph
// 401, refresh once). Concurrent callers that saw the same 401 drop it once.
// A credential given with WithCredential is kept.
func (c *Client) dropCredential(gen uint64) {
	c.credMu.Lock()
	defer c.credMu.Unlock()
	if c.customCred || gen != c.credGen {
		return
	}
	c.cred = nil
	c.credGen++
}

// newCredential builds the azidentity credential: the secret or the
// certificate of the settings, the configured authority without instance
// discovery, the client's HTTP client, no retries of its own (the client
// retries, with its clock).
func (c *Client) newCredential() (azcore.TokenCredential, error) {
	opts := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: strings.TrimRight(c.s.AuthorityURL, "/") + "/"},
		Transport: c.hc,
		Retry:     policy.RetryOptions{MaxRetries: -1},
		Telemetry: policy.TelemetryOptions{Disabled: true},
	}
	if c.s.ClientCertificate != "" {
		data, err := os.ReadFile(c.s.ClientCertificate)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("%w: read DEFENDER_TI_CLIENT_CERTIFICATE %s: %w", ErrAuthentication, c.s.ClientCertificate, err)
		}
		certs, key, err := azidentity.ParseCertificates(data, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: DEFENDER_TI_CLIENT_CERTIFICATE %s: want a PEM file with the private key and the certificate: %s",
				ErrAuthentication, c.s.ClientCertificate, scrub.Text(err.Error(), 200))
		}
		cred, err := azidentity.NewClientCertificateCredential(c.s.TenantID, c.s.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
		if err != nil {
			return nil, fmt.Errorf("%w: client certificate credential: %s", ErrAuthentication, scrub.Text(err.Error(), 300))
		}
		return cred, nil
	}
	cred, err := azidentity.NewClientSecretCredential(c.s.TenantID, c.s.ClientID, c.s.ClientSecret.Reveal(),
		&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
	if err != nil {
		return nil, fmt.Errorf("%w: client secret credential: %s", ErrAuthentication, scrub.Text(c.redact(err.Error()), 300))
	}
	return cred, nil
}

// token returns an access token for Graph (cached by azidentity) and the
// credential generation it came from. Failures are *AuthError when the
// token endpoint answered, else a transport error.
func (c *Client) token(ctx context.Context) (string, uint64, error) {
	cred, gen, err := c.credential()
	if err != nil {
		return "", gen, err
	}
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{Scope}})
	if err != nil {
		return "", gen, c.tokenError(err)
	}
	c.rememberToken(tok.Token)
	return tok.Token, gen, nil
}

// tokenError classifies a GetToken failure without repeating azidentity's
// multi-line message (it quotes the whole response).
func (c *Client) tokenError(err error) error {
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) && afe.RawResponse != nil {
		body, _ := runtime.Payload(afe.RawResponse)
		return parseAuthError(afe.RawResponse.StatusCode, afe.RawResponse.Header, body, c.now(), c.redact)
	}
	// No answer from the token endpoint (transport, timeout, discovery):
	// transient. The message may quote URLs, never the secret; redact anyway.
	msg := err.Error()
	if i := strings.Index(msg, "To troubleshoot"); i > 0 {
		msg = msg[:i]
	}
	return &tokenTransportError{msg: scrub.Text(c.redact(msg), 500), err: err}
}

// tokenTransportError is a token request that got no usable answer.
type tokenTransportError struct {
	msg string
	err error
}

func (e *tokenTransportError) Error() string { return "defender ti token request: " + e.msg }
func (e *tokenTransportError) Unwrap() error { return e.err }
