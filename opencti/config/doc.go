// Package config reads connector settings with the names, precedence and
// coercions of pycti's get_config_variable, so that a Go connector is a
// drop-in replacement for a Python one: the same environment variables, the
// same config.yml, the same defaults.
//
// # Resolution
//
// Every setting has an environment variable (CONNECTOR_LOG_LEVEL) and a
// two-level config.yml key (connector.log_level). A Source resolves it as
// pycti does:
//
//  1. the environment variable, when it exists, even set to "";
//  2. else the config.yml value, with its YAML type (PyYAML reads unquoted
//     yes/no/on/off as booleans, and so does this package);
//  3. else the default.
//
// An empty environment variable, or an empty or null YAML value, gives the
// default (pycti's "empty string means default"), so an env var set to ""
// hides the config.yml value. For numbers (Int, Float) an empty or null YAML
// value is a problem, as it makes pycti fail; an empty environment variable
// still gives the default there (pycti would fail: this package is lenient).
//
// Booleans: pycti reads exactly yes/true/True and no/false/False; this package
// also accepts on/off/1/0 in any case and records a warning, since pycti
// would have treated them as (truthy) strings. Numbers are parsed like
// Python's int() and float(). Durations are ISO-8601 (ParseDuration), "0"
// meaning zero, or a YAML number of seconds. Lists are split on commas and
// trimmed.
//
// # Problems and warnings
//
// Getters never fail: an invalid or missing value gives the default and is
// recorded as a *Problem naming the environment variable, the config.yml key,
// the value (REDACTED for secrets) and what is accepted. Source.Validate
// returns them all at once. Source.Warnings lists non-fatal remarks,
// including config.yml keys nobody read, so that Python-era files keep
// working but typos are visible.
//
// # Secrets
//
// Tokens and passwords are Secret values: printing, logging or marshalling
// them yields "REDACTED"; Reveal returns the value.
//
// # SDK settings
//
// Load reads every setting the SDK itself needs (sections opencti, connector
// and mq of the protocol specification) and checks them; connectors read
// their own section with the same getters on the same Source, then call
// Validate and Warnings.
package config
