//go:build !nomqtt

package main

import "github.com/tinymapper/tinymapper/data/sink/mqtt"

func init() { sinkKinds = append(sinkKinds, mqtt.Kind{}) }
