package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

const (
	// DefaultPort is the AMQP port used when Config.Port is 0 and UseSSL is false.
	DefaultPort = 5672
	// DefaultTLSPort is the AMQPS port used when Config.Port is 0 and UseSSL is true.
	DefaultTLSPort = 5671
	// DefaultHeartbeat is the heartbeat interval used when Config.Heartbeat is 0 (pycti uses 10 s).
	DefaultHeartbeat = 10 * time.Second
	// DefaultVHost is the virtual host used when Config.VHost is empty.
	DefaultVHost = "/"

	// handshakeTimeout bounds TCP connect, TLS and AMQP handshakes (amqp091's default).
	handshakeTimeout = 30 * time.Second
	// frameSize is RabbitMQ's own default frame_max, also amqp091's default.
	frameSize = 131072
)

// Config says how to reach RabbitMQ. The zero values of Port, VHost and Heartbeat select
// the defaults. Password is never printed by String, LogValue or GoString.
type Config struct {
	// Host is the broker host name or IP address.
	Host string
	// Port is the broker port; 0 selects DefaultPort, or DefaultTLSPort with UseSSL.
	Port int
	// VHost is the virtual host; "" selects "/".
	VHost string
	// User is the user name (PLAIN authentication).
	User string
	// Password is the user's password.
	Password string
	// UseSSL selects AMQP over TLS.
	UseSSL bool
	// TLS is the TLS client configuration used with UseSSL. When nil, certificates are not
	// verified, like pycti without MQ_USE_SSL_REJECT_UNAUTHORIZED. The server name defaults
	// to Host.
	TLS *tls.Config
	// Heartbeat is the AMQP heartbeat interval; 0 selects DefaultHeartbeat.
	Heartbeat time.Duration
	// ConnectionName is the client-provided connection name RabbitMQ shows in its management
	// UI and in `rabbitmqctl list_connections client_properties`.
	ConnectionName string
}

// Validate reports every problem of c at once; it does not touch the network.
func (c Config) Validate() error {
	var errs []error
	if c.Host == "" {
		errs = append(errs, errors.New("broker host is empty"))
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("broker port %d is out of range (0 for the default, or 1 to 65535)", c.Port))
	}
	if c.Heartbeat < 0 {
		errs = append(errs, fmt.Errorf("broker heartbeat %s is negative (0 for the default %s)", c.Heartbeat, DefaultHeartbeat))
	}
	return errors.Join(errs...)
}

func (c Config) port() int {
	switch {
	case c.Port != 0:
		return c.Port
	case c.UseSSL:
		return DefaultTLSPort
	default:
		return DefaultPort
	}
}

func (c Config) vhost() string {
	if c.VHost == "" {
		return DefaultVHost
	}
	return c.VHost
}

func (c Config) heartbeat() time.Duration {
	if c.Heartbeat <= 0 {
		return DefaultHeartbeat
	}
	return c.Heartbeat
}

func (c Config) addr() string {
	return net.JoinHostPort(c.Host, strconv.Itoa(c.port()))
}

// String returns c as an AMQP URL without the password, such as
// amqp://guest@127.0.0.1:5672/%2F?connection_name=listen. ConfigFromURL parses it back.
func (c Config) String() string {
	var b strings.Builder
	if c.UseSSL {
		b.WriteString("amqps://")
	} else {
		b.WriteString("amqp://")
	}
	if c.User != "" {
		b.WriteString(url.User(c.User).String())
		b.WriteByte('@')
	}
	// An IPv6 zone's "%" is written "%25" in a URL (RFC 6874).
	b.WriteString(strings.ReplaceAll(c.addr(), "%", "%25"))
	b.WriteByte('/')
	b.WriteString(url.PathEscape(c.vhost()))
	q := url.Values{}
	if c.Heartbeat > 0 && c.Heartbeat != DefaultHeartbeat {
		q.Set("heartbeat", strconv.FormatInt(int64(c.Heartbeat/time.Second), 10))
	}
	if c.ConnectionName != "" {
		q.Set("connection_name", c.ConnectionName)
	}
	if len(q) > 0 {
		b.WriteByte('?')
		b.WriteString(q.Encode())
	}
	return b.String()
}

// GoString returns the same as String, so that %#v does not print the password either.
func (c Config) GoString() string { return "broker.Config(" + c.String() + ")" }

// LogValue logs c as its String, without the password.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// ConfigFromURL parses an AMQP URL, amqp[s]://user:password@host:port/vhost, into a Config
// for tests and command-line tools. The scheme amqps sets UseSSL. The user name and password
// are percent-decoded; without user information both are empty. The port defaults to 5672
// (5671 for amqps). The vhost is the percent-decoded path without its leading slash, so the
// default vhost "/" is written %2F; an empty path or a lone "/" also select "/". The query
// may set heartbeat (whole seconds, 1 to 65535) and connection_name; other parameters are
// rejected. Errors never contain the password.
func ConfigFromURL(rawURL string) (Config, error) {
	// With user information in the URL, a reserved character left unescaped in the password
	// can move part of it into the host, port or query: then no value is quoted in errors.
	withheld := strings.Contains(rawURL, "@")
	quote := func(v string) string {
		if withheld {
			return "(withheld: the URL has credentials)"
		}
		return strconv.Quote(v)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		if withheld {
			return Config{}, errors.New("parse broker url: malformed URL (details withheld: it has credentials; percent-encode reserved characters in the user name and password)")
		}
		return Config{}, fmt.Errorf("parse broker url: %s", scrubURLError(err))
	}
	var c Config
	switch u.Scheme {
	case "amqp":
	case "amqps":
		c.UseSSL = true
	default:
		return Config{}, fmt.Errorf("parse broker url: scheme %q is not amqp or amqps", u.Scheme)
	}
	if u.Opaque != "" {
		return Config{}, errors.New("parse broker url: missing // after the scheme")
	}
	if u.Fragment != "" || u.RawFragment != "" {
		return Config{}, errors.New("parse broker url: fragments are not allowed")
	}
	if u.User != nil {
		c.User = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	c.Host = u.Hostname()
	if c.Host == "" {
		return Config{}, errors.New("parse broker url: missing host")
	}
	if strings.Contains(c.Host, ":") {
		if _, err := netip.ParseAddr(c.Host); err != nil || !strings.HasPrefix(u.Host, "[") {
			return Config{}, fmt.Errorf("parse broker url: host %s is not a host name or a bracketed IPv6 address", quote(c.Host))
		}
	} else if !isHostName(c.Host) {
		// net/url accepts more in a host (e.g. "%25" decoded to "%", sub-delimiters) than
		// any broker name can hold, and not all of it would print back the same.
		return Config{}, fmt.Errorf("parse broker url: host %s is not a host name (letters, digits, '-', '.', '_'; "+
			"international names in their xn-- form) or an IP address", quote(c.Host))
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Config{}, fmt.Errorf("parse broker url: port %s is not between 1 and 65535", quote(p))
		}
		c.Port = n
	} else {
		c.Port = c.port()
	}
	c.VHost, err = vhostFromPath(u.EscapedPath())
	if err != nil {
		return Config{}, fmt.Errorf("parse broker url: %w", err)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Config{}, errors.New("parse broker url: malformed query")
	}
	for key, values := range q {
		if len(values) != 1 {
			return Config{}, fmt.Errorf("parse broker url: query parameter %s given %d times", quote(key), len(values))
		}
		v := values[0]
		switch key {
		case "heartbeat":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 65535 {
				return Config{}, fmt.Errorf("parse broker url: heartbeat %s is not a number of seconds between 1 and 65535", quote(v))
			}
			c.Heartbeat = time.Duration(n) * time.Second
		case "connection_name":
			c.ConnectionName = v
		default:
			return Config{}, fmt.Errorf("parse broker url: unknown query parameter %s (accepted: heartbeat, connection_name)", quote(key))
		}
	}
	return c, nil
}

// isHostName reports whether h is made of ASCII letters, digits, '-', '.' and '_' only
// (underscores appear in container names).
func isHostName(h string) bool {
	for i := 0; i < len(h); i++ {
		switch b := h[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '-', b == '.', b == '_':
		default:
			return false
		}
	}
	return h != ""
}

func vhostFromPath(escaped string) (string, error) {
	if escaped == "" || escaped == "/" {
		return DefaultVHost, nil
	}
	raw := strings.TrimPrefix(escaped, "/")
	if strings.Contains(raw, "/") {
		return "", errors.New("vhost path has more than one segment (write / inside a vhost as %2F)")
	}
	v, err := url.PathUnescape(raw)
	if err != nil {
		return "", errors.New("vhost has an invalid percent-encoding")
	}
	return v, nil
}

// scrubURLError returns the reason of a net/url error without the URL (which may hold the
// password) and without the text of a bad escape (which may be part of it).
func scrubURLError(err error) string {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	var escErr url.EscapeError
	if errors.As(err, &escErr) {
		return "invalid percent-encoding"
	}
	return err.Error()
}

// dial opens an AMQP connection. ctx bounds the TCP, TLS and AMQP handshakes; it has no
// effect on the connection once open.
func (c Config) dial(ctx context.Context) (*amqp.Connection, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: handshakeTimeout}
	conn, err := d.DialContext(ctx, "tcp", c.addr())
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", c.addr(), err)
	}
	if err := conn.SetDeadline(time.Now().Add(handshakeTimeout)); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("dial %s: %w", c.addr(), err)
	}
	// Cancelling ctx during the handshakes makes every pending read and write fail.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })

	if c.UseSSL {
		tlsConn := tls.Client(conn, c.tlsConfig())
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			stop()
			_ = conn.Close()
			return nil, fmt.Errorf("tls handshake with %s: %w", c.addr(), err)
		}
		conn = tlsConn
	}

	props := amqp.NewConnectionProperties()
	if c.ConnectionName != "" {
		props.SetClientConnectionName(c.ConnectionName)
	}
	ac, err := amqp.Open(conn, amqp.Config{
		SASL:       []amqp.Authentication{&amqp.PlainAuth{Username: c.User, Password: c.Password}},
		Vhost:      c.vhost(),
		Heartbeat:  c.heartbeat(),
		FrameSize:  frameSize,
		Locale:     "en_US",
		Properties: props,
	})
	cancelled := !stop()
	if err != nil {
		_ = conn.Close()
		if cancelled {
			return nil, fmt.Errorf("open amqp connection to %s: %w", c.addr(), ctx.Err())
		}
		return nil, fmt.Errorf("open amqp connection to %s: %w", c.addr(), err)
	}
	if cancelled {
		// The handshake won the race, but the deadline set by the cancellation may have
		// broken the socket: do not hand out this connection.
		_ = ac.CloseDeadline(time.Now().Add(time.Second))
		return nil, fmt.Errorf("open amqp connection to %s: %w", c.addr(), ctx.Err())
	}
	return ac, nil
}

func (c Config) tlsConfig() *tls.Config {
	var tc *tls.Config
	if c.TLS != nil {
		tc = c.TLS.Clone()
	} else {
		// pycti verifies the broker's certificate only when MQ_USE_SSL_REJECT_UNAUTHORIZED
		// is true; the caller passes a verifying tls.Config in that case.
		tc = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // pycti parity, see Config.TLS
	}
	if tc.ServerName == "" {
		tc.ServerName = c.Host
	}
	return tc
}

// isAuthError reports whether err from dial says the broker refused the credentials or
// the vhost.
func isAuthError(err error) bool {
	var ae *amqp.Error
	if !errors.As(err, &ae) {
		return false
	}
	return ae.Code == amqp.AccessRefused || ae.Code == amqp.NotAllowed
}
