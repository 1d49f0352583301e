package stix

import (
	"errors"
	"fmt"
	"maps"
	"time"
)

// valueObservable is the part shared by the observables identified by their "value".
type valueObservable struct {
	typ, id, value string
}

func newValueObservable(typ, value string) valueObservable {
	return valueObservable{typ: typ, id: stringID(typ, map[string]any{"value": value}), value: value}
}

// ID returns the observable's id: UUIDv5 of {"value": value}.
func (o *valueObservable) ID() string { return o.id }

// Type returns the observable's STIX type.
func (o *valueObservable) Type() string { return o.typ }

// Value returns the observable's value.
func (o *valueObservable) Value() string { return o.value }

func (o *valueObservable) marshal(c *ObservableCommon) ([]byte, error) {
	w := newObjectWriter(o.typ, o.id)
	if o.value == "" {
		w.fail(errors.New("value is required"))
	}
	w.str("value", o.value)
	w.scoTail(c)
	return w.finish()
}

// IPv4Addr is an ipv4-addr observable.
type IPv4Addr struct {
	valueObservable
	ObservableCommon
}

// NewIPv4Addr returns an ipv4-addr observable; its id is hashed from value as given.
func NewIPv4Addr(value string) *IPv4Addr {
	return &IPv4Addr{valueObservable: newValueObservable("ipv4-addr", value)}
}

// MarshalJSON writes the observable as STIX 2.1 JSON.
func (o *IPv4Addr) MarshalJSON() ([]byte, error) { return o.marshal(&o.ObservableCommon) }

// IPv6Addr is an ipv6-addr observable.
type IPv6Addr struct {
	valueObservable
	ObservableCommon
}

// NewIPv6Addr returns an ipv6-addr observable; its id is hashed from value as given.
func NewIPv6Addr(value string) *IPv6Addr {
	return &IPv6Addr{valueObservable: newValueObservable("ipv6-addr", value)}
}

// MarshalJSON writes the observable as STIX 2.1 JSON.
func (o *IPv6Addr) MarshalJSON() ([]byte, error) { return o.marshal(&o.ObservableCommon) }

// DomainName is a domain-name observable.
type DomainName struct {
	valueObservable
	ObservableCommon
}

// NewDomainName returns a domain-name observable; its id is hashed from value as given (no
// lower-casing: Example.com and example.com are different objects).
func NewDomainName(value string) *DomainName {
	return &DomainName{valueObservable: newValueObservable("domain-name", value)}
}

// MarshalJSON writes the observable as STIX 2.1 JSON.
func (o *DomainName) MarshalJSON() ([]byte, error) { return o.marshal(&o.ObservableCommon) }

// EmailAddr is an email-addr observable.
type EmailAddr struct {
	valueObservable
	ObservableCommon
}

// NewEmailAddr returns an email-addr observable; its id is hashed from value as given.
func NewEmailAddr(value string) *EmailAddr {
	return &EmailAddr{valueObservable: newValueObservable("email-addr", value)}
}

// MarshalJSON writes the observable as STIX 2.1 JSON.
func (o *EmailAddr) MarshalJSON() ([]byte, error) { return o.marshal(&o.ObservableCommon) }

// URL is a url observable.
type URL struct {
	valueObservable
	ObservableCommon
}

// NewURL returns a url observable; its id is hashed from value as given.
func NewURL(value string) *URL {
	return &URL{valueObservable: newValueObservable("url", value)}
}

// MarshalJSON writes the observable as STIX 2.1 JSON.
func (o *URL) MarshalJSON() ([]byte, error) { return o.marshal(&o.ObservableCommon) }

// Mutex is a mutex observable.
type Mutex struct {
	id, name string
	ObservableCommon
}

// NewMutex returns a mutex observable; its id is hashed from name as given.
func NewMutex(name string) *Mutex {
	return &Mutex{id: stringID("mutex", map[string]any{"name": name}), name: name}
}

// ID returns the observable's id: UUIDv5 of {"name": name}.
func (o *Mutex) ID() string { return o.id }

// Type returns "mutex".
func (o *Mutex) Type() string { return "mutex" }

// Name returns the mutex name.
func (o *Mutex) Name() string { return o.name }

// MarshalJSON writes the observable as STIX 2.1 JSON.
func (o *Mutex) MarshalJSON() ([]byte, error) {
	w := newObjectWriter("mutex", o.id)
	if o.name == "" {
		w.fail(errors.New("name is required"))
	}
	w.str("name", o.name)
	w.scoTail(&o.ObservableCommon)
	return w.finish()
}

// File is a file observable identified by its hashes and name.
type File struct {
	id     string
	name   string
	hashes map[string]string
	ObservableCommon
}

// NewFile returns a file observable. At least one of name and hashes is required. Hash
// algorithm names are normalised as stix2 does ("md5" → "MD5", "sha256" → "SHA-256") and
// values of known algorithms checked; the id is hashed from name and one hash (MD5, else
// SHA-1, SHA-256, SHA-512).
func NewFile(name string, hashes map[string]string) (*File, error) {
	f := &File{name: name}
	props := map[string]any{}
	if name != "" {
		props["name"] = name
	}
	if len(hashes) > 0 {
		norm, err := normalizeHashes(hashes)
		if err != nil {
			return nil, fmt.Errorf("new file: %w", err)
		}
		f.hashes = norm
		props["hashes"] = norm
	}
	if len(props) == 0 {
		return nil, errors.New("new file: name or hashes is required")
	}
	id, err := scoID("file", props)
	if err != nil {
		return nil, fmt.Errorf("new file: %w", err)
	}
	f.id = id
	return f, nil
}

// ID returns the observable's id.
func (o *File) ID() string { return o.id }

// Type returns "file".
func (o *File) Type() string { return "file" }

// Name returns the file name ("" when not given).
func (o *File) Name() string { return o.name }

// Hashes returns a copy of the normalised hashes.
func (o *File) Hashes() map[string]string { return maps.Clone(o.hashes) }

// MarshalJSON writes the observable as STIX 2.1 JSON.
func (o *File) MarshalJSON() ([]byte, error) {
	w := newObjectWriter("file", o.id)
	w.value("hashes", o.hashes)
	w.str("name", o.name)
	w.scoTail(&o.ObservableCommon)
	return w.finish()
}

// X509Certificate is an x509-certificate observable identified by its hashes and serial
// number.
type X509Certificate struct {
	id           string
	hashes       map[string]string
	serialNumber string
	// Issuer is the issuer's distinguished name.
	Issuer string
	// Subject is the subject's distinguished name.
	Subject string
	// ValidityNotBefore and ValidityNotAfter bound the validity period; zero is omitted.
	ValidityNotBefore, ValidityNotAfter time.Time
	ObservableCommon
}

// NewX509Certificate returns an x509-certificate observable. Its id is hashed from one hash
// and the serial number; a certificate with neither has no deterministic id (stix2 would
// draw a random one), so NewX509Certificate fails. Hashes are normalised as in NewFile.
func NewX509Certificate(hashes map[string]string, serialNumber string) (*X509Certificate, error) {
	c := &X509Certificate{serialNumber: serialNumber}
	props := map[string]any{}
	if serialNumber != "" {
		props["serial_number"] = serialNumber
	}
	if len(hashes) > 0 {
		norm, err := normalizeHashes(hashes)
		if err != nil {
			return nil, fmt.Errorf("new x509-certificate: %w", err)
		}
		c.hashes = norm
		props["hashes"] = norm
	}
	if len(props) == 0 {
		return nil, errors.New("new x509-certificate: hashes or serial number is required for a deterministic id")
	}
	id, err := scoID("x509-certificate", props)
	if err != nil {
		return nil, fmt.Errorf("new x509-certificate: %w", err)
	}
	c.id = id
	return c, nil
}

// ID returns the observable's id.
func (o *X509Certificate) ID() string { return o.id }

// Type returns "x509-certificate".
func (o *X509Certificate) Type() string { return "x509-certificate" }

// SerialNumber returns the serial number ("" when not given).
func (o *X509Certificate) SerialNumber() string { return o.serialNumber }

// Hashes returns a copy of the normalised hashes.
func (o *X509Certificate) Hashes() map[string]string { return maps.Clone(o.hashes) }

// MarshalJSON writes the observable as STIX 2.1 JSON.
func (o *X509Certificate) MarshalJSON() ([]byte, error) {
	w := newObjectWriter("x509-certificate", o.id)
	w.value("hashes", o.hashes)
	w.str("serial_number", o.serialNumber)
	w.str("issuer", o.Issuer)
	w.timestamp("validity_not_before", o.ValidityNotBefore, false)
	w.timestamp("validity_not_after", o.ValidityNotAfter, false)
	w.str("subject", o.Subject)
	w.scoTail(&o.ObservableCommon)
	return w.finish()
}
