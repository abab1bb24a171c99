package testutil

import (
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestParseEPSV(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		port int
		ok   bool
	}{
		{"229 Entering Extended Passive Mode (|||22001|)", 22001, true},
		{"229 (|||1|)", 1, true},
		{"229 Entering Extended Passive Mode (|||70000|)", 0, false},
		{"229 Entering Extended Passive Mode (|||0|)", 0, false},
		{"229 Entering Extended Passive Mode", 0, false},
		{"227 Entering Passive Mode (127,0,0,1,85,248)", 0, false},
	} {
		p, err := ParseEPSV(tc.msg)
		if (err == nil) != tc.ok || p != tc.port {
			t.Errorf("ParseEPSV(%q) = %d, %v; want %d, ok %v", tc.msg, p, err, tc.port, tc.ok)
		}
	}
}

func TestParsePASV(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		host string
		port int
		ok   bool
	}{
		{"227 Entering Passive Mode (127,0,0,1,85,248)", "127.0.0.1", 85*256 + 248, true},
		{"227 =(10,1,2,3,0,21)", "10.1.2.3", 21, true},
		{"227 Entering Passive Mode (127,0,0,1,85,256)", "", 0, false},
		{"227 Entering Passive Mode (127,0,0,1,85)", "", 0, false},
		{"229 Entering Extended Passive Mode (|||22001|)", "", 0, false},
	} {
		host, p, err := ParsePASV(tc.msg)
		if (err == nil) != tc.ok || host != tc.host || p != tc.port {
			t.Errorf("ParsePASV(%q) = %q, %d, %v; want %q, %d, ok %v", tc.msg, host, p, err, tc.host, tc.port, tc.ok)
		}
	}
}

// TestRawConnTransfers: every passive transfer of RawConn, over EPSV and
// PASV, moves the right bytes in the right order of commands.
func TestRawConnTransfers(t *testing.T) {
	srv := newFakeFTP(t, map[string]string{"f.txt": "the content\n"})
	rc := DialRaw(t, srv.addr)
	if rc.Greeting != "220 fake ready" {
		t.Errorf("Greeting %q", rc.Greeting)
	}
	rc.Login("u", "pw")
	if code, msg := rc.Cmd("HELP"); code != 214 || msg != "214-The commands are\n USER PASS\n214 That is all" {
		t.Errorf("multi-line reply: %d %q", code, msg)
	}
	if got := string(rc.Retr("f.txt")); got != "the content\n" {
		t.Errorf("Retr: %q", got)
	}
	rc.Stor("up.txt", []byte("uploaded"))
	rc.Stor("empty.txt", nil)
	for _, verb := range []string{"LIST", "NLST", "MLSD"} {
		if got := rc.List(verb, "/dir"); got != verb+" of /dir\r\n" {
			t.Errorf("List(%s): %q", verb, got)
		}
	}
	if got := rc.List("LIST", ""); got != "LIST of \r\n" {
		t.Errorf("List without a path: %q", got)
	}
	rc.UsePASV = true
	if got := string(rc.Retr("up.txt")); got != "uploaded" {
		t.Errorf("Retr over PASV: %q", got)
	}
	rc.UsePASV = false
	port := rc.Epsv()
	rc.Send("RETR %s", "empty.txt")
	if got := rc.Receive(port); len(got) != 0 {
		t.Errorf("Receive of the empty file: %q", got)
	}
	host, _ := rc.Pasv()
	if host != "127.0.0.1" {
		t.Errorf("Pasv host %q", host)
	}
	rc.Expect(221, "QUIT")

	want := []string{"USER u", "PASS pw", "HELP", "EPSV", "RETR f.txt", "EPSV", "STOR up.txt", "EPSV", "STOR empty.txt",
		"EPSV", "LIST /dir", "EPSV", "NLST /dir", "EPSV", "MLSD /dir", "EPSV", "LIST", "PASV", "RETR up.txt",
		"EPSV", "RETR empty.txt", "PASV", "QUIT"}
	if got := srv.received(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("commands received:\n%q\nwant\n%q", got, want)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.file["up.txt"] != "uploaded" || srv.file["empty.txt"] != "" {
		t.Errorf("uploaded files: %q", srv.file)
	}
}

// TestRawConnTry: the Try methods report errors, including wrong reply
// codes, without failing the test, from goroutines with no T at all.
func TestRawConnTry(t *testing.T) {
	srv := newFakeFTP(t, map[string]string{"f.txt": "x"})
	var wg sync.WaitGroup
	errs := make([]string, 4)
	for i := range errs {
		wg.Go(func() {
			rc, err := TryDialRaw(nil, srv.addr)
			if err != nil {
				errs[i] = err.Error()
				return
			}
			defer rc.Close()
			if rc.T != nil {
				errs[i] = "TryDialRaw set T"
				return
			}
			if err := rc.TryLogin("u", "wrong"); err == nil || !strings.Contains(err.Error(), "PASS wrong: got 530") {
				errs[i] = "TryLogin with a wrong password: " + err.Error()
				return
			}
			if _, err := rc.TryRetr("missing"); err == nil || !strings.Contains(err.Error(), "RETR missing: got 550") {
				errs[i] = "TryRetr of a missing file: " + err.Error()
				return
			}
			if _, err := rc.TryExpect(200, "NOOP"); err == nil || !strings.Contains(err.Error(), "NOOP: got 502") {
				errs[i] = "TryExpect: " + err.Error()
				return
			}
			if b, err := rc.TryRetr("f.txt"); err != nil || string(b) != "x" {
				errs[i] = "TryRetr after the errors: " + string(b)
			}
		})
	}
	wg.Wait()
	for i, e := range errs {
		if e != "" {
			t.Errorf("client %d: %s", i, e)
		}
	}

	addr := srv.addr
	port := FreePort(t) // nothing listens there now
	if _, err := TryDialRaw(nil, "127.0.0.1:"+strconv.Itoa(port)); err == nil {
		t.Errorf("TryDialRaw to a closed port %d succeeded", port)
	}
	if f := run(t, func(tb testing.TB) { DialRaw(tb, "127.0.0.1:"+strconv.Itoa(port)) }); !strings.Contains(f.failed, "connecting to") {
		t.Errorf("DialRaw to a closed port: failure %q", f.failed)
	}
	if f := run(t, func(tb testing.TB) {
		rc := DialRaw(tb, addr)
		rc.Login("u", "pw")
		rc.Retr("missing")
	}); !strings.Contains(f.failed, "RETR missing: got 550") {
		t.Errorf("Retr of a missing file: failure %q", f.failed)
	}
}
