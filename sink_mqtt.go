//go:build !nomqtt

package main

import (
	"os"

	"github.com/tinymapper/tinymapper/data/sink/mqtt"
)

// MQTT_USERNAME and MQTT_PASSWORD log in to every broker that
// push.credentials names no file for (not USERNAME and PASSWORD, which
// mapper-framework's database sinks read: a Redis password would be sent
// to every broker). They are never logged.
func init() {
	sinkKinds = append(sinkKinds, mqtt.Kind{Username: os.Getenv("MQTT_USERNAME"), Password: os.Getenv("MQTT_PASSWORD"), Secrets: pushSecrets})
}
