//go:build !noredis

package main

import (
	"os"

	"github.com/tinymapper/tinymapper/data/sink/redis"
)

// PASSWORD is the Redis password, read from the environment as
// mapper-framework reads it; it is never logged.
func init() {
	sinkKinds = append(sinkKinds, redis.Kind{Password: os.Getenv("PASSWORD"), Secrets: pushSecrets})
}
