package mysql_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinymapper/tinymapper/data/sink"
	"github.com/tinymapper/tinymapper/data/sink/dbtest"
	"github.com/tinymapper/tinymapper/data/sink/mysql"
	"github.com/tinymapper/tinymapper/data/sink/secret"
	"github.com/tinymapper/tinymapper/data/sink/sinktest"
	"github.com/tinymapper/tinymapper/device"
)

const password = "mysql-pw-never-logged"

// server is a mariadbd in a temporary data directory, on a loopback port
// and a socket of its own, with a database "plant" and a user "tm" that
// may use it from 127.0.0.1 with password.
type server struct {
	*dbtest.Server
	sock string
}

func newServer(t *testing.T) *server {
	bin := dbtest.Need(t, "mariadbd", "mariadb-server")
	install := dbtest.Need(t, "mariadb-install-db", "mariadb-server")
	dbtest.Need(t, "mariadb", "mariadb-client")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if out, err := exec.Command(install, "--no-defaults", "--datadir="+data, "--user=root", "--auth-root-authentication-method=socket", "--skip-test-db").CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	port := sinktest.FreePort(t)
	s := &server{sock: filepath.Join(dir, "mysqld.sock")}
	s.Server = dbtest.Start(t, port, func() bool { return s.sql("SELECT 1") == "1\n" }, bin, "--no-defaults",
		"--datadir="+data, "--socket="+s.sock, "--port="+strconv.Itoa(port), "--bind-address=127.0.0.1",
		"--user=root", "--skip-log-bin", "--skip-name-resolve", "--innodb-buffer-pool-size=16M",
		"--pid-file="+filepath.Join(dir, "mysqld.pid"), "--log-error="+filepath.Join(dir, "error.log"))
	for _, q := range []string{
		"CREATE DATABASE plant",
		"CREATE USER 'tm'@'127.0.0.1' IDENTIFIED BY '" + password + "'",
		"GRANT ALL ON plant.* TO 'tm'@'127.0.0.1'",
	} {
		if out, err := s.exec(q); err != nil {
			t.Fatalf("%s: %v\n%s", q, err, out)
		}
	}
	return s
}

// exec runs one statement as root over the socket, with the mariadb client.
func (s *server) exec(q string) (string, error) {
	out, err := exec.Command("mariadb", "--no-defaults", "--socket="+s.sock, "-u", "root", "-N", "-B", "-e", q).CombinedOutput()
	return string(out), err
}

func (s *server) sql(q string) string {
	out, err := s.exec(q)
	if err != nil {
		return ""
	}
	return out
}

// rows reads the samples back, in time order, as sinktest.Messages.
func (s *server) rows(t *testing.T) []sinktest.Message {
	t.Helper()
	out, err := s.exec("SELECT namespace, device, property, time_ns, DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f'), value, type, unit FROM plant.tinymapper_samples ORDER BY time_ns")
	if err != nil {
		if strings.Contains(out, "doesn't exist") {
			return nil
		}
		t.Fatalf("SELECT: %v\n%s", err, out)
	}
	var got []sinktest.Message
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 8 {
			t.Fatalf("row %q", line)
		}
		ns, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			t.Fatalf("time_ns %q", f[3])
		}
		if want := time.Unix(0, ns).UTC().Format("2006-01-02 15:04:05.000000"); f[4] != want {
			t.Fatalf("ts %q for time_ns %d, want %q", f[4], ns, want)
		}
		v, err := strconv.ParseFloat(f[5], 64)
		if err != nil {
			t.Fatalf("value %q", f[5])
		}
		typ := strings.ToUpper(f[6])
		text, _ := device.AppendValue(nil, typ, v)
		got = append(got, sinktest.Message{Namespace: f[0], Device: f[1], Property: f[2], Timestamp: ns / 1e6,
			Value: json.Number(text), Type: f[6], Unit: f[7]})
	}
	return got
}

func TestEveryRowArrivesAcrossAMariaDBKill(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 20 s")
	}
	srv := newServer(t)
	addr := fmt.Sprintf("127.0.0.1:%d", srv.Port)
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k := mysql.Kind{Secrets: &secret.Store{Files: map[string]string{"mysql " + addr: pwFile}, Getenv: func(string) string { return "wrong" }}}
	push := fmt.Sprintf("        dbMethod:\n          mysql:\n            mysqlClientConfig: {addr: %q, database: plant, userName: tm}\n", addr)
	mgr, sinks := sinktest.Run(t, sinktest.Thermometer(100*time.Millisecond, push), sink.Options{Poll: 50 * time.Millisecond}, k)

	sinktest.WaitFor(t, 15*time.Second, "rows", func() bool { return len(srv.rows(t)) >= 10 })
	if n := sinktest.Check(t, mgr, srv.rows(t)); n != 0 {
		t.Fatalf("%d samples missing before the outage", n)
	}

	p, ok := mgr.Property("plant", "thermo", "temperature")
	if !ok {
		t.Fatal("no property plant/thermo/temperature")
	}
	srv.Kill()
	down := p.Ring.Len()
	time.Sleep(10 * time.Second)
	errs := sinks.PushErrors("plant", "thermo")
	if len(errs) != 1 || !strings.HasPrefix(errs[0], "spec.properties[temperature].pushMethod.dbMethod.mysql: ") || strings.Contains(errs[0], password) {
		t.Errorf("during the outage PushErrors = %q, want the mysql field", errs)
	}
	// Every sample read since the kill waits in the buffer: as many as the
	// bus worker read (about 100; fewer on a loaded machine), once the
	// pump, every 50 ms, has moved them.
	read := int(p.Ring.Len() - down)
	sinktest.WaitFor(t, 5*time.Second, "the outage's samples buffered", func() bool {
		st, _ := sinktest.StatsOf(sinks, "mysql ")
		return read > 0 && st.Buffered >= read && st.Failed > 0
	})
	back := time.Now()
	srv.Restart()
	sinktest.WaitFor(t, 30*time.Second, "the backlog", func() bool {
		st, _ := sinktest.StatsOf(sinks, "mysql ")
		got := srv.rows(t)
		return st.Buffered == 0 && len(got) > 0 && got[len(got)-1].Timestamp > back.UnixMilli()
	})
	if n := sinktest.Check(t, mgr, srv.rows(t)); n != 0 {
		t.Fatalf("%d samples lost across the kill", n)
	}
	if st, _ := sinktest.StatsOf(sinks, "mysql "); st.Dropped != 0 || st.Error != "" {
		t.Errorf("after recovery stats = %+v", st)
	}
}

func TestAWrongPasswordNamesTheFieldAndNotThePassword(t *testing.T) {
	srv := newServer(t)
	addr := fmt.Sprintf("127.0.0.1:%d", srv.Port)
	k := mysql.Kind{Secrets: &secret.Store{Getenv: func(string) string { return "not-" + password }}}
	push := fmt.Sprintf("        dbMethod:\n          mysql:\n            mysqlClientConfig: {addr: %q, database: plant, userName: tm}\n", addr)
	_, sinks := sinktest.Run(t, sinktest.Thermometer(100*time.Millisecond, push), sink.Options{}, k)
	var errs []string
	sinktest.WaitFor(t, 10*time.Second, "the error", func() bool { errs = sinks.PushErrors("plant", "thermo"); return len(errs) > 0 })
	want := "spec.properties[temperature].pushMethod.dbMethod.mysql: connect to " + addr + `: login as "tm": Error 1045`
	if !strings.HasPrefix(errs[0], want) || strings.Contains(errs[0], password) {
		t.Errorf("PushErrors = %q, want prefix %q", errs, want)
	}
}
