package bus

import "testing"

func TestParsePropertyTypeAcceptsKubeEdgeSpellingsInAnyCase(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want PropertyType
		ok   bool
	}{
		{"INT", TypeInt, true},
		{"float", TypeFloat, true},
		{"Double", TypeDouble, true},
		{"boolean", TypeBoolean, true},
		{"STRING", TypeString, true},
		{"bytes", TypeBytes, true},
		{"stream", TypeStream, true},
		{"", TypeNone, true},
		{"int64", TypeNone, false},
		{"BOOL", TypeNone, false},
	} {
		got, ok := ParsePropertyType(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParsePropertyType(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
