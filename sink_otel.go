//go:build !nootel

package main

import "github.com/tinymapper/tinymapper/data/sink/otlp"

func init() { sinkKinds = append(sinkKinds, otlp.Kind{}) }
