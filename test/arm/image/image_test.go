// Package image_test checks the multi-arch container image that `make image`
// writes to an OCI archive (dist/tinymapper-image.tar): the names it carries
// (the DaemonSet's image among them, as containerd imports it), its platforms, the
// entrypoint, command and user of each, each image's compressed size, the
// files in it and the architecture of its binary; and it runs the amd64
// image's binary with the image's own config.
//
// `make test-image` builds the archive and passes it in TINYMAPPER_IMAGE;
// without it the tests skip. They read the index and the configs with
// skopeo (installed by `make test`) and the blobs from the archive itself.
package image_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// maxCompressed is the most one platform's image may weigh, compressed:
// manifest, config and layers.
const maxCompressed = 15 << 20

// platform is one image of the index.
type platform struct {
	os, arch, variant string
	machine           elf.Machine
	goarm             string
}

func (p platform) String() string {
	s := p.os + "/" + p.arch
	if p.variant != "" {
		s += "/" + p.variant
	}
	return s
}

var want = []platform{
	{"linux", "arm64", "", elf.EM_AARCH64, ""},
	{"linux", "arm", "v7", elf.EM_ARM, "7"},
	{"linux", "amd64", "", elf.EM_X86_64, ""},
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
	Platform    *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
		Variant      string `json:"variant"`
	} `json:"platform"`
}

type index struct {
	MediaType string       `json:"mediaType"`
	Manifests []descriptor `json:"manifests"`
}

type manifest struct {
	Config descriptor   `json:"config"`
	Layers []descriptor `json:"layers"`
}

type imageConfig struct {
	Architecture string `json:"architecture"`
	Variant      string `json:"variant"`
	OS           string `json:"os"`
	Config       struct {
		User         string              `json:"User"`
		Entrypoint   []string            `json:"Entrypoint"`
		Cmd          []string            `json:"Cmd"`
		ExposedPorts map[string]struct{} `json:"ExposedPorts"`
		Labels       map[string]string   `json:"Labels"`
	} `json:"config"`
}

// archivePath returns the OCI archive under test, or skips.
func archivePath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("TINYMAPPER_IMAGE")
	if p == "" {
		t.Skip("TINYMAPPER_IMAGE is not set: `make test-image` builds the image and runs these tests")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// skopeo runs skopeo inspect with args on the image ref of the archive and
// decodes its JSON.
func skopeo(t *testing.T, archive, ref string, v any, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("skopeo")
	if err != nil {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			t.Fatalf("skopeo not found, and CI=%s: `make test` installs it", ci)
		}
		t.Skip("skopeo not found: apt-get install skopeo (make test does)")
	}
	args = append(append([]string{"inspect"}, args...), "oci-archive:"+archive+":"+ref)
	var stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("skopeo %s: %v", strings.Join(args, " "), err)
	}
}

// blobs reads every blob of the archive into memory (a few MiB each).
func blobs(t *testing.T, archive string) map[string][]byte {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg || !strings.HasPrefix(h.Name, "blobs/sha256/") {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out["sha256:"+path.Base(h.Name)] = b
	}
}

func blob(t *testing.T, all map[string][]byte, d descriptor) []byte {
	t.Helper()
	b, ok := all[d.Digest]
	if !ok {
		t.Fatalf("blob %s is not in the archive", d.Digest)
	}
	if int64(len(b)) != d.Size {
		t.Fatalf("blob %s is %d bytes; its descriptor says %d", d.Digest, len(b), d.Size)
	}
	return b
}

// file is one regular file or directory of an image's layers.
type file struct {
	mode os.FileMode
	data []byte
}

// files unpacks the image's layers (gzip or plain tar) into a map by path.
func files(t *testing.T, all map[string][]byte, m manifest) (map[string]file, int64) {
	t.Helper()
	out := map[string]file{}
	var unpacked int64
	for _, l := range m.Layers {
		var r io.Reader = bytes.NewReader(blob(t, all, l))
		if strings.HasSuffix(l.MediaType, "gzip") {
			zr, err := gzip.NewReader(r)
			if err != nil {
				t.Fatal(err)
			}
			r = zr
		}
		tr := tar.NewReader(r)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			unpacked += int64(len(b))
			out["/"+strings.Trim(path.Clean(h.Name), "/")] = file{h.FileInfo().Mode(), b}
		}
	}
	return out, unpacked
}

// archiveIndex reads the archive's top-level index.json: one entry per name.
func archiveIndex(t *testing.T, archive string) index {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("index.json in %s: %v", archive, err)
		}
		if path.Clean(h.Name) == "index.json" {
			var idx index
			if err := json.NewDecoder(tr).Decode(&idx); err != nil {
				t.Fatalf("index.json: %v", err)
			}
			return idx
		}
	}
}

// daemonSetImage returns the image of deploy/kubernetes/daemonset.yaml.
func daemonSetImage(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "kubernetes", "daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s+image:\s*(\S+)\s*$`).FindAllSubmatch(b, -1)
	if len(m) != 1 {
		t.Fatalf("daemonset.yaml: %d image: lines, want 1", len(m))
	}
	return string(m[0][1])
}

// normalized returns the full reference the kubelet (and containerd's CRI)
// looks an image up by: "tinymapper:latest" is
// "docker.io/library/tinymapper:latest".
func normalized(ref string) string {
	name, tag := ref, "latest"
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		name, tag = ref[:i], ref[i+1:]
	}
	first, _, found := strings.Cut(name, "/")
	switch {
	case !found:
		name = "docker.io/library/" + name
	case !strings.ContainsAny(first, ".:") && first != "localhost":
		name = "docker.io/" + name
	}
	return name + ":" + tag
}

// TestImageNames: the archive's index names one manifest list twice, as
// REF:VERSION and REF:latest, with full references, so that `ctr images
// import` (which keeps a full org.opencontainers.image.ref.name as it is,
// and prefixes a bare tag with "import-DATE") gives the image the name the
// DaemonSet's image is looked up by.
func TestImageNames(t *testing.T) {
	archive := archivePath(t)
	want := normalized(daemonSetImage(t))
	repo, tag, _ := strings.Cut(want, ":")
	if tag != "latest" {
		t.Errorf("the DaemonSet runs %s; want the :latest tag make image sets", want)
	}
	idx := archiveIndex(t, archive)
	var names []string
	for _, d := range idx.Manifests {
		names = append(names, d.Annotations["org.opencontainers.image.ref.name"])
		if d.Digest != idx.Manifests[0].Digest || d.MediaType != "application/vnd.oci.image.index.v1+json" {
			t.Errorf("index.json entry %s %s; want every name on the one image index %s", d.MediaType, d.Digest, idx.Manifests[0].Digest)
		}
	}
	if !slices.Contains(names, want) {
		t.Fatalf("the archive names the image %q; want %s among them, the DaemonSet's image", names, want)
	}
	var cfg imageConfig
	skopeo(t, archive, want, &cfg, "--config", "--override-os", "linux", "--override-arch", "amd64")
	version := cfg.Config.Labels["org.opencontainers.image.version"]
	if version == "" || version == "latest" {
		t.Errorf("label org.opencontainers.image.version %q; want the version make image stamps", version)
	}
	slices.Sort(names)
	if wantNames := []string{repo + ":" + version, repo + ":latest"}; !slices.Equal(names, wantNames) {
		t.Errorf("the archive names the image %q; want %q (the DaemonSet's %s and the version)", names, wantNames, want)
	}
}

func TestImage(t *testing.T) {
	archive := archivePath(t)
	ref := normalized(daemonSetImage(t))
	var idx index
	skopeo(t, archive, ref, &idx, "--raw")
	var got []string
	for _, d := range idx.Manifests {
		if d.Platform != nil {
			got = append(got, fmt.Sprintf("%s/%s/%s", d.Platform.OS, d.Platform.Architecture, d.Platform.Variant))
		}
	}
	var wantNames []string
	for _, p := range want {
		wantNames = append(wantNames, fmt.Sprintf("%s/%s/%s", p.os, p.arch, p.variant))
	}
	slices.Sort(got)
	slices.Sort(wantNames)
	if !slices.Equal(got, wantNames) {
		t.Fatalf("index platforms %q, want %q", got, wantNames)
	}
	all := blobs(t, archive)

	for _, p := range want {
		t.Run(strings.ReplaceAll(p.String(), "/", "_"), func(t *testing.T) {
			var desc descriptor
			for _, d := range idx.Manifests {
				if d.Platform.OS == p.os && d.Platform.Architecture == p.arch && d.Platform.Variant == p.variant {
					desc = d
				}
			}
			var m manifest
			if err := json.Unmarshal(blob(t, all, desc), &m); err != nil {
				t.Fatal(err)
			}

			// The config as skopeo reads it for this platform.
			args := []string{"--config", "--override-os", p.os, "--override-arch", p.arch}
			if p.variant != "" {
				args = append(args, "--override-variant", p.variant)
			}
			var cfg imageConfig
			skopeo(t, archive, ref, &cfg, args...)
			if cfg.OS != p.os || cfg.Architecture != p.arch || cfg.Variant != p.variant {
				t.Errorf("config platform %s/%s/%s", cfg.OS, cfg.Architecture, cfg.Variant)
			}
			c := cfg.Config
			if !slices.Equal(c.Entrypoint, []string{"/tinymapper"}) {
				t.Errorf("entrypoint %q, want [/tinymapper]", c.Entrypoint)
			}
			if !slices.Equal(c.Cmd, []string{"--config", "/etc/tinymapper/config.yaml"}) {
				t.Errorf("cmd %q, want [--config /etc/tinymapper/config.yaml]", c.Cmd)
			}
			if c.User != "0:0" {
				t.Errorf("user %q, want 0:0 (see Dockerfile.arm)", c.User)
			}
			if _, ok := c.ExposedPorts["7777/tcp"]; !ok {
				t.Errorf("exposed ports %v, want 7777/tcp", c.ExposedPorts)
			}

			// Size: what a node pulls for this platform.
			size := desc.Size + m.Config.Size
			for _, l := range m.Layers {
				size += l.Size
			}
			fs, unpacked := files(t, all, m)
			t.Logf("%s: %d bytes compressed (%.2f MiB), %d layer(s), %.2f MiB unpacked",
				p, size, float64(size)/(1<<20), len(m.Layers), float64(unpacked)/(1<<20))
			if size > maxCompressed {
				t.Errorf("%s image is %d bytes compressed, over %d (15 MiB)", p, size, maxCompressed)
			}

			// Contents.
			bin, ok := fs["/tinymapper"]
			if !ok || !bin.mode.IsRegular() || bin.mode.Perm()&0o111 == 0 {
				t.Fatalf("/tinymapper: present %v, mode %v; want an executable file", ok, bin.mode)
			}
			if f := fs["/etc/ssl/certs/ca-certificates.crt"]; !bytes.Contains(f.data, []byte("BEGIN CERTIFICATE")) {
				t.Error("/etc/ssl/certs/ca-certificates.crt: missing or holds no certificate")
			}
			if f := fs["/etc/tinymapper/config.yaml"]; !bytes.Contains(f.data, []byte("http_address: 0.0.0.0:7777")) {
				t.Errorf("/etc/tinymapper/config.yaml: missing or not the container config:\n%s", f.data)
			}
			if f, ok := fs["/etc/kubeedge"]; !ok || !f.mode.IsDir() {
				t.Error("/etc/kubeedge: want the (empty) socket directory")
			}
			ef, err := elf.NewFile(bytes.NewReader(bin.data))
			if err != nil {
				t.Fatal(err)
			}
			if ef.Machine != p.machine {
				t.Errorf("/tinymapper is built for %v, want %v", ef.Machine, p.machine)
			}
			info, err := buildinfo.Read(bytes.NewReader(bin.data))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, s := range info.Settings {
				got[s.Key] = s.Value
			}
			// GOARM is recorded for arm only: "" for the others.
			for k, v := range map[string]string{"GOOS": p.os, "GOARCH": p.arch, "GOARM": p.goarm} {
				if got[k] != v {
					t.Errorf("/tinymapper built with %s=%q, want %q", k, got[k], v)
				}
			}

			if p.arch == runtime.GOARCH && p.os == runtime.GOOS {
				runImageBinary(t, bin.data, fs["/etc/tinymapper/config.yaml"].data)
			}
		})
	}
}

// runImageBinary runs the image's binary with the image's config (sockets
// and REST moved to a temporary directory and a free port, board sim) and
// checks that it starts and exits 0 on SIGTERM.
func runImageBinary(t *testing.T, bin, config []byte) {
	t.Helper()
	dir, err := os.MkdirTemp("", "tm")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	exe, cfg := filepath.Join(dir, "tinymapper"), filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, config, 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(exe, "--config", cfg, "--board", "sim", "--http", "127.0.0.1:0",
		"--sock", filepath.Join(dir, "m.sock"), "--edgecore-sock", filepath.Join(dir, "dmi.sock"),
		"--token-file", filepath.Join(dir, "token"))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Up once it serves DMI on its socket.
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "m.sock")); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the image's binary with the image's config exited: %v\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			t.Fatalf("the image's binary did not start serving in 15 s\n%s", out.String())
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("still running 15 s after SIGTERM\n%s", out.String())
	}
}
