package device

import "time"

// PushMethod is spec.properties[].pushMethod: where a property's samples go
// besides the twin. A nil *PushMethod, or one whose destinations are all nil,
// sends nothing. A PushMethod is immutable once it is in a Device: a change
// builds a new one.
type PushMethod struct {
	HTTP *PushHTTP
	MQTT *PushMQTT
	OTEL *PushOTEL
	DB   *DBMethod
}

// PushHTTP is pushMethod.http.
type PushHTTP struct {
	HostName    string
	Port        int64
	RequestPath string
	Timeout     time.Duration // 0: the sink's default
}

// PushMQTT is pushMethod.mqtt.
type PushMQTT struct {
	Address  string
	Topic    string // "": the sink's documented default
	QoS      int32
	Retained bool
}

// PushOTEL is pushMethod.otel.
type PushOTEL struct {
	EndpointURL string
}

// DBMethod is pushMethod.dbMethod.
type DBMethod struct {
	Influxdb2 *DBInfluxdb2
	Redis     *DBRedis
	TDEngine  *DBTDEngine
	MySQL     *DBMySQL
}

// DBInfluxdb2 is dbMethod.influxdb2.
type DBInfluxdb2 struct {
	URL, Org, Bucket string
	Measurement      string
	Tags             map[string]string
	FieldKey         string
}

// DBRedis is dbMethod.redis.
type DBRedis struct {
	Addr         string
	DB           int32
	PoolSize     int32
	MinIdleConns int32
}

// DBTDEngine is dbMethod.tdengine.
type DBTDEngine struct {
	Addr, DBName string
}

// DBMySQL is dbMethod.mysql.
type DBMySQL struct {
	Addr, Database, UserName string
}
