package logging_test

import (
	"fmt"
	"os"

	"github.com/riskiq-opencti/connectors/opencti/logging"
)

func ExampleNew() {
	// A connector passes os.Stderr; text mode here, since JSON lines carry the time.
	log, err := logging.New(os.Stdout, logging.Options{Name: "RiskIQ PassiveTotal", Level: "info"})
	if err != nil {
		fmt.Println(err)
		return
	}
	log.Info("Connector registered", "id", "b2f4a3a6")
	log.Debug("not written at info level")
	log.Warn("Entity skipped", "reason", "TLP too high")
	// Output:
	// INFO:RiskIQ PassiveTotal:Connector registered
	// WARNING:RiskIQ PassiveTotal:Entity skipped
}
