package device

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPushCheckNamesTheField(t *testing.T) {
	const f = "spec.properties[temp].pushMethod"
	tests := []struct {
		name      string
		push      *PushMethod
		wantField string // "" when fine
	}{
		{"nil is fine", nil, ""},
		{"mqtt host:port", &PushMethod{MQTT: &PushMQTT{Address: "127.0.0.1:1883", QoS: 1}}, ""},
		{"mqtt no address", &PushMethod{MQTT: &PushMQTT{}}, f + ".mqtt.address"},
		{"mqtt bad scheme", &PushMethod{MQTT: &PushMQTT{Address: "udp://x:1"}}, f + ".mqtt.address"},
		{"mqtt bad port", &PushMethod{MQTT: &PushMQTT{Address: "tcp://x:99999"}}, f + ".mqtt.address"},
		{"mqtt path", &PushMethod{MQTT: &PushMQTT{Address: "tcp://x:1/a"}}, f + ".mqtt.address"},
		{"mqtt qos 3", &PushMethod{MQTT: &PushMQTT{Address: "x", QoS: 3}}, f + ".mqtt.qos"},
		{"mqtt wildcard topic", &PushMethod{MQTT: &PushMQTT{Address: "x", Topic: "a/#"}}, f + ".mqtt.topic"},
		{"http fine", &PushMethod{HTTP: &PushHTTP{HostName: "http://127.0.0.1", Port: 8080, RequestPath: "/in"}}, ""},
		{"http no host", &PushMethod{HTTP: &PushHTTP{Port: 80}}, f + ".http.hostName"},
		{"http ftp", &PushMethod{HTTP: &PushHTTP{HostName: "ftp://h"}}, f + ".http.hostName"},
		{"http port", &PushMethod{HTTP: &PushHTTP{HostName: "h", Port: 70000}}, f + ".http.port"},
		{"http timeout", &PushMethod{HTTP: &PushHTTP{HostName: "h", Timeout: -time.Second}}, f + ".http.timeout"},
		{"otel bad url", &PushMethod{OTEL: &PushOTEL{EndpointURL: "localhost:4318"}}, f + ".otel.endpointURL"},
		{"influx fine", &PushMethod{DB: &DBMethod{Influxdb2: &DBInfluxdb2{URL: "http://h:8086", Org: "o", Bucket: "b"}}}, ""},
		{"influx no bucket", &PushMethod{DB: &DBMethod{Influxdb2: &DBInfluxdb2{URL: "http://h:8086", Org: "o"}}}, f + ".dbMethod.influxdb2.influxdb2ClientConfig.bucket"},
		{"redis no port", &PushMethod{DB: &DBMethod{Redis: &DBRedis{Addr: "h"}}}, f + ".dbMethod.redis.redisClientConfig.addr"},
		{"redis db", &PushMethod{DB: &DBMethod{Redis: &DBRedis{Addr: "h:6379", DB: -1}}}, f + ".dbMethod.redis.redisClientConfig.db"},
		{"mysql bad database", &PushMethod{DB: &DBMethod{MySQL: &DBMySQL{Addr: "h:3306", Database: "a;drop"}}}, f + ".dbMethod.mysql.mysqlClientConfig.database"},
		{"tdengine fine as a spec", &PushMethod{DB: &DBMethod{TDEngine: &DBTDEngine{Addr: "h:6041", DBName: "d"}}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.push.Check(f)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			var pe *PushError
			if !errors.As(err, &pe) || pe.Field != tt.wantField {
				t.Fatalf("Check = %v, want a PushError for %s", err, tt.wantField)
			}
			if !strings.HasPrefix(err.Error(), tt.wantField+": ") {
				t.Errorf("message %q does not start with the field", err)
			}
		})
	}
}

func TestPushBrokerAndURLAreNormalised(t *testing.T) {
	tests := []struct{ in, want string }{
		{"127.0.0.1:1883", "tcp://127.0.0.1:1883"},
		{"broker", "tcp://broker:1883"},
		{"mqtt://broker:1884", "tcp://broker:1884"},
		{"mqtts://broker", "ssl://broker:8883"},
		{"tcp://[::1]:1883", "tcp://[::1]:1883"},
	}
	for _, tt := range tests {
		got, err := (&PushMQTT{Address: tt.in}).Broker("f")
		if err != nil || got != tt.want {
			t.Errorf("Broker(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	urls := []struct {
		h    PushHTTP
		want string
	}{
		{PushHTTP{HostName: "http://127.0.0.1", Port: 8080, RequestPath: "/in"}, "http://127.0.0.1:8080/in"},
		{PushHTTP{HostName: "example.com", RequestPath: "in"}, "http://example.com/in"},
		{PushHTTP{HostName: "https://example.com"}, "https://example.com"},
	}
	for _, tt := range urls {
		got, err := tt.h.URL("f")
		if err != nil || got != tt.want {
			t.Errorf("URL(%+v) = %q, %v; want %q", tt.h, got, err, tt.want)
		}
	}
}
