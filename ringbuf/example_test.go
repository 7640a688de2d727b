package ringbuf_test

import (
	"fmt"

	"github.com/tinymapper/tinymapper/ringbuf"
)

// A bus worker pushes; a reader with its own cursor sees every sample in
// order, and learns how many it missed when it fell behind.
func Example() {
	r := ringbuf.New(3)
	fmt.Println("keeps", r.Cap())
	var c ringbuf.Cursor // the zero cursor starts at the oldest sample kept
	for i := 1; i <= 6; i++ {
		r.Push(ringbuf.Sample{Time: int64(i), Value: float64(i) * 1.5})
	}
	var s ringbuf.Sample
	for {
		ok, missed := r.Next(&c, &s)
		if !ok {
			break
		}
		if missed > 0 {
			fmt.Println("missed", missed)
		}
		fmt.Println(s.Time, s.Value)
	}
	// Output:
	// keeps 3
	// missed 3
	// 4 6
	// 5 7.5
	// 6 9
}

// Latest reads the newest sample without a cursor, as the twin reporter does.
func ExampleRing_Latest() {
	r := ringbuf.New(8)
	var s ringbuf.Sample
	fmt.Println(r.Latest(&s))
	r.Push(ringbuf.Sample{Time: 10, Value: 21.5})
	r.Push(ringbuf.Sample{Time: 20, Err: 3}) // a failed read carries a code, no value
	r.Latest(&s)
	fmt.Println(s.Time, s.Value, s.Err)
	// Output:
	// false
	// 20 0 3
}

// Tail starts a reader at the next sample, skipping the history.
func ExampleRing_Tail() {
	r := ringbuf.New(8)
	r.Push(ringbuf.Sample{Time: 1, Value: 1})
	c := r.Tail()
	r.Push(ringbuf.Sample{Time: 2, Value: 2})
	var s ringbuf.Sample
	for ok, _ := r.Next(&c, &s); ok; ok, _ = r.Next(&c, &s) {
		fmt.Println(s.Time, s.Value)
	}
	// Output:
	// 2 2
}

// Last copies the newest samples, oldest first, for history queries.
func ExampleRing_Last() {
	r := ringbuf.New(8)
	for i := 1; i <= 5; i++ {
		r.Push(ringbuf.Sample{Time: int64(i), Value: float64(i)})
	}
	var buf [3]ringbuf.Sample
	n := r.Last(buf[:])
	for _, s := range buf[:n] {
		fmt.Print(s.Value, " ")
	}
	fmt.Println()
	// Output:
	// 3 4 5
}
