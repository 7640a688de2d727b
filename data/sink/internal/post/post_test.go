package post

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// script answers each request on a raw connection with the next answer,
// and closes the connection after those marked close.
func script(t *testing.T, answers ...string) (url string, bodies *[]string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var got []string
	go func() {
		i := 0
		for i < len(answers) {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			r := bufio.NewReader(conn)
			for i < len(answers) {
				req, err := http.ReadRequest(r)
				if err != nil {
					break
				}
				b, _ := io.ReadAll(req.Body)
				got = append(got, req.Method+" "+req.URL.RequestURI()+" "+req.Header.Get("Content-Type")+" "+string(b))
				a := answers[i]
				i++
				closeAfter := strings.HasSuffix(a, "|close")
				io.WriteString(conn, strings.TrimSuffix(a, "|close"))
				if closeAfter {
					break
				}
			}
			conn.Close()
		}
	}()
	return "http://" + l.Addr().String() + "/w?x=1", &got
}

func TestAnswers(t *testing.T) {
	tests := []struct {
		name   string
		answer string
		status int
		msg    string
	}{
		{"no content", "HTTP/1.1 204 No Content\r\n\r\n", 204, ""},
		{"length", "HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\n\r\nwrong", 400, "wrong"},
		{"chunked", "HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n", 500, "abcde"},
		{"continue first", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 200, ""},
		{"to the end", "HTTP/1.0 200 OK\r\n\r\nall of it|close", 200, "all of it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, bodies := script(t, tt.answer, "HTTP/1.1 204 No Content\r\n\r\n")
			c, err := New(url)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			status, msg, err := c.Post(context.Background(), "text/plain", "", []byte("hello"))
			if err != nil || status != tt.status || string(msg) != tt.msg {
				t.Fatalf("Post = %d %q %v, want %d %q", status, msg, err, tt.status, tt.msg)
			}
			// The next request goes over the same connection, or a new one.
			if status, _, err := c.Post(context.Background(), "text/plain", "", []byte("again")); err != nil || status != 204 {
				t.Fatalf("second Post = %d %v", status, err)
			}
			if want := "POST /w?x=1 text/plain hello"; (*bodies)[0] != want {
				t.Errorf("request = %q, want %q", (*bodies)[0], want)
			}
		})
	}
}

func TestAClosedKeptConnectionIsReplaced(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c, _ := New(srv.URL)
	defer c.Close()
	if s, _, err := c.Post(context.Background(), "a/b", "Token x", nil); err != nil || s != 204 {
		t.Fatal(s, err)
	}
	srv.CloseClientConnections()
	time.Sleep(50 * time.Millisecond)
	if s, _, err := c.Post(context.Background(), "a/b", "", nil); err != nil || s != 204 {
		t.Fatalf("after the server closed the kept connection: %d %v", s, err)
	}
	if conns.Load() != 2 {
		t.Errorf("%d connections, want 2", conns.Load())
	}
}

func TestRefusedAndTimedOut(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	c, _ := New("http://" + addr + "/")
	if _, _, err := c.Post(context.Background(), "a/b", "", nil); err == nil {
		t.Error("a refused connection gave no error")
	}
	hang, _ := net.Listen("tcp", "127.0.0.1:0")
	defer hang.Close()
	c, _ = New("http://" + hang.Addr().String() + "/")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, _, err := c.Post(ctx, "a/b", "", nil); err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("a server that never answers: %v after %v", err, time.Since(start))
	}
}

// FuzzReadAnswer reads arbitrary answers: never a panic, never more than
// maxMsg bytes kept. Seeds: testdata/fuzz/FuzzReadAnswer.
func FuzzReadAnswer(f *testing.F) {
	f.Fuzz(func(t *testing.T, answer []byte) {
		c := &Client{r: bufio.NewReaderSize(bytes.NewReader(answer), 4096)}
		status, _, err := c.readAnswer()
		if err == nil && (status < 200 || status > 999) {
			t.Fatalf("status %d accepted", status)
		}
		if len(c.msg) > maxMsg {
			t.Fatalf("kept %d bytes", len(c.msg))
		}
	})
}

func TestRefusedIsA4xxThatARetryCannotMend(t *testing.T) {
	for status, want := range map[int]bool{
		200: false, 204: false, 301: false, 400: true, 401: true, 404: true, 413: true,
		408: false, 429: false, 499: true, 500: false, 503: false,
	} {
		if got := Refused(status); got != want {
			t.Errorf("Refused(%d) = %v, want %v", status, got, want)
		}
	}
}
