package device

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// spec.stateReport decides the ReportDeviceStates calls: unset, a state goes
// when it changes; reportToCloud false, never; a reportCycle sends the
// unchanged state again that often. Twins go as before in every case.
func TestStateReportDecidesTheStateCalls(t *testing.T) {
	tests := []struct {
		name     string
		sr       *StateReport
		min, max int // online reports in 3.5 s of the bubble's time
	}{
		{"unset: on change", nil, 1, 1},
		{"reported, no cycle: on change", &StateReport{ReportToCloud: true}, 1, 1},
		{"reported every second", &StateReport{ReportToCloud: true, ReportCycle: time.Second}, 4, 5},
		{"not reported", &StateReport{ReportCycle: time.Second}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m, drv := startManager(t)
				must(t, m.PutModel(testModel()))
				drv.set("default/a/1", 21)
				d := testDevice("a", "")
				d.StateReport = tt.sr
				must(t, m.PutDevice(d))
				s := &recordingSender{}
				startReporter(t, m, s)
				time.Sleep(3500 * time.Millisecond)
				synctest.Wait()
				status, states := s.sent()
				online := 0
				for _, st := range states {
					if st == "default/a online" {
						online++
					} else {
						t.Errorf("state call %q", st)
					}
				}
				if online < tt.min || online > tt.max {
					t.Errorf("%d online reports, want %d to %d", online, tt.min, tt.max)
				}
				if len(status) == 0 || !strings.HasPrefix(status[0], "default/a temp=21") {
					t.Errorf("twin reports %q; want them whatever stateReport says", status)
				}
			})
		})
	}
}
