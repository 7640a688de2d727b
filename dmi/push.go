package dmi

import (
	"maps"
	"math"
	"time"

	"github.com/tinymapper/tinymapper/device"
	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

// pushFromProto converts a property's pushMethod. It keeps what was sent,
// even when it is wrong (a qos of 7, a malformed address): the sinks check
// it with device.PushMethod.Check and report the field, so that a bad
// pushMethod never refuses the device itself. pushMethod.http.timeout is in
// milliseconds. A nil or empty pushMethod gives nil.
func pushFromProto(p *pb.PushMethod) *device.PushMethod {
	if p == nil || (p.GetHttp() == nil && p.GetMqtt() == nil && p.GetOtel() == nil && p.GetDbMethod() == nil) {
		return nil
	}
	out := &device.PushMethod{}
	if h := p.GetHttp(); h != nil {
		out.HTTP = &device.PushHTTP{
			HostName: h.GetHostname(), Port: h.GetPort(), RequestPath: h.GetRequestpath(),
			Timeout: millisClamped(h.GetTimeout()),
		}
	}
	if m := p.GetMqtt(); m != nil {
		out.MQTT = &device.PushMQTT{Address: m.GetAddress(), Topic: m.GetTopic(), QoS: m.GetQos(), Retained: m.GetRetained()}
	}
	if o := p.GetOtel(); o != nil {
		out.OTEL = &device.PushOTEL{EndpointURL: o.GetEndpointURL()}
	}
	if db := p.GetDbMethod(); db != nil {
		out.DB = &device.DBMethod{}
		if i := db.GetInfluxdb2(); i != nil {
			c, d := i.GetInfluxdb2ClientConfig(), i.GetInfluxdb2DataConfig()
			out.DB.Influxdb2 = &device.DBInfluxdb2{
				URL: c.GetUrl(), Org: c.GetOrg(), Bucket: c.GetBucket(),
				Measurement: d.GetMeasurement(), Tags: maps.Clone(d.GetTag()), FieldKey: d.GetFieldKey(),
			}
		}
		if r := db.GetRedis(); r != nil {
			c := r.GetRedisClientConfig()
			out.DB.Redis = &device.DBRedis{Addr: c.GetAddr(), DB: c.GetDb(), PoolSize: c.GetPoolsize(), MinIdleConns: c.GetMinIdleConns()}
		}
		if t := db.GetTdengine(); t != nil {
			c := t.GetTdEngineClientConfig()
			out.DB.TDEngine = &device.DBTDEngine{Addr: c.GetAddr(), DBName: c.GetDbname()}
		}
		if m := db.GetMysql(); m != nil {
			c := m.GetMysqlClientConfig()
			out.DB.MySQL = &device.DBMySQL{Addr: c.GetAddr(), Database: c.GetDatabase(), UserName: c.GetUserName()}
		}
	}
	return out
}

// millisClamped converts milliseconds to a Duration, keeping the sign and
// clamping what would overflow.
func millisClamped(ms int64) time.Duration {
	const most = math.MaxInt64 / int64(time.Millisecond)
	return time.Duration(max(-most, min(ms, most))) * time.Millisecond
}
