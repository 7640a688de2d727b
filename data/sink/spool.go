package sink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// The spool is a destination's overflow on disk (push.spool): when its
// memory buffer is full, the destination's goroutine moves the oldest
// records into the spool instead of dropping them, and sends them back out
// first, so delivery stays in sample order. It is bounded by max bytes:
// past it the oldest segment goes, and its records count as dropped.
//
// On disk a destination's spool is a directory of segment files named by
// a sequence number ("%016x.seg"), each an 8-byte header (spoolMagic)
// then fixed-size records: binding id (uint32), time (int64 ns), value
// (float64 bits), little-endian. A binding id indexes the spool's table
// of bindings, which lives in memory only: the spool does not survive a
// restart (it is cleared when its destination starts), because a record
// on disk means nothing without the binding it points to.
//
// One goroutine owns a spool: its destination's. Only the figures
// (spooled, dropped, oldest) are read elsewhere, through atomics.
type spool struct {
	dir     string
	segRecs int // records per segment
	maxSegs int // segments at most (max bytes / segment size)
	segs    []segment
	rd      int      // records of segs[0] already consumed
	r, w    *os.File // segs[0] open for reading, the newest open for appending
	next    uint64   // sequence number of the next segment
	ids     map[*Binding]uint32
	byID    []*Binding
	buf     []byte // encoding room: one batch
	err     error  // the first disk error: the spool takes no more records

	spooled atomic.Int64  // records on disk
	dropped atomic.Uint64 // records dropped from the disk (bound or error)
	oldest  atomic.Int64  // time of the oldest spooled record, about
}

type segment struct {
	seq uint64
	n   int // records written
}

const (
	spoolMagic = "TMSPOOL1"
	spoolHead  = len(spoolMagic)
	spoolRec   = 4 + 8 + 8
	// MinSpoolBytes and MaxSpoolBytes bound push.spool.max_bytes;
	// DefaultSpoolBytes is its default.
	MinSpoolBytes     = 4 << 10
	MaxSpoolBytes     = 1 << 40
	DefaultSpoolBytes = 64 << 20
	maxSegmentBytes   = 4 << 20
)

// spoolDir returns the directory of a destination's spool under dir: the
// method, for people, and a hash of the key, for uniqueness.
func spoolDir(dir, key string) string {
	h := fnv.New64a()
	h.Write([]byte(key))
	m := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' {
			return r
		}
		return '_'
	}, Method(key))
	return filepath.Join(dir, fmt.Sprintf("%s-%016x", m, h.Sum64()))
}

// newSpool returns the spool of a destination, not yet open: max bytes on
// disk (0: DefaultSpoolBytes), batches of up to batch records.
func newSpool(dir string, maxBytes int64, batch int) *spool {
	if maxBytes <= 0 {
		maxBytes = DefaultSpoolBytes
	}
	maxBytes = min(max(maxBytes, MinSpoolBytes), MaxSpoolBytes)
	segBytes := min(maxBytes/8, maxSegmentBytes)
	segRecs := int((segBytes - int64(spoolHead)) / spoolRec)
	return &spool{dir: dir, segRecs: segRecs,
		maxSegs: int(maxBytes / int64(spoolHead+segRecs*spoolRec)),
		ids:     map[*Binding]uint32{}, buf: make([]byte, max(batch, 1)*spoolRec)}
}

// open creates the spool's directory (0700) and removes what a previous
// run left in it.
func (s *spool) open() error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	return clearSegments(s.dir)
}

// clearSegments removes the segment files in dir and returns the first
// error.
func clearSegments(dir string) error {
	names, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	for _, n := range names {
		if e := os.Remove(n); e != nil && err == nil {
			err = e
		}
	}
	return err
}

func (s *spool) segPath(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%016x.seg", seq))
}

// len returns how many records are on disk.
func (s *spool) len() int { return int(s.spooled.Load()) }

// append writes recs after the newest record and returns how many it
// wrote, all unless err is set. Past the bound it first drops the oldest
// segment, counting its unread records.
func (s *spool) append(recs []Record) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	done := 0
	for done < len(recs) {
		if len(s.segs) == 0 || s.segs[len(s.segs)-1].n == s.segRecs {
			if err := s.rotate(); err != nil {
				return done, s.fail(err)
			}
		}
		if s.len() == 0 {
			s.oldest.Store(recs[done].Time)
		}
		tail := &s.segs[len(s.segs)-1]
		k := min(len(recs)-done, s.segRecs-tail.n, len(s.buf)/spoolRec)
		b := s.buf[:0]
		for _, r := range recs[done : done+k] {
			id, ok := s.ids[r.B]
			if !ok {
				id = uint32(len(s.byID))
				s.ids[r.B] = id
				s.byID = append(s.byID, r.B)
			}
			b = appendRecord(b, id, r.Time, r.Value)
		}
		n, err := s.w.Write(b)
		n /= spoolRec
		tail.n += n
		done += n
		s.spooled.Add(int64(n))
		if err != nil {
			return done, s.fail(err)
		}
	}
	return done, nil
}

// rotate closes the newest segment and starts another, dropping the
// oldest first when the bound allows no more.
func (s *spool) rotate() error {
	for len(s.segs) >= s.maxSegs {
		s.dropHead()
	}
	if s.w != nil {
		s.w.Close()
		s.w = nil
	}
	f, err := os.OpenFile(s.segPath(s.next), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	s.next++
	if _, err := f.Write([]byte(spoolMagic)); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	s.w = f
	s.segs = append(s.segs, segment{seq: s.next - 1})
	return nil
}

// dropHead removes the oldest segment, counting its unread records as
// dropped.
func (s *spool) dropHead() {
	h := s.segs[0]
	lost := h.n - s.rd
	s.dropped.Add(uint64(lost))
	s.spooled.Add(-int64(lost))
	s.removeHead()
}

// removeHead deletes the oldest segment's file.
func (s *spool) removeHead() {
	if s.r != nil {
		s.r.Close()
		s.r = nil
	}
	if len(s.segs) == 1 && s.w != nil {
		s.w.Close()
		s.w = nil
	}
	os.Remove(s.segPath(s.segs[0].seq))
	s.segs = s.segs[1:]
	s.rd = 0
	if len(s.segs) == 0 {
		s.segs = s.segs[:0:0]
		clear(s.ids)
		s.byID = s.byID[:0]
	}
}

// fail remembers the first disk error; the spool takes no more records.
func (s *spool) fail(err error) error {
	if s.err == nil {
		s.err = fmt.Errorf("spool %s: %w", s.dir, err)
	}
	return s.err
}

// read copies the oldest spooled records into dst (from one segment) and
// returns how many; commit then consumes them. A segment that cannot be
// read is dropped, its records counted.
func (s *spool) read(dst []Record) int {
	for len(s.segs) > 0 && len(dst) > 0 {
		h := s.segs[0]
		if h.n == s.rd { // consumed, and still being written or done
			if len(s.segs) == 1 {
				return 0
			}
			s.removeHead()
			continue
		}
		k := min(len(dst), h.n-s.rd, len(s.buf)/spoolRec)
		err := s.openHead()
		if err == nil {
			_, err = s.r.ReadAt(s.buf[:k*spoolRec], int64(spoolHead+s.rd*spoolRec))
		}
		if err != nil {
			s.fail(err)
			s.dropHead()
			continue
		}
		n, used := decodeRecords(dst[:k], s.buf[:k*spoolRec], s.byID)
		if n == 0 && used == 0 {
			return 0
		}
		if n == 0 { // a record names no binding: skip it
			s.rd += used
			s.spooled.Add(-int64(used))
			s.dropped.Add(uint64(used))
			continue
		}
		s.oldest.Store(dst[0].Time)
		return n
	}
	return 0
}

// openHead opens the oldest segment for reading and checks its header.
func (s *spool) openHead() error {
	if s.r != nil {
		return nil
	}
	f, err := os.Open(s.segPath(s.segs[0].seq))
	if err != nil {
		return err
	}
	var h [spoolHead]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		f.Close()
		return err
	}
	if err := checkHeader(h[:]); err != nil {
		f.Close()
		return err
	}
	s.r = f
	return nil
}

// commit consumes the first n records read last (delivered, or refused
// for good).
func (s *spool) commit(n int) {
	if n <= 0 || len(s.segs) == 0 {
		return
	}
	s.rd += n
	s.spooled.Add(-int64(n))
	// A consumed segment goes once full; the newest stays open for more
	// (a file per drained batch would cost more than the batch).
	if s.rd >= s.segs[0].n && (len(s.segs) > 1 || s.segs[0].n == s.segRecs) {
		s.removeHead()
	}
}

// close closes the files and removes the segments: what is still spooled
// is lost with the destination (a restart clears the spool anyway).
func (s *spool) close() {
	for len(s.segs) > 0 {
		s.dropHead()
	}
	if s.w != nil {
		s.w.Close()
		s.w = nil
	}
}

func appendRecord(b []byte, id uint32, t int64, v float64) []byte {
	b = binary.LittleEndian.AppendUint32(b, id)
	b = binary.LittleEndian.AppendUint64(b, uint64(t))
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
}

var errSpoolHeader = errors.New("not a spool segment (bad header)")

// checkHeader checks a segment's header.
func checkHeader(h []byte) error {
	if len(h) < spoolHead || string(h[:spoolHead]) != spoolMagic {
		return errSpoolHeader
	}
	return nil
}

// decodeRecords decodes the records of src into dst, stopping before the
// first whose binding id is not in byID, and before a partial record. It
// returns how many records it decoded and how many of src's records it
// used: n, or 1 when the first names no binding (the caller skips it), or
// 0 when src holds no whole record.
func decodeRecords(dst []Record, src []byte, byID []*Binding) (n, used int) {
	for n < len(dst) && len(src) >= (n+1)*spoolRec {
		b := src[n*spoolRec : (n+1)*spoolRec]
		id := binary.LittleEndian.Uint32(b)
		if uint64(id) >= uint64(len(byID)) || byID[id] == nil {
			if n == 0 {
				return 0, 1
			}
			return n, n
		}
		dst[n] = Record{B: byID[id], Time: int64(binary.LittleEndian.Uint64(b[4:])),
			Value: math.Float64frombits(binary.LittleEndian.Uint64(b[12:]))}
		n++
	}
	return n, n
}

// clearSpool removes what a previous run left in the spool directory: the
// records there point to bindings that died with that run.
func (s *Sinks) clearSpool() {
	dirs, _ := filepath.Glob(filepath.Join(s.opt.SpoolDir, "*-*"))
	for _, d := range dirs {
		segs, _ := filepath.Glob(filepath.Join(d, "*.seg"))
		if len(segs) == 0 {
			continue
		}
		if err := clearSegments(d); err != nil {
			s.opt.Log.Warn("push spool: cannot clear what a previous run left", "dir", d, "err", err)
			continue
		}
		s.opt.Log.Info("push spool: discarded what a previous run left (the spool does not survive a restart)", "dir", d, "segments", len(segs))
	}
}
