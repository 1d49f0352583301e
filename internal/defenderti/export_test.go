package defenderti

// Exported for the fuzz tests of the error parsers.
var (
	ParseGraphError = parseGraphError
	ParseAuthError  = parseAuthError
	ParseTime       = parseTime
)
