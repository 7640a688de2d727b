package device

import "testing"

var benchBytes []byte

// BenchmarkAppendValue formats one twin value into a reused buffer, as the
// reporter's change check does: the budget is 0 allocs/op.
func BenchmarkAppendValue(b *testing.B) {
	for _, bc := range []struct {
		typ string
		v   float64
	}{
		{TypeFloat, 22.8125},
		{TypeDouble, 3.3 * 517 / 1024},
		{TypeInt, 24736},
		{TypeBoolean, 1},
	} {
		b.Run(bc.typ, func(b *testing.B) {
			buf := make([]byte, 0, 64)
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = AppendValue(buf[:0], bc.typ, bc.v)
			}
			benchBytes = buf
		})
	}
}

var benchString string

// BenchmarkFormatValue is AppendValue into a new string, one allocation.
func BenchmarkFormatValue(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		benchString, _ = FormatValue(TypeFloat, 22.8125)
	}
}
