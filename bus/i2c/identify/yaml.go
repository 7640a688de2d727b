package identify

import (
	"fmt"
	"io"
	"strings"
)

// model is the DeviceModel of a kind and the visitors of its properties.
type model struct {
	name       string // DeviceModel name
	comment    string // what the Device reads, for the file's reader
	properties string // DeviceModel spec.properties
	device     string // Device configData keys besides bus and address
	visitors   string // Device spec.properties
}

// models are the parts whose Device the i2c protocol can read.
var models = map[Kind]model{
	SHT3x: {
		name: "discovered-sht3x",
		comment: "SHT3x humidity and temperature sensor: single shot 0x2400 (high repeatability, no clock stretching), " +
			"16 ms, then T and RH words with CRC-8; T = -45 + 175·S_T/65535, RH = 100·S_RH/65535",
		properties: `    - name: temperature
      description: SHT3x temperature, -45 + 175 × S_T / 65535
      type: FLOAT
      accessMode: ReadOnly
      minimum: "-40"
      maximum: "125"
      unit: celsius
    - name: humidity
      description: SHT3x relative humidity, 100 × S_RH / 65535
      type: FLOAT
      accessMode: ReadOnly
      minimum: "0"
      maximum: "100"
      unit: percent
`,
		visitors: `    - name: temperature
      collectCycle: 1000
      reportCycle: 10000
      reportToCloud: true
      visitors:
        protocolName: i2c
        configData:
          command: "0x2400"
          delayMs: 16
          readLength: 6
          crc8: sensirion
          dataType: uint16
          scale: 0.0026703288
          offset: -45
    - name: humidity
      collectCycle: 1000
      reportCycle: 10000
      reportToCloud: true
      visitors:
        protocolName: i2c
        configData:
          command: "0x2400"
          delayMs: 16
          readLength: 6
          rxStart: 3
          crc8: sensirion
          dataType: uint16
          scale: 0.0015259022
`,
	},
	TMP102: {
		name:    "discovered-tmp102",
		comment: "TMP102 temperature sensor: register 0x00, 12 bits left-justified, 0.0625 °C/LSB",
		properties: `    - name: temperature
      description: TMP102 temperature register, 0.0625 °C per LSB
      type: FLOAT
      accessMode: ReadOnly
      minimum: "-40"
      maximum: "125"
      unit: celsius
`,
		visitors: `    - name: temperature
      collectCycle: 1000
      reportCycle: 10000
      reportToCloud: true
      visitors:
        protocolName: i2c
        configData:
          register: 0x00
          dataType: int16
          shift: 4
          scale: 0.0625
`,
	},
	MCP9808: {
		name:    "discovered-mcp9808",
		comment: "MCP9808 temperature sensor: register 0x05, °C × 16 as 13-bit two's complement in bits 12..0 (the alert flags, bits 15..13, are masked off)",
		properties: `    - name: temperature
      description: MCP9808 ambient temperature, 0.0625 °C per LSB
      type: FLOAT
      accessMode: ReadOnly
      minimum: "-40"
      maximum: "125"
      unit: celsius
`,
		visitors: `    - name: temperature
      collectCycle: 1000
      reportCycle: 10000
      reportToCloud: true
      visitors:
        protocolName: i2c
        configData:
          register: 0x05
          dataType: int16
          mask: 0x1FFF
          scale: 0.0625
`,
	},
	ADS1115: {
		name:    "discovered-ads1115",
		comment: "ADS1115 ADC: config set to continuous AIN0 against GND, ±4.096 V (0x4283); conversion register 0x00, 125 µV/LSB",
		properties: `    - name: config
      description: ADS1115 config register; 17027 (0x4283) converts AIN0 against GND continuously at ±4.096 V
      type: INT
      accessMode: ReadWrite
      minimum: "0"
      maximum: "65535"
    - name: ain0
      description: ADS1115 conversion register at ±4.096 V full scale, 125 µV per LSB
      type: FLOAT
      accessMode: ReadOnly
      minimum: "-4.096"
      maximum: "4.096"
      unit: volt
`,
		visitors: `    - name: config
      collectCycle: 10000
      reportCycle: 60000
      reportToCloud: true
      desired:
        value: "17027"
      visitors:
        protocolName: i2c
        configData:
          register: 0x01
          dataType: uint16
    - name: ain0
      collectCycle: 1000
      reportCycle: 10000
      reportToCloud: true
      visitors:
        protocolName: i2c
        configData:
          register: 0x00
          dataType: int16
          scale: 0.000125
`,
	},
	BME280: bmx280("discovered-bme280", "BME280", true),
	BMP280: bmx280("discovered-bmp280", "BMP280", false),
	EEPROM24: {
		name:    "discovered-24cxx",
		comment: "24Cxx EEPROM, taken as a 24C02 (8-byte pages): its first byte",
		device:  "      pageSize: 8\n",
		properties: `    - name: byte-0
      description: the EEPROM's byte at address 0x00
      type: INT
      accessMode: ReadWrite
      minimum: "0"
      maximum: "255"
`,
		visitors: `    - name: byte-0
      collectCycle: 5000
      reportCycle: 60000
      reportToCloud: true
      visitors:
        protocolName: i2c
        configData:
          register: 0x00
          dataType: uint8
`,
	},
}

// bmx280 is the model of a BME280 (humidity true) or BMP280, read by the
// i2c protocol's part keys: compensated with the part's own calibration.
func bmx280(name, part string, humidity bool) model {
	m := model{
		name: name,
		comment: part + ": read by part " + strings.ToLower(part) + " (chip id checked before any write, calibration read, " +
			"normal mode at ×1 oversampling, 62.5 ms standby); compensated with the part's calibration by Bosch's integer formulas",
		properties: `    - name: temperature
      description: ` + part + ` temperature, compensated with the part's calibration
      type: FLOAT
      accessMode: ReadOnly
      minimum: "-40"
      maximum: "85"
      unit: celsius
    - name: pressure
      description: ` + part + ` barometric pressure, compensated with the part's calibration
      type: FLOAT
      accessMode: ReadOnly
      minimum: "300"
      maximum: "1100"
      unit: hectopascal
`,
		visitors: bmx280Visitor(part, "temperature") + bmx280Visitor(part, "pressure"),
	}
	if humidity {
		m.properties += `    - name: humidity
      description: ` + part + ` relative humidity, compensated with the part's calibration
      type: FLOAT
      accessMode: ReadOnly
      minimum: "0"
      maximum: "100"
      unit: percent
`
		m.visitors += bmx280Visitor(part, "humidity")
	}
	return m
}

func bmx280Visitor(part, field string) string {
	return `    - name: ` + field + `
      collectCycle: 1000
      reportCycle: 10000
      reportToCloud: true
      visitors:
        protocolName: i2c
        configData:
          part: ` + strings.ToLower(part) + `
          field: ` + field + `
`
}

// WriteYAML writes a DeviceModel per kind found and a Device per part, for
// bus busName on node nodeName, as KubeEdge v1beta1 documents. Parts whose
// Device the i2c protocol cannot read are listed in comments.
func WriteYAML(w io.Writer, parts []Part, busName, nodeName string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Found by `tinymapper discover i2c --bus %s --yaml`: a DeviceModel per kind of\n# part and a Device per part. Apply with kubectl, or run with --devices.\n", busName)
	done := map[Kind]bool{}
	for _, p := range parts {
		m, ok := models[p.Kind]
		if !ok {
			fmt.Fprintf(&b, "# 0x%02x: an unknown part: no Device written\n", p.Addr)
			continue
		}
		if !done[p.Kind] {
			done[p.Kind] = true
			fmt.Fprintf(&b, "---\napiVersion: devices.kubeedge.io/v1beta1\nkind: DeviceModel\nmetadata:\n  name: %s\n  namespace: default\nspec:\n  protocol: i2c\n  properties:\n%s", m.name, m.properties)
		}
		fmt.Fprintf(&b, "---\n# 0x%02x: %s (%s)\napiVersion: devices.kubeedge.io/v1beta1\nkind: Device\nmetadata:\n  name: %s\n  namespace: default\nspec:\n  nodeName: %s\n  deviceModelRef:\n    name: %s\n  protocol:\n    protocolName: i2c\n    configData:\n      bus: \"%s\"\n      address: \"0x%02x\"\n%s  properties:\n%s",
			p.Addr, m.comment, p.Info, DeviceName(p, busName), nodeName, m.name, busName, p.Addr, m.device, m.visitors)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// DeviceName is the Device name WriteYAML gives p: kind, bus and address,
// such as tmp102-1-48.
func DeviceName(p Part, busName string) string {
	bus := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '-'
	}, busName)
	return strings.Trim(fmt.Sprintf("%s-%s-%02x", strings.ToLower(string(p.Kind)), strings.Trim(bus, "-"), p.Addr), "-")
}
