//go:build !nohttppush

package main

import "github.com/tinymapper/tinymapper/data/sink/httppush"

func init() { sinkKinds = append(sinkKinds, httppush.Kind{}) }
