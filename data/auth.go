package data

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// Auth says who may use the REST API. A request carries the token as
// "Authorization: Bearer TOKEN".
//
//   - Writes (every method but GET and HEAD, and the GET that runs a device
//     method: see IsWrite) need the token.
//   - Reads need it unless OpenReads is set; main sets it when the server
//     listens on a loopback address only, so that local applications
//     written for mapper-framework's read API keep working while the
//     network does not read a gateway unasked.
//   - The probe paths (/healthz, /readyz, /metrics) need it unless
//     OpenProbes is set.
//
// With Off set nothing needs the token; main logs a warning at every start.
type Auth struct {
	Token      string
	OpenReads  bool
	OpenProbes bool
	Off        bool
}

// Wrap returns h behind the Auth's rules. A refused request gets 401 with
// WWW-Authenticate, before h sees it. Tokens are compared in constant time.
func (a Auth) Wrap(h http.Handler) http.Handler {
	if a.Off {
		return h
	}
	want := sha256.Sum256([]byte(a.Token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		read := !IsWrite(r) // mapper-framework's method call is a GET that writes (compat.go)
		switch {
		case read && a.OpenProbes && probePaths[r.URL.Path]:
		case read && a.OpenReads:
		default:
			got, ok := bearer(r)
			sum := sha256.Sum256([]byte(got))
			// Both sides are hashed to the same length, so the comparison
			// takes the same time whatever the token sent.
			if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 || !ok || a.Token == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="tinymapper"`)
				msg := "this request needs the token: Authorization: Bearer TOKEN (the token is in the file http.token_file)"
				if ok {
					msg = "wrong token"
				}
				writeError(w, http.StatusUnauthorized, msg)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// minToken is the shortest token LoadToken accepts.
const minToken = 16

// LoadToken returns the token in the file path. When there is no file, it
// creates one, readable and writable by its owner only (0600), holding 32
// random bytes in hex, in a directory it creates 0700 if needed; created
// reports that. A token file that others may read, or that is not a regular
// file, is refused: the token would not be secret.
func LoadToken(path string) (token string, created bool, err error) {
	if path == "" {
		return "", false, errors.New("no token file is configured (http.token_file, --token-file)")
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createToken(path)
	}
	if err != nil {
		return "", false, err
	}
	if !fi.Mode().IsRegular() {
		return "", false, fmt.Errorf("token file %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", false, fmt.Errorf("token file %s has mode %04o; others must not read it: chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	if fi.Size() > 4096 {
		return "", false, fmt.Errorf("token file %s is %d bytes; a token is one line", path, fi.Size())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false, err
	}
	token = strings.TrimSpace(string(b))
	if len(token) < minToken || strings.ContainsAny(token, " \t\r\n") {
		return "", false, fmt.Errorf("token file %s must hold one token of at least %d characters and no spaces", path, minToken)
	}
	return token, false, nil
}

func createToken(path string) (string, bool, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, fmt.Errorf("token file: %w", err)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", false, fmt.Errorf("token file: %w", err)
	}
	token := hex.EncodeToString(b[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, fmt.Errorf("token file: %w", err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return "", false, fmt.Errorf("token file: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", false, fmt.Errorf("token file: %w", err)
	}
	return token, true, nil
}

// Loopback reports whether the listen address addr ("host:port") accepts
// connections from this machine only: its host is a loopback IP or
// "localhost". An empty host (every address) is not.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
