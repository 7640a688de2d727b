package crd_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/device"
	"github.com/tinymapper/tinymapper/device/crd"
)

// pushDevice is a Device whose one property has the given pushMethod
// (indented under "pushMethod:").
func pushDevice(push string) string {
	return `apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata:
  name: thermo
spec:
  deviceModelRef:
    name: tmp102
  protocol:
    protocolName: i2c
    configData:
      bus: "1"
  properties:
    - name: temp
      pushMethod:
` + push
}

func TestPushMethodIsRead(t *testing.T) {
	set, err := crd.Parse([]byte(pushDevice(`        http:
          hostName: http://127.0.0.1
          port: 8080
          requestPath: /in
          timeout: 1500
        mqtt:
          address: tcp://127.0.0.1:1883
          topic: plant/t
          qos: 2
          retained: true
        otel:
          endpointURL: http://127.0.0.1:4318/v1/metrics
        dbMethod:
          influxdb2:
            influxdb2ClientConfig: {url: "http://127.0.0.1:8428", org: o, bucket: b}
            influxdb2DataConfig: {measurement: m, tag: {site: a}, fieldKey: v}
          redis:
            redisClientConfig: {addr: "127.0.0.1:6379", db: 1, poolsize: 2, minIdleConns: 1}
          TDEngine:
            TDEngineClientConfig: {addr: "127.0.0.1:6041", dbName: d}
          mysql:
            mysqlClientConfig: {addr: "127.0.0.1:3306", database: db, userName: u}
`)))
	if err != nil {
		t.Fatal(err)
	}
	p := set.Devices[0].Properties[0].Push
	if p == nil {
		t.Fatal("pushMethod lost")
	}
	if *p.HTTP != (device.PushHTTP{HostName: "http://127.0.0.1", Port: 8080, RequestPath: "/in", Timeout: 1500 * time.Millisecond}) {
		t.Errorf("http = %+v", *p.HTTP)
	}
	if *p.MQTT != (device.PushMQTT{Address: "tcp://127.0.0.1:1883", Topic: "plant/t", QoS: 2, Retained: true}) {
		t.Errorf("mqtt = %+v", *p.MQTT)
	}
	if p.OTEL.EndpointURL != "http://127.0.0.1:4318/v1/metrics" {
		t.Errorf("otel = %+v", *p.OTEL)
	}
	i := p.DB.Influxdb2
	if i.URL != "http://127.0.0.1:8428" || i.Org != "o" || i.Bucket != "b" || i.Measurement != "m" || i.Tags["site"] != "a" || i.FieldKey != "v" {
		t.Errorf("influxdb2 = %+v", *i)
	}
	if *p.DB.Redis != (device.DBRedis{Addr: "127.0.0.1:6379", DB: 1, PoolSize: 2, MinIdleConns: 1}) {
		t.Errorf("redis = %+v", *p.DB.Redis)
	}
	if *p.DB.TDEngine != (device.DBTDEngine{Addr: "127.0.0.1:6041", DBName: "d"}) {
		t.Errorf("tdengine = %+v", *p.DB.TDEngine)
	}
	if *p.DB.MySQL != (device.DBMySQL{Addr: "127.0.0.1:3306", Database: "db", UserName: "u"}) {
		t.Errorf("mysql = %+v", *p.DB.MySQL)
	}
	if len(set.Warnings) != 0 {
		t.Errorf("warnings: %q", set.Warnings)
	}
}

func TestPushMethodMistakes(t *testing.T) {
	tests := []struct {
		name     string
		push     string
		wantErr  string // the file is refused
		wantWarn string // the device loads, with this warning
	}{
		{"misspelt key", "        mqtt:\n          adress: x\n", "unknown key `adress` at line 16 (in spec.properties[0].pushMethod.mqtt); did you mean `address`?", ""},
		{"qos as text", "        mqtt:\n          address: x\n          qos: high\n", "cannot unmarshal", ""},
		{"qos out of range", "        mqtt:\n          address: x\n          qos: 3\n", "", "spec.properties[temp].pushMethod.mqtt.qos: 3 is not 0, 1 or 2"},
		{"no address", "        mqtt:\n          topic: a\n", "", "spec.properties[temp].pushMethod.mqtt.address: missing"},
		{"redis without config", "        dbMethod:\n          redis: {}\n", "", "spec.properties[temp].pushMethod.dbMethod.redis.redisClientConfig.addr: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := crd.Parse([]byte(pushDevice(tt.push)))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(set.Warnings) != 1 || !strings.HasPrefix(set.Warnings[0], tt.wantWarn) {
				t.Errorf("warnings = %q, want %q", set.Warnings, tt.wantWarn)
			}
			if set.Devices[0].Properties[0].Push == nil {
				t.Error("the pushMethod was dropped")
			}
		})
	}
}

// FuzzPushMethod reads arbitrary pushMethod YAML: Parse never panics, and
// what Check says about an accepted pushMethod names a field under it.
// Seeds: testdata/fuzz/FuzzPushMethod.
func FuzzPushMethod(f *testing.F) {
	f.Fuzz(func(t *testing.T, push string) {
		set, err := crd.Parse([]byte(pushDevice(push)))
		if err != nil || len(set.Devices) != 1 || len(set.Devices[0].Properties) != 1 {
			return
		}
		p := set.Devices[0].Properties[0]
		err = p.Push.Check(device.PushField(p.Name))
		var pe *device.PushError
		if err != nil && (!errors.As(err, &pe) || !strings.HasPrefix(pe.Field, device.PushField(p.Name)+".")) {
			t.Fatalf("error names no field: %v", err)
		}
		_ = fmt.Sprint(p.Push)
	})
}
