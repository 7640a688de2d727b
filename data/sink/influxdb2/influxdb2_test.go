package influxdb2_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/data/sink"
	"github.com/tinymapper/tinymapper/data/sink/dbtest"
	"github.com/tinymapper/tinymapper/data/sink/influxdb2"
	"github.com/tinymapper/tinymapper/data/sink/sinktest"
	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/ringbuf"
)

// vm is a victoria-metrics on a loopback port: it takes InfluxDB line
// protocol on /api/v2/write and gives the series back on /api/v1/export.
type vm struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func newVM(t *testing.T) *vm {
	dbtest.Need(t, "victoria-metrics", "victoria-metrics") // fails under CI when missing
	v := &vm{t: t, port: sinktest.FreePort(t), dir: t.TempDir()}
	v.start()
	t.Cleanup(v.stop)
	return v
}

func (v *vm) url() string { return fmt.Sprintf("http://127.0.0.1:%d", v.port) }

func (v *vm) start() {
	v.t.Helper()
	v.cmd = exec.Command("victoria-metrics", "-storageDataPath="+v.dir, fmt.Sprintf("-httpListenAddr=127.0.0.1:%d", v.port), "-loggerLevel=ERROR")
	if err := v.cmd.Start(); err != nil {
		v.t.Fatal(err)
	}
	sinktest.WaitFor(v.t, 10*time.Second, "victoria-metrics", func() bool {
		resp, err := http.Get(v.url() + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func (v *vm) stop() {
	if v.cmd != nil {
		v.cmd.Process.Signal(syscall.SIGTERM)
		v.cmd.Wait()
		v.cmd = nil
	}
}

// export returns the samples of series name, as sinktest.Messages.
func (v *vm) export(t *testing.T, name string) []sinktest.Message {
	t.Helper()
	if resp, err := http.Get(v.url() + "/internal/force_flush"); err == nil {
		resp.Body.Close()
	}
	resp, err := http.PostForm(v.url()+"/api/v1/export", url.Values{"match[]": {`{__name__="` + name + `"}`}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []sinktest.Message
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var line struct {
			Metric     map[string]string
			Values     []float64
			Timestamps []int64
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("export: %v", err)
		}
		if line.Metric["site"] != "north" {
			t.Fatalf("series %v lacks the configured tag", line.Metric)
		}
		for i, val := range line.Values {
			b, _ := device.AppendValue(nil, device.TypeFloat, val)
			out = append(out, sinktest.Message{Namespace: line.Metric["namespace"], Device: line.Metric["device"],
				Property: line.Metric["property"], Type: "float", Unit: "Cel", Value: json.Number(b), Timestamp: line.Timestamps[i]})
		}
	}
	return out
}

func TestEverySampleIsWrittenAcrossARestart(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 15 s")
	}
	v := newVM(t)
	push := fmt.Sprintf("        dbMethod:\n          influxdb2:\n            influxdb2ClientConfig: {url: %q, org: plant, bucket: b}\n            influxdb2DataConfig: {tag: {site: north}}\n", v.url())
	mgr, sinks := sinktest.Run(t, sinktest.Thermometer(100*time.Millisecond, push), sink.Options{Poll: 50 * time.Millisecond}, influxdb2.Kind{})
	const series = "thermo_temperature" // measurement (the device) _ field (the property)
	sinktest.WaitFor(t, 10*time.Second, "samples", func() bool { return len(v.export(t, series)) >= 10 })
	if n := sinktest.Check(t, mgr, v.export(t, series)); n != 0 {
		t.Fatalf("%d samples missing", n)
	}

	ring := func() *ringbuf.Ring {
		p, ok := mgr.Property("plant", "thermo", "temperature")
		if !ok {
			t.Fatal("no property plant/thermo/temperature")
		}
		return p.Ring
	}()
	v.stop()
	down := ring.Len()
	time.Sleep(10 * time.Second)
	if errs := sinks.PushErrors("plant", "thermo"); len(errs) != 1 || !strings.HasPrefix(errs[0], "spec.properties[temperature].pushMethod.dbMethod.influxdb2: ") {
		t.Errorf("during the outage PushErrors = %q", errs)
	}
	// Every sample read before the restart must be sent: as many as the
	// bus worker read, which a loaded machine makes fewer than 10 a second.
	before := ring.Len()
	if before <= down {
		t.Fatalf("no sample read during the outage (%d, then %d)", down, before)
	}
	back := time.Now()
	v.start()
	sinktest.WaitFor(t, 20*time.Second, "the backlog", func() bool {
		st, _ := sinktest.StatsOf(sinks, "influxdb2 ")
		got := v.export(t, series)
		return st.Buffered == 0 && len(got) > 0 && got[len(got)-1].Timestamp > back.UnixMilli()
	})
	if n := sinktest.Check(t, mgr, v.export(t, series)); n != 0 {
		t.Fatalf("%d samples lost across the restart", n)
	}
	if st, _ := sinktest.StatsOf(sinks, "influxdb2 "); st.Dropped != 0 || st.Sent < before {
		t.Errorf("stats = %+v; want none dropped and at least the %d samples read before the restart sent", st, before)
	}
}

func TestLineProtocol(t *testing.T) {
	k := influxdb2.Kind{}
	tests := []struct {
		name, typ string
		db        device.DBInfluxdb2
		value     float64
		want      string
	}{
		{"defaults", device.TypeFloat, device.DBInfluxdb2{URL: "http://h", Org: "o", Bucket: "b"}, 21.5,
			"thermo,device=thermo,namespace=plant,property=temperature temperature=21.5 1000000007\n"},
		{"int, tags, escaping", device.TypeInt, device.DBInfluxdb2{URL: "http://h", Org: "o", Bucket: "b", Measurement: "a room", FieldKey: "t=c", Tags: map[string]string{"site": "n,1", "device": "override"}}, 3,
			`a\ room,device=override,namespace=plant,property=temperature,site=n\,1 t\=c=3i 1000000007` + "\n"},
		{"boolean", device.TypeBoolean, device.DBInfluxdb2{URL: "http://h", Org: "o", Bucket: "b"}, 1,
			"thermo,device=thermo,namespace=plant,property=temperature temperature=true 1000000007\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &device.PushMethod{DB: &device.DBMethod{Influxdb2: &tt.db}}
			key, opts, err := k.Target(sink.Where{Namespace: "plant", Device: "thermo", Property: "temperature"}, p, "f")
			if err != nil {
				t.Fatal(err)
			}
			if key != "influxdb2 http://h/api/v2/write?bucket=b&org=o&precision=ns" {
				t.Errorf("key = %q", key)
			}
			b := sink.NewTestBinding("plant", "thermo", "temperature", tt.typ, "", opts)
			if got := string(influxdb2.AppendLine(nil, sink.Record{B: b, Time: 1000000007, Value: tt.value})); got != tt.want {
				t.Errorf("line = %q\nwant   %q", got, tt.want)
			}
		})
	}
}
