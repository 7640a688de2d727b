package edgecore

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

func TestWindowCountsAndLatenciesSinceMark(t *testing.T) {
	dir, err := os.MkdirTemp("", "tm")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	var got [][]Delivery
	stub, err := Start(filepath.Join(dir, "dmi.sock"), Options{Unlimited: true, OnReport: func(device string, twins []Delivery) {
		if device != "default/thermo" {
			t.Errorf("OnReport for %q; want default/thermo", device)
		}
		got = append(got, append([]Delivery(nil), twins...))
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer stub.Close()
	conn, err := grpc.NewClient("unix:"+filepath.Join(dir, "dmi.sock"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := pb.NewDeviceManagerServiceClient(conn)
	report := func(sampled time.Time, values ...string) {
		t.Helper()
		req := &pb.ReportDeviceStatusRequest{DeviceName: "thermo", DeviceNamespace: "default", ReportedDevice: &pb.DeviceStatus{}}
		for i, v := range values {
			req.ReportedDevice.Twins = append(req.ReportedDevice.Twins, &pb.Twin{
				PropertyName:    "p" + strconv.Itoa(i),
				ObservedDesired: &pb.TwinProperty{},
				Reported: &pb.TwinProperty{Value: v, Metadata: map[string]string{
					"timestamp": strconv.FormatInt(sampled.UnixMilli(), 10), "type": "float"}},
			})
		}
		if _, err := c.ReportDeviceStatus(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}

	report(time.Now(), "1", "2")
	stub.Mark()
	sampled := time.Now().Add(-300 * time.Millisecond)
	report(sampled, "3", "4", "5")
	w := stub.Window()
	if w.Reports != 1 || w.TwinUpdates != 3 || w.Rejected != 0 {
		t.Errorf("window counts %+v; want 1 report and 3 twins since Mark", w.Counts)
	}
	if len(w.Latencies) != 3 || w.Dropped != 0 {
		t.Fatalf("%d latencies (%d dropped); want 3", len(w.Latencies), w.Dropped)
	}
	for _, l := range w.Latencies {
		if l < 300*time.Millisecond || l > 10*time.Second {
			t.Errorf("latency %v; want about 300 ms", l)
		}
	}
	if c := stub.Counts(); c.Reports != 2 || c.TwinUpdates != 5 {
		t.Errorf("counts %+v; want every report since Start", c)
	}
	if len(got) != 2 || len(got[1]) != 3 || got[1][2].Property != "p2" || got[1][2].Value != "5" ||
		!got[1][2].SampleTime.Equal(time.UnixMilli(sampled.UnixMilli())) {
		t.Errorf("OnReport saw %+v; want both reports, the second with p0..p2 sampled at %v", got, sampled)
	}
}
