//go:build !nomysql

package main

import "github.com/tinymapper/tinymapper/data/sink/mysql"

// The password is push.credentials' file for "mysql host:port", else
// PASSWORD, read at every connect; never logged.
func init() { sinkKinds = append(sinkKinds, mysql.Kind{Secrets: pushSecrets}) }
