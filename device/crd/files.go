package crd

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Load reads path: a YAML file, or a directory whose *.yaml and *.yml files
// are read in name order into one Set. A Device is merged with its
// DeviceModel's protocolConfigData and property visitors (see mergeModel) wherever
// in the directory the model is.
func Load(path string) (Set, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Set{}, err
	}
	if !fi.IsDir() {
		return LoadFile(path)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return Set{}, err
	}
	var all parsed
	total := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			continue
		}
		file := filepath.Join(path, name)
		b, err := ReadFile(file)
		if err != nil {
			return Set{}, err
		}
		if total += len(b); total > MaxTotalSize {
			return Set{}, fmt.Errorf("%s: the *.yaml files hold more than %d bytes together", path, MaxTotalSize)
		}
		p, err := parse(b, file+": ")
		if err != nil {
			return Set{}, fmt.Errorf("%s: %w", file, err)
		}
		all.add(p)
	}
	return all.resolve()
}

// MaxFileSize is the largest devices file read; MaxTotalSize bounds the
// files of a directory together. A thousand devices take about 1 MiB.
const (
	MaxFileSize  = 8 << 20
	MaxTotalSize = 32 << 20
)

// ReadFile reads a devices file: a regular file (a symbolic link to one is
// followed) of at most MaxFileSize bytes. A FIFO, a device such as
// /dev/zero or a socket is refused without reading from it, and without
// waiting for a writer.
func ReadFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s); devices are read from YAML files only", path, fileKind(fi.Mode()))
	}
	if fi.Size() > MaxFileSize {
		return nil, fmt.Errorf("%s is %d bytes; a devices file may hold at most %d", path, fi.Size(), MaxFileSize)
	}
	// The size may change while it is read: read one byte more than allowed.
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%s grew past %d bytes while it was read", path, MaxFileSize)
	}
	return b, nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a directory"
	}
	return m.Type().String()
}

// LoadFile reads the YAML file path.
func LoadFile(path string) (Set, error) {
	b, err := ReadFile(path)
	if err != nil {
		return Set{}, err
	}
	s, err := Parse(b)
	if err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}
