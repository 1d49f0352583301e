package opencti

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/riskiq-opencti/connectors/opencti/config"
)

// openctiTLS returns the trust settings of the OpenCTI client beyond OPENCTI_SSL_VERIFY:
// the PEM certificates of HTTPS_CA_CERTIFICATES, trusted in addition to the system roots
// (or the OPENCTI_SSL_VERIFY CA bundle) while verification is on, as pycti appends them to
// its CA bundle. It logs a warning when the platform is reached over https without
// verification (pycti's default, kept for drop-in compatibility), and says there that
// HTTPS_CA_CERTIFICATES has no effect then.
func openctiTLS(o config.OpenCTI, log *slog.Logger) ([]byte, error) {
	extra := strings.TrimSpace(o.ExtraCACertificates) != ""
	if !o.SSLVerify {
		if u, err := url.Parse(o.URL); err == nil && strings.EqualFold(u.Scheme, "https") {
			attrs := []any{"opencti_host", u.Host}
			if extra {
				attrs = append(attrs, "https_ca_certificates", "set but unused while verification is off")
			}
			log.Warn("OpenCTI TLS certificate verification is off (OPENCTI_SSL_VERIFY=false, pycti's default): "+
				"anyone on the path can read the token; set OPENCTI_SSL_VERIFY=true", attrs...)
		}
		return nil, nil
	}
	if !extra {
		return nil, nil
	}
	pemBytes, err := pemOrFile(o.ExtraCACertificates)
	if err != nil {
		return nil, fmt.Errorf("read HTTPS_CA_CERTIFICATES: %w", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pemBytes) {
		return nil, errors.New("HTTPS_CA_CERTIFICATES holds no PEM certificate (want PEM text starting with -----BEGIN CERTIFICATE----- or the path of a PEM file)")
	}
	return pemBytes, nil
}

// clientKeyPEM returns the PEM of MQ_USE_SSL_KEY ready for tls.X509KeyPair. A key in the
// legacy encrypted PEM form (a "Proc-Type: 4,ENCRYPTED" header, as `openssl rsa -aes256
// -traditional` writes) is decrypted with MQ_USE_SSL_PASSPHRASE, as Python's ssl does;
// other keys are returned unchanged and the passphrase, if any, is not used (as in pycti).
// An encrypted PKCS#8 key ("BEGIN ENCRYPTED PRIVATE KEY") cannot be decrypted with Go's
// standard library: it is refused with the conversion to use. Errors never contain the
// passphrase nor key material.
func clientKeyPEM(keyPEM []byte, passphrase string) ([]byte, error) {
	var out []byte
	rest := keyPEM
	for {
		block, r := pem.Decode(rest)
		if block == nil {
			break
		}
		rest = r
		switch {
		case block.Type == "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("MQ_USE_SSL_KEY is an encrypted PKCS#8 key (BEGIN ENCRYPTED PRIVATE KEY), which this connector cannot decrypt: " +
				"convert it to the legacy encrypted PEM form, e.g. openssl pkey -in key.pem -traditional -aes256 -out key-legacy.pem, " +
				"and give the passphrase in MQ_USE_SSL_PASSPHRASE, or use an unencrypted key")
		case x509.IsEncryptedPEMBlock(block): //nolint:staticcheck // SA1019: legacy PEM encryption is insecure by design (no integrity), but it is what openssl -traditional and pycti's keys use; the stdlib has no other way to read it
			if passphrase == "" {
				return nil, errors.New("MQ_USE_SSL_KEY is encrypted (Proc-Type: 4,ENCRYPTED): set MQ_USE_SSL_PASSPHRASE")
			}
			der, err := x509.DecryptPEMBlock(block, []byte(passphrase)) //nolint:staticcheck // SA1019: see IsEncryptedPEMBlock above; the only stdlib decrypter of legacy encrypted PEM keys
			if err != nil {
				if errors.Is(err, x509.IncorrectPasswordError) {
					return nil, errors.New("MQ_USE_SSL_PASSPHRASE does not decrypt MQ_USE_SSL_KEY (wrong passphrase)")
				}
				return nil, fmt.Errorf("decrypt MQ_USE_SSL_KEY: %w", err)
			}
			block = &pem.Block{Type: block.Type, Bytes: der}
		}
		out = append(out, pem.EncodeToMemory(block)...)
	}
	if out == nil {
		return keyPEM, nil // not PEM: tls.X509KeyPair says so
	}
	return out, nil
}
