//go:build !noinfluxdb2

package main

import (
	"os"

	"github.com/tinymapper/tinymapper/data/sink/influxdb2"
)

// TOKEN is the InfluxDB token, read from the environment as
// mapper-framework reads it; it is never logged.
func init() {
	sinkKinds = append(sinkKinds, influxdb2.Kind{Token: os.Getenv("TOKEN"), Secrets: pushSecrets})
}
