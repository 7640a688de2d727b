package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"github.com/tinymapper/tinymapper/dmi"
)

// lockInstance takes the lock that makes one tinymapper per DMI socket:
// under EdgeCore, an exclusive flock on SOCKET.lock beside the socket;
// standalone, on the devices file or directory itself (opened read-only:
// two instances running one devices file would drive the same hardware).
// It fails at once, naming the lock, when another process holds it. The
// lock lasts until release is called or the process ends, however it ends.
func lockInstance(cfg Config) (release func(), err error) {
	var f *os.File
	var what string
	if cfg.Devices != "" {
		what = "devices " + cfg.Devices
		// O_NONBLOCK: opening a FIFO must not wait for a writer.
		f, err = os.OpenFile(cfg.Devices, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	} else {
		path := cfg.GRPCServer.SocketPath + ".lock"
		what = "socket " + cfg.GRPCServer.SocketPath
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("instance lock: %w", err)
		}
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("instance lock: %w", err)
	}
	return flock(f, what)
}

// lockSpool takes the lock of push.spool.dir, a .lock file in it: each
// start clears the spool, so two instances sharing one directory would
// clear each other's. Nothing when dir is "".
func lockSpool(dir string) (release func(), err error) {
	if dir == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("push.spool.dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("push.spool.dir: %w", err)
	}
	return flock(f, "push.spool.dir "+dir)
}

// flock takes an exclusive lock on f, at once or not at all; releasing
// closes f.
func flock(f *os.File, what string) (release func(), err error) {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another tinymapper is running for %s (it holds the lock on %s); this one exits without touching any device", what, f.Name())
		}
		return nil, fmt.Errorf("instance lock on %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil
}

// listeners are the sockets serve binds before it touches hardware.
type listeners struct {
	rest, dmi net.Listener
	dmiPath   string
	sec       restSecurity
}

// listen binds the REST address and, under EdgeCore, the DMI socket, and
// loads the REST token and certificate: everything that can fail because
// of another instance or the configuration fails here, before any device
// is opened.
func listen(cfg Config, log *slog.Logger) (*listeners, error) {
	ls := &listeners{}
	if cfg.Common.HTTPAddress != "" {
		sec, err := loadRESTSecurity(cfg, log)
		if err != nil {
			return nil, err
		}
		ls.sec = sec
		if ls.rest, err = net.Listen("tcp", cfg.Common.HTTPAddress); err != nil {
			return nil, fmt.Errorf("data plane: %w", err)
		}
	}
	if cfg.Devices == "" {
		var err error
		ls.dmiPath = cfg.GRPCServer.SocketPath
		if ls.dmi, err = dmi.Listen(cfg.GRPCServer.SocketPath); err != nil {
			ls.close()
			return nil, err
		}
	}
	return ls, nil
}

// take hands *l to its server, which closes it from then on.
func (ls *listeners) take(l *net.Listener) net.Listener {
	out := *l
	*l = nil
	return out
}

// close closes the listeners not taken.
func (ls *listeners) close() {
	if ls.rest != nil {
		ls.rest.Close()
	}
	if ls.dmi != nil {
		ls.dmi.Close()
		os.Remove(ls.dmiPath)
	}
}
