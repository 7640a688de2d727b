package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestConfigFileAndFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte("common:\n  name: gw1\n  protocols: [i2c]\nreport:\n  rate: 2\n  burst: 4\n"), 0o600)
	cases := []struct {
		name  string
		args  []string
		check func(Config) bool
	}{
		{"defaults", nil, func(c Config) bool {
			return c.GRPCServer.SocketPath == "/etc/kubeedge/tinymapper.sock" && c.Common.EdgeCoreSock == "/etc/kubeedge/dmi.sock" &&
				c.Common.HTTPAddress == "127.0.0.1:7777" && len(c.Common.Protocols) == 5 && c.Report.Rate == 0.5 &&
				c.Report.Parallel == 8
		}},
		{"file", []string{"--config", file}, func(c Config) bool {
			return c.Common.Name == "gw1" && reflect.DeepEqual(c.Common.Protocols, []string{"i2c"}) && c.Report.Rate == 2 && c.Report.Burst == 4
		}},
		{"flag over file", []string{"--config", file, "--name", "gw2", "--report-rate", "0"}, func(c Config) bool {
			return c.Common.Name == "gw2" && c.Report.Rate == 0 && c.Report.Burst == 4
		}},
		{"parallel", []string{"--report-parallel", "8"}, func(c Config) bool {
			return c.Report.Parallel == 8
		}},
		{"protocol list", []string{"--protocols", " i2c, gpio ,"}, func(c Config) bool {
			return reflect.DeepEqual(c.Common.Protocols, []string{"i2c", "gpio"})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("config %+v", c)
			}
		})
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	file := func(name, text string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	typo := file("typo.yaml", "common:\n  nmae: x\n")
	creds := file("creds.yaml", "push:\n  credentials:\n    \"redis 10.0.0.5:6379\": /a\n    \"influxdb2 http://h:8086/api\": /b\n")
	noFile := file("nofile.yaml", "push:\n  credentials:\n    \"mysql h:3306\": \"\"\n")
	mqttBare := file("mqtt.yaml", "push:\n  credentials:\n    \"mqtt broker:1883\": /q\n")
	bigBuffer := file("buffer.yaml", "push:\n  buffer: 10000001\n")
	manyDests := file("dests.yaml", "push:\n  max_destinations: -1\n")
	tinySpool := file("spool.yaml", "push:\n  spool: {dir: /var/spool/tinymapper, max_bytes: 4095}\n")
	defaultTypo := file("default.yaml", "log_level: info\npush:\n  default:\n    mqtt: {adress: tcp://b:1883}\n")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--report-rate", "-1"}, "report.rate"},
		{[]string{"--report-burst", "0"}, "report.burst"},
		{[]string{"--report-parallel", "0"}, "report.parallel"},
		{[]string{"--name", ""}, "common.name"},
		{[]string{"--protocols", ","}, "common.protocols"},
		{[]string{"--config", typo}, "nmae"},
		{[]string{"stray"}, "stray"},
		{[]string{"--config", creds}, `push.credentials["influxdb2 http://h:8086/api"]`},
		{[]string{"--config", noFile}, `push.credentials["mysql h:3306"]: no file`},
		{[]string{"--config", mqttBare}, `push.credentials["mqtt broker:1883"]: the key must be`},
		{[]string{"--config", bigBuffer}, "push.buffer must be 0 (the default) to 10000000 samples, not 10000001"},
		{[]string{"--config", manyDests}, "push.max_destinations must be 0 (the default, 100) to 10000, not -1"},
		{[]string{"--config", tinySpool}, "push.spool.max_bytes must be 0 (the default, 67108864) or 4096 to 1099511627776, not 4095"},
		{[]string{"--config", defaultTypo}, "unknown key `adress` at line 4 (in push.default.mqtt); did you mean `address`?"},
	}
	for _, tc := range cases {
		_, err := loadConfig(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("loadConfig(%q) = %v; want an error naming %s", tc.args, err, tc.want)
		}
	}
}

func TestShippedConfigParses(t *testing.T) {
	c, err := loadConfig([]string{"--config", "deploy/config.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := loadConfig(nil)
	if !reflect.DeepEqual(c, d) {
		t.Errorf("deploy/config.yaml %+v differs from the defaults %+v", c, d)
	}
}

func TestPushCredentialsAreRead(t *testing.T) {
	f := filepath.Join(t.TempDir(), "c.yaml")
	yaml := "push:\n  credentials:\n    \"redis 10.0.0.5:6379\": /etc/r\n    \"mysql [::1]:3306\": /etc/m\n    \"influxdb2 https://h:443\": /etc/i\n    \"mqtt ssl://broker:8883\": /etc/q\n"
	if err := os.WriteFile(f, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig([]string{"--config", f})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Push.Credentials) != 4 || c.Push.Credentials["mysql [::1]:3306"] != "/etc/m" || c.Push.Credentials["mqtt ssl://broker:8883"] != "/etc/q" {
		t.Errorf("push.credentials = %v", c.Push.Credentials)
	}
}

func TestPushSpoolIsRead(t *testing.T) {
	f := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(f, []byte("push:\n  spool:\n    dir: /var/lib/tinymapper/spool\n    max_bytes: 1048576\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig([]string{"--config", f})
	if err != nil {
		t.Fatal(err)
	}
	if c.Push.Spool != (SpoolConfig{Dir: "/var/lib/tinymapper/spool", MaxBytes: 1 << 20}) {
		t.Errorf("push.spool = %+v", c.Push.Spool)
	}
}
