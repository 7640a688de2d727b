package faults

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
	"github.com/tinymapper/tinymapper/internal/edgecore"
)

// hostileDMI sends n hostile calls to the mapper's DeviceMapperService, as
// a broken or hostile EdgeCore would: megabyte names, bad namespaces, too
// many properties, huge configData, nil specs, unknown types.
func hostileDMI(t *testing.T, tb *table, n int) {
	dir := shortDir(t)
	m := startMapper(t, dir) // no EdgeCore: the socket serves anyway
	conn, err := grpc.NewClient("unix:"+filepath.Join(dir, "m.sock"),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(16<<20), grpc.WaitForReady(true)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	api := pb.NewDeviceMapperServiceClient(conn)
	big := strings.Repeat("x", 1<<20)
	many := make([]*pb.DeviceProperty, 300)
	for i := range many {
		many[i] = &pb.DeviceProperty{Name: fmt.Sprintf("p%d", i)}
	}
	dev := func(i int) *pb.Device { return edgecore.TMP102Device(fmt.Sprintf("h%d", i), 72, edgecore.Cycles{}) }
	calls := []func(ctx context.Context, i int) error{
		func(ctx context.Context, i int) error {
			d := dev(i)
			d.Name = big[:len(big)-i%1000]
			_, err := api.RegisterDevice(ctx, &pb.RegisterDeviceRequest{Device: d})
			return err
		},
		func(ctx context.Context, i int) error {
			d := dev(i)
			d.Namespace = "Not_A_Label-" + big[:i%300]
			_, err := api.UpdateDevice(ctx, &pb.UpdateDeviceRequest{Device: d})
			return err
		},
		func(ctx context.Context, i int) error {
			d := dev(i)
			d.Spec.Properties = many
			_, err := api.RegisterDevice(ctx, &pb.RegisterDeviceRequest{Device: d})
			return err
		},
		func(ctx context.Context, i int) error {
			d := dev(i)
			d.Spec.Protocol.ConfigData = edgecore.ConfigData("bus", big, "address", 72)
			_, err := api.RegisterDevice(ctx, &pb.RegisterDeviceRequest{Device: d})
			return err
		},
		func(ctx context.Context, i int) error {
			_, err := api.RegisterDevice(ctx, &pb.RegisterDeviceRequest{Device: &pb.Device{Name: fmt.Sprintf("h%d", i)}})
			return err
		},
		func(ctx context.Context, i int) error {
			mo := edgecore.TMP102Model()
			mo.Name = big
			_, err := api.CreateDeviceModel(ctx, &pb.CreateDeviceModelRequest{Model: mo})
			return err
		},
		func(ctx context.Context, i int) error {
			d := dev(i)
			d.Spec.Protocol.ConfigData.Data["bus"] = &anypb.Any{TypeUrl: big, Value: []byte(big[:1000])}
			_, err := api.RegisterDevice(ctx, &pb.RegisterDeviceRequest{Device: d})
			return err
		},
		func(ctx context.Context, i int) error {
			_, err := api.RemoveDevice(ctx, &pb.RemoveDeviceRequest{DeviceName: big, DeviceNamespace: "default"})
			return err
		},
		func(ctx context.Context, i int) error {
			_, err := api.GetDevice(ctx, &pb.GetDeviceRequest{DeviceName: fmt.Sprintf("nope-%d", i)})
			return err
		},
		func(ctx context.Context, i int) error {
			mo := edgecore.TMP102Model()
			mo.Spec.Properties[0].Name = "a b " + big[:i%2000]
			_, err := api.UpdateDeviceModel(ctx, &pb.UpdateDeviceModelRequest{Model: mo})
			return err
		},
	}
	// Warm up, then measure.
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		calls[i%len(calls)](ctx, i)
		cancel()
	}
	time.Sleep(500 * time.Millisecond)
	logBefore := logSize(m)
	before := m.usage()
	codesSeen := map[codes.Code]int{}
	var slowest time.Duration
	start := time.Now()
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		t0 := time.Now()
		err := calls[i%len(calls)](ctx, i)
		slowest = max(slowest, time.Since(t0))
		cancel()
		codesSeen[status.Code(err)]++
	}
	took := time.Since(start)
	after := m.settled(before, 3, 10*time.Second)
	logBytes := logSize(m) - logBefore
	tb.section(fmt.Sprintf("%d hostile DMI calls (%s)", n, secs(took)))
	tb.add("mapper alive (crashes)", strconv.FormatBool(m.alive()), "true", m.alive())
	hang := codesSeen[codes.DeadlineExceeded] + codesSeen[codes.Unavailable]
	tb.add("calls unanswered within 5 s (hangs)", strconv.Itoa(hang), "0", hang == 0)
	tb.add("slowest answer", secs(slowest), "≤ 1 s", slowest <= time.Second)
	bad := n - codesSeen[codes.InvalidArgument] - codesSeen[codes.NotFound]
	tb.add("answers not InvalidArgument/NotFound", fmt.Sprintf("%d (%s)", bad, codeList(codesSeen)), "0", bad == 0)
	tb.add("log bytes per call", fmt.Sprintf("%.0f", float64(logBytes)/float64(n)), "≤ 1024", logBytes <= int64(n)*1024)
	tb.add("/healthz after", strconv.Itoa(m.status("/healthz")), "200", m.status("/healthz") == 200)
	tb.leak(before, after, 3, 16*1024)
}

func codeList(m map[codes.Code]int) string {
	var parts []string
	for c, k := range m {
		parts = append(parts, fmt.Sprintf("%s %d", c, k))
	}
	return strings.Join(parts, ", ")
}

func logSize(m *mapper) int64 {
	fi, err := os.Stat(filepath.Join(m.dir, "mapper.log"))
	if err != nil {
		return 0
	}
	return fi.Size()
}

// hostileREST sends n hostile requests to the REST API from 4 clients,
// then holds slow slowloris connections open while probing /healthz.
func hostileREST(t *testing.T, tb *table, n, slow int) {
	dir := shortDir(t)
	stub, err := edgecore.Start(filepath.Join(dir, "dmi.sock"), edgecore.Options{Unlimited: true,
		Models: []*pb.DeviceModel{edgecore.EEPROMModel()}, Devices: []*pb.Device{edgecore.EEPROMDevice("5", eepromCycles)}})
	if err != nil {
		t.Fatal(err)
	}
	defer stub.Close()
	m := startMapper(t, dir)
	token := m.token()
	within(10*time.Second, func() bool { return restValue(m) == "5" })
	dev := m.base + "/api/v1/device/default/eeprom/byte16"
	type req struct {
		method, url, auth string
		body              func() io.Reader
		header            map[string]string
	}
	body := func(s string) func() io.Reader { return func() io.Reader { return strings.NewReader(s) } }
	reqs := []req{
		{"PUT", dev, "", body(`{"value":"9"}`), nil},                                  // no token: 401
		{"PUT", dev, "Bearer " + strings.Repeat("0", 64), body(`{"value":"9"}`), nil}, // wrong token: 401
		{"PUT", dev, "Bearer " + token, body(`{"value":"9"} trailing`), nil},          // 400
		{"PUT", dev, "Bearer " + token, func() io.Reader {
			return io.MultiReader(strings.NewReader(`{"value":"9"}`), strings.NewReader(strings.Repeat(" ", 1<<20)))
		}, nil}, // 413
		{"PUT", dev, "Bearer " + token, body(`{"value":"999"}`), nil},                                         // out of range: 400
		{"PUT", dev, "Bearer " + token, body(`not json`), nil},                                                // 400
		{"GET", m.base + "/api/v1/device/x/y/z?history=99999999", "", nil, nil},                               // 404
		{"GET", dev + "?history=-1", "", nil, nil},                                                            // 400
		{"GET", m.base + "/" + strings.Repeat("a/", 3000), "", nil, nil},                                      // 404
		{"GET", m.base + "/api/v1/devices", "", nil, map[string]string{"X-Big": strings.Repeat("h", 64<<10)}}, // 431
		{"DELETE", m.base + "/api/v1/devices", "", nil, nil},                                                  // 401
		{"GET", m.base + "/api/v1/device/default/eeprom", "", nil, nil},                                       // 200
	}
	before := m.usage()
	var fivexx, failed atomic.Int64
	codeCount := sync.Map{}
	var wg sync.WaitGroup
	start := time.Now()
	next := atomic.Int64{}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 10 * time.Second}
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				r := reqs[i%len(reqs)]
				var b io.Reader
				if r.body != nil {
					b = r.body()
				}
				hr, _ := http.NewRequest(r.method, r.url, b)
				if r.auth != "" {
					hr.Header.Set("Authorization", r.auth)
				}
				for k, v := range r.header {
					hr.Header.Set(k, v)
				}
				resp, err := c.Do(hr)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode >= 500 {
					fivexx.Add(1)
				}
				v, _ := codeCount.LoadOrStore(resp.StatusCode, new(atomic.Int64))
				v.(*atomic.Int64).Add(1)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	var cl []string
	codeCount.Range(func(k, v any) bool { cl = append(cl, fmt.Sprintf("%d×%d", k, v.(*atomic.Int64).Load())); return true })

	// Slowloris: slow connections dripping a header line a second.
	stop := make(chan struct{})
	var conns []net.Conn
	for range slow {
		c, err := net.Dial("tcp", m.base[len("http://"):])
		if err != nil {
			continue
		}
		conns = append(conns, c)
		io.WriteString(c, "GET /api/v1/devices HTTP/1.1\r\nHost: x\r\n")
		go func(c net.Conn) {
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Second):
					if _, err := io.WriteString(c, "X-Slow: 1\r\n"); err != nil {
						return
					}
				}
			}
		}(c)
	}
	var probeMax time.Duration
	probesOK := 0
	for range 10 {
		t0 := time.Now()
		if m.status("/healthz") == 200 {
			probesOK++
		}
		probeMax = max(probeMax, time.Since(t0))
		time.Sleep(200 * time.Millisecond)
	}
	// The header timeout (5 s) closes every slow connection.
	time.Sleep(7 * time.Second)
	open := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := bufio.NewReader(c).ReadByte(); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				open++
			}
		}
	}
	close(stop)
	for _, c := range conns {
		c.Close()
	}
	after := m.settled(before, 3, 10*time.Second)
	value := restValue(m)

	tb.section(fmt.Sprintf("%d hostile REST requests (%s) and %d slowloris connections", n, secs(took), slow))
	tb.add("mapper alive (crashes)", strconv.FormatBool(m.alive()), "true", m.alive())
	tb.add("requests unanswered (hangs)", strconv.FormatInt(failed.Load(), 10), "0", failed.Load() == 0)
	tb.add("5xx answers", strconv.FormatInt(fivexx.Load(), 10), "0", fivexx.Load() == 0)
	tb.add("answers (status×count)", strings.Join(sortStrings(cl), " "), "(for information)", true)
	tb.add("EEPROM value after (no hostile write landed)", value, "5", value == "5")
	tb.add("/healthz during slowloris", fmt.Sprintf("%d of 10, slowest %s", probesOK, secs(probeMax)), "10, ≤ 1 s", probesOK == 10 && probeMax <= time.Second)
	tb.add("slow connections still open after 7 s", strconv.Itoa(open), "0", open == 0)
	tb.leak(before, after, 3, 16*1024)
}

func sortStrings(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}
