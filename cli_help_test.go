package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestHelpListsTheCommandsAndTheFlags(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-help"}, {"-h"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := run(args, &out, &errOut); err != nil {
				t.Fatalf("error %v", err)
			}
			for _, want := range []string{"Usage:", "Commands:", "tinymapper help [COMMAND]", "--version", "Flags", "-devices", "-board"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("help lacks %q:\n%s", want, out.String())
				}
			}
			for name := range commands {
				if !strings.Contains(out.String(), "  "+name+" ") {
					t.Errorf("help does not list the command %s", name)
				}
			}
		})
	}
}

func TestEveryCommandIsInTheHelp(t *testing.T) {
	for name := range commands {
		if commandSummaries[name] == "" {
			t.Errorf("command %s has no summary in commandSummaries", name)
		}
	}
	for name := range commandSummaries {
		if commands[name] == nil {
			t.Errorf("commandSummaries describes %s, which is no command", name)
		}
	}
}

func TestVersionSpellings(t *testing.T) {
	for _, arg := range []string{"version", "--version", "-version"} {
		var out bytes.Buffer
		if err := run([]string{arg}, &out, &out); err != nil || !strings.HasPrefix(out.String(), "tinymapper dev (commit ") {
			t.Errorf("%s: %q, %v", arg, out.String(), err)
		}
	}
}

func TestHelpForOneCommand(t *testing.T) {
	tests := []struct {
		args []string
		err  string
	}{
		{[]string{"help", "board"}, ""},
		{[]string{"board", "-h"}, ""},
		{[]string{"help", "nope"}, `help: no command "nope"; tinymapper help lists them`},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		err := run(tt.args, &out, &out)
		if got := errText(err); got != tt.err {
			t.Errorf("%v: error %q, want %q", tt.args, got, tt.err)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Mistakes are said once, plainly, with the line and the key meant.
func TestMistakesAreSaidPlainly(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yaml")
	devices := filepath.Join(dir, "devices.yaml")
	write := func(path, body string) {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(config, "common:\n  name: gw\n  http_adress: 127.0.0.1:7777\n")
	example, err := os.ReadFile("deploy/examples/i2c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	typo := strings.Replace(string(example), "collectCycle", "colectCycle", 1)
	write(devices, typo)
	line := 1 + strings.Count(typo[:strings.Index(typo, "colectCycle")], "\n")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"a config key", []string{"--config", config},
			config + ": unknown key `http_adress` at line 3 (in common); did you mean `http_address`?"},
		{"a devices key", []string{"--board", "sim", "--http", "", "--devices", devices},
			devices + ": document 2 (Device room-sensor): unknown key `colectCycle` at line " + strconv.Itoa(line) + " (in spec.properties[0]); did you mean `collectCycle`?"},
		{"a board", []string{"--board", "nope", "--http", "", "--devices", "deploy/examples/i2c.yaml"},
			`board "nope": unknown; want auto, sim, linux or rpi`},
		{"a flag", []string{"--verison"}, "flag provided but not defined: -verison"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if got := errText(run(tt.args, &out, &out)); got != tt.want {
				t.Errorf("error\n %s\nwant\n %s", got, tt.want)
			}
		})
	}
}

func TestBusGaps(t *testing.T) {
	all := map[string]int{"i2c": 1, "spi": 1, "gpio": 4, "serial": 2, "modbus-rtu": 2}
	none := map[string]int{}
	tests := []struct {
		name   string
		counts map[string]int
		needs  map[string][]string
		want   []string
	}{
		{"every bus there", all, map[string][]string{"i2c": {"default/a"}, "modbus-rtu": {"default/m"}}, nil},
		{"a PC with a serial port and i2c devices", map[string]int{"serial": 1, "modbus-rtu": 1},
			map[string][]string{"i2c": {"default/b", "default/a"}, "serial": {"default/s"}},
			[]string{"board linux has no I²C bus (no /dev/i2c-*; on a Pi, raspi-config enables it): the i2c devices default/a, default/b cannot run and wait offline; enable the bus, or use the simulated board (--board sim)"}},
		{"no devices named", none, map[string][]string{"spi": nil, "gpio": nil},
			[]string{"board linux has no GPIO pin (no /dev/gpiochip*): the gpio devices cannot run and wait offline; enable the bus, or use the simulated board (--board sim)",
				"board linux has no SPI port (no /dev/spidev*; on a Pi, raspi-config enables it): the spi devices cannot run and wait offline; enable the bus, or use the simulated board (--board sim)"}},
		{"a protocol without a driver is not judged", none, map[string][]string{"opcua": {"default/x"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, g := range busGaps("linux", tt.counts, tt.needs) {
				got = append(got, g.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n %q\nwant\n %q", got, tt.want)
			}
		})
	}
}

// On the sim every bus is there: `board --devices` names nothing missing.
func TestBoardOnTheSimMissesNothing(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"board", "--board", "sim", "--devices", "deploy/examples"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "missing:") {
		t.Errorf("the sim misses a bus:\n%s", out.String())
	}
}
