package columns

import (
	"bytes"
	"testing"
)

func TestNamesLeftNumbersRightNoTrailingBlanks(t *testing.T) {
	var b bytes.Buffer
	Write(&b, [][]string{{"name", "ns/op", "note"}, {"Push", "33.2", ""}, {"µ-long", "1", "x"}}, func(col int) bool { return col == 1 })
	want := "name    ns/op  note\nPush     33.2\nµ-long      1  x\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}
