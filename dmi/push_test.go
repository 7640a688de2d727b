package dmi

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tinymapper/tinymapper/device"
	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

func TestPushMethodArrivesOnTheProperty(t *testing.T) {
	in := thermometer(t, "thermo")
	in.Spec.Properties[0].PushMethod = &pb.PushMethod{
		Http: &pb.PushMethodHTTP{Hostname: "http://127.0.0.1", Port: 8080, Requestpath: "/in", Timeout: 1500},
		Mqtt: &pb.PushMethodMQTT{Address: "tcp://127.0.0.1:1883", Topic: "plant/t", Qos: 1, Retained: true},
		Otel: &pb.PushMethodOTEL{EndpointURL: "http://127.0.0.1:4318/v1/metrics"},
		DbMethod: &pb.DBMethod{
			Influxdb2: &pb.DBMethodInfluxdb2{
				Influxdb2ClientConfig: &pb.Influxdb2ClientConfig{Url: "http://127.0.0.1:8086", Org: "o", Bucket: "b"},
				Influxdb2DataConfig:   &pb.Influxdb2DataConfig{Measurement: "m", Tag: map[string]string{"site": "a"}, FieldKey: "v"},
			},
			Redis:    &pb.DBMethodRedis{RedisClientConfig: &pb.RedisClientConfig{Addr: "127.0.0.1:6379", Db: 2, Poolsize: 3, MinIdleConns: 1}},
			Tdengine: &pb.DBMethodTDEngine{TdEngineClientConfig: &pb.TDEngineClientConfig{Addr: "127.0.0.1:6041", Dbname: "d"}},
			Mysql:    &pb.DBMethodMySQL{MysqlClientConfig: &pb.MySQLClientConfig{Addr: "127.0.0.1:3306", Database: "db", UserName: "u"}},
		},
	}
	d, err := DeviceFromProto(in)
	if err != nil {
		t.Fatal(err)
	}
	p := d.Properties[0].Push
	if p == nil {
		t.Fatal("pushMethod lost")
	}
	if *p.HTTP != (device.PushHTTP{HostName: "http://127.0.0.1", Port: 8080, RequestPath: "/in", Timeout: 1500 * time.Millisecond}) {
		t.Errorf("http = %+v", *p.HTTP)
	}
	if *p.MQTT != (device.PushMQTT{Address: "tcp://127.0.0.1:1883", Topic: "plant/t", QoS: 1, Retained: true}) {
		t.Errorf("mqtt = %+v", *p.MQTT)
	}
	if p.OTEL.EndpointURL != "http://127.0.0.1:4318/v1/metrics" {
		t.Errorf("otel = %+v", *p.OTEL)
	}
	i := p.DB.Influxdb2
	if i.URL != "http://127.0.0.1:8086" || i.Org != "o" || i.Bucket != "b" || i.Measurement != "m" || i.Tags["site"] != "a" || i.FieldKey != "v" {
		t.Errorf("influxdb2 = %+v", *i)
	}
	if *p.DB.Redis != (device.DBRedis{Addr: "127.0.0.1:6379", DB: 2, PoolSize: 3, MinIdleConns: 1}) {
		t.Errorf("redis = %+v", *p.DB.Redis)
	}
	if *p.DB.TDEngine != (device.DBTDEngine{Addr: "127.0.0.1:6041", DBName: "d"}) {
		t.Errorf("tdengine = %+v", *p.DB.TDEngine)
	}
	if *p.DB.MySQL != (device.DBMySQL{Addr: "127.0.0.1:3306", Database: "db", UserName: "u"}) {
		t.Errorf("mysql = %+v", *p.DB.MySQL)
	}
	if err := p.Check(device.PushField("temperature")); err != nil {
		t.Errorf("Check = %v", err)
	}
}

func TestPushMethodThatIsWrongKeepsTheDevice(t *testing.T) {
	tests := []struct {
		name      string
		push      *pb.PushMethod
		wantNil   bool
		wantField string
	}{
		{"none", nil, true, ""},
		{"empty", &pb.PushMethod{}, true, ""},
		{"qos 7", &pb.PushMethod{Mqtt: &pb.PushMethodMQTT{Address: "h:1883", Qos: 7}}, false, "spec.properties[temperature].pushMethod.mqtt.qos"},
		{"influx without config", &pb.PushMethod{DbMethod: &pb.DBMethod{Influxdb2: &pb.DBMethodInfluxdb2{}}}, false, "spec.properties[temperature].pushMethod.dbMethod.influxdb2.influxdb2ClientConfig.url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := thermometer(t, "thermo")
			in.Spec.Properties[0].PushMethod = tt.push
			d, err := DeviceFromProto(in)
			if err != nil {
				t.Fatalf("device refused: %v", err)
			}
			p := d.Properties[0].Push
			if (p == nil) != tt.wantNil {
				t.Fatalf("push = %+v", p)
			}
			var pe *device.PushError
			if err := p.Check(device.PushField("temperature")); tt.wantField != "" && (!errors.As(err, &pe) || pe.Field != tt.wantField) {
				t.Errorf("Check = %v, want field %s", err, tt.wantField)
			}
		})
	}
}

// FuzzPushMethod decodes arbitrary pushMethod bytes: conversion and Check
// never panic, and Check's errors name a field under the property's
// pushMethod. Seeds: testdata/fuzz/FuzzPushMethod.
func FuzzPushMethod(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var in pb.PushMethod
		if proto.Unmarshal(data, &in) != nil {
			return
		}
		p := pushFromProto(&in)
		err := p.Check(device.PushField("p"))
		if err == nil {
			return
		}
		var pe *device.PushError
		if !errors.As(err, &pe) || len(pe.Field) <= len(device.PushField("p")) {
			t.Fatalf("error names no field: %v", err)
		}
	})
}
