package crd

import (
	"maps"
	"math"
	"time"

	"github.com/tinymapper/tinymapper/device"
)

// PushMethodDoc is spec.properties[].pushMethod, field for field as
// KubeEdge's devices/v1beta1 types spell it (note TDEngine and
// TDEngineClientConfig). Being typed, it is read strictly: a misspelt key is
// an error with its line. The config file's push.default is one too.
type PushMethodDoc struct {
	HTTP *struct {
		HostName    string `yaml:"hostName"`
		Port        int64  `yaml:"port"`
		RequestPath string `yaml:"requestPath"`
		Timeout     int64  `yaml:"timeout"` // milliseconds
	} `yaml:"http"`
	MQTT *struct {
		Address  string `yaml:"address"`
		Topic    string `yaml:"topic"`
		QoS      int32  `yaml:"qos"`
		Retained bool   `yaml:"retained"`
	} `yaml:"mqtt"`
	OTEL *struct {
		EndpointURL string `yaml:"endpointURL"`
	} `yaml:"otel"`
	DBMethod *struct {
		Influxdb2 *struct {
			Client *struct {
				URL    string `yaml:"url"`
				Org    string `yaml:"org"`
				Bucket string `yaml:"bucket"`
			} `yaml:"influxdb2ClientConfig"`
			Data *struct {
				Measurement string            `yaml:"measurement"`
				Tag         map[string]string `yaml:"tag"`
				FieldKey    string            `yaml:"fieldKey"`
			} `yaml:"influxdb2DataConfig"`
		} `yaml:"influxdb2"`
		Redis *struct {
			Client *struct {
				Addr         string `yaml:"addr"`
				DB           int32  `yaml:"db"`
				PoolSize     int32  `yaml:"poolsize"`
				MinIdleConns int32  `yaml:"minIdleConns"`
			} `yaml:"redisClientConfig"`
		} `yaml:"redis"`
		TDEngine *struct {
			Client *struct {
				Addr   string `yaml:"addr"`
				DBName string `yaml:"dbName"`
			} `yaml:"TDEngineClientConfig"`
		} `yaml:"TDEngine"`
		MySQL *struct {
			Client *struct {
				Addr     string `yaml:"addr"`
				Database string `yaml:"database"`
				UserName string `yaml:"userName"`
			} `yaml:"mysqlClientConfig"`
		} `yaml:"mysql"`
	} `yaml:"dbMethod"`
	AnomalyDetection any `yaml:"anomalyDetection"` // KubeEdge 1.23; not used here
}

// pushMethod converts property's pushMethod. Like EdgeCore, it keeps a
// pushMethod that is wrong; what device.PushMethod.Check finds is added to
// warns (the sinks report it again, on the property).
func pushMethod(property string, d *PushMethodDoc, warns []string) (*device.PushMethod, []string) {
	if d == nil || (d.HTTP == nil && d.MQTT == nil && d.OTEL == nil && d.DBMethod == nil) {
		return nil, warns
	}
	p := &device.PushMethod{}
	if h := d.HTTP; h != nil {
		const most = math.MaxInt64 / int64(time.Millisecond)
		p.HTTP = &device.PushHTTP{HostName: h.HostName, Port: h.Port, RequestPath: h.RequestPath,
			Timeout: time.Duration(max(-most, min(h.Timeout, most))) * time.Millisecond}
	}
	if m := d.MQTT; m != nil {
		p.MQTT = &device.PushMQTT{Address: m.Address, Topic: m.Topic, QoS: m.QoS, Retained: m.Retained}
	}
	if o := d.OTEL; o != nil {
		p.OTEL = &device.PushOTEL{EndpointURL: o.EndpointURL}
	}
	if db := d.DBMethod; db != nil {
		p.DB = &device.DBMethod{}
		if i := db.Influxdb2; i != nil {
			p.DB.Influxdb2 = &device.DBInfluxdb2{}
			if c := i.Client; c != nil {
				p.DB.Influxdb2.URL, p.DB.Influxdb2.Org, p.DB.Influxdb2.Bucket = c.URL, c.Org, c.Bucket
			}
			if c := i.Data; c != nil {
				p.DB.Influxdb2.Measurement, p.DB.Influxdb2.Tags, p.DB.Influxdb2.FieldKey = c.Measurement, maps.Clone(c.Tag), c.FieldKey
			}
		}
		if r := db.Redis; r != nil {
			p.DB.Redis = &device.DBRedis{}
			if c := r.Client; c != nil {
				*p.DB.Redis = device.DBRedis{Addr: c.Addr, DB: c.DB, PoolSize: c.PoolSize, MinIdleConns: c.MinIdleConns}
			}
		}
		if t := db.TDEngine; t != nil {
			p.DB.TDEngine = &device.DBTDEngine{}
			if c := t.Client; c != nil {
				*p.DB.TDEngine = device.DBTDEngine{Addr: c.Addr, DBName: c.DBName}
			}
		}
		if m := db.MySQL; m != nil {
			p.DB.MySQL = &device.DBMySQL{}
			if c := m.Client; c != nil {
				*p.DB.MySQL = device.DBMySQL{Addr: c.Addr, Database: c.Database, UserName: c.UserName}
			}
		}
	}
	if property == "" {
		return p, warns // DecodePushMethod checks it under its own name
	}
	if err := p.Check(device.PushField(property)); err != nil {
		warns = append(warns, err.Error()+" (the sink refuses it; the device runs)")
	}
	return p, warns
}

// DecodePushMethod converts a pushMethod written as in a Device and read
// strictly by its caller (the config file's push.default); nil is none.
// Errors name fields under field.
func DecodePushMethod(field string, d *PushMethodDoc) (*device.PushMethod, error) {
	if d == nil {
		return nil, nil
	}
	p, _ := pushMethod("", d, nil)
	if err := p.Check(field); err != nil {
		return nil, err
	}
	return p, nil
}
