package server

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
	"github.com/tunnelftpd/tunnelftpd/server/config"
)

func TestLogin(t *testing.T) {
	ts := startServer(t, 2, nil)
	ts.login(t, testUser, true)

	for _, tc := range []struct{ user, pass string }{
		{testUser, "wrong"},
		{"nobody", testPassword},
		{"", ""},
	} {
		c, err := ftp.Dial(ts.Addr, ftp.DialWithTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		err = c.Login(tc.user, tc.pass)
		if err == nil || !strings.HasPrefix(err.Error(), "530") {
			t.Errorf("login %q/%q: got %v, want 530", tc.user, tc.pass, err)
		}
		c.Quit()
	}
	logs := ts.Logs.String()
	if !strings.Contains(logs, `msg="login failed" user=nobody from=127.0.0.1:`) {
		t.Errorf("no login-failed log line for nobody in:\n%s", logs)
	}
	if strings.Contains(logs, testPassword) || strings.Contains(logs, "wrong") {
		t.Errorf("a password reached the log:\n%s", logs)
	}
}

func TestFailedLoginIsDelayed(t *testing.T) {
	ts := startServer(t, 1, func(c *config.Config) { c.Auth.FailDelay = config.Duration{Duration: 300 * time.Millisecond} })
	rc := dialRaw(t, ts.Addr)
	rc.Expect(331, "USER %s", testUser)
	start := time.Now()
	rc.Expect(530, "PASS nope")
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("530 came after %v, before the 300ms fail_delay", d)
	}
}

// TestMaxLoginAttempts: a client may retry a failed login on the same
// connection until max_login_attempts; the last failure closes it.
func TestMaxLoginAttempts(t *testing.T) {
	ts := startServer(t, 1, func(c *config.Config) { c.Auth.MaxLoginAttempts = 3 })
	rc := dialRaw(t, ts.Addr)
	for i := 1; i <= 2; i++ {
		rc.Expect(331, "USER %s", testUser)
		rc.Expect(530, "PASS wrong%d", i)
	}
	rc.Expect(331, "USER %s", testUser)
	rc.Expect(230, "PASS %s", testPassword) // a retry can still succeed
	rc.Expect(257, "PWD")

	rc2 := dialRaw(t, ts.Addr)
	for i := 1; i <= 3; i++ {
		rc2.Expect(331, "USER %s", testUser)
		rc2.Expect(530, "PASS wrong%d", i)
	}
	rc2.C.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := rc2.R.ReadString('\n'); err != io.EOF {
		t.Errorf("after the 3rd failure: read %q, %v; want EOF", line, err)
	}
	if !strings.Contains(ts.Logs.String(), `disconnect="max_login_attempts reached"`) {
		t.Error("the final failure is not logged as a disconnect")
	}
}

func TestFileOperations(t *testing.T) {
	ts := startServer(t, 2, nil)
	c := ts.login(t, testUser, true)

	if err := c.Stor("a.txt", strings.NewReader("hello")); err != nil {
		t.Fatalf("STOR: %v", err)
	}
	if err := c.Append("a.txt", strings.NewReader(" world")); err != nil {
		t.Fatalf("APPE: %v", err)
	}
	if got := readFile(t, filepath.Join(ts.Root, "a.txt")); got != "hello world" {
		t.Fatalf("after STOR+APPE: %q", got)
	}
	if n, err := c.FileSize("a.txt"); err != nil || n != 11 {
		t.Errorf("SIZE: %d %v", n, err)
	}
	mt := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(filepath.Join(ts.Root, "a.txt"), mt, mt)
	if got, err := c.GetTime("a.txt"); err != nil || !got.Equal(mt) {
		t.Errorf("MDTM: %v %v, want %v", got, err, mt)
	}

	// REST resume, both ways.
	r, err := c.RetrFrom("a.txt", 6)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != "world" {
		t.Errorf("REST 6 + RETR: %q", b)
	}
	if err := c.StorFrom("a.txt", strings.NewReader("W"), 6); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(ts.Root, "a.txt")); got != "hello World" {
		t.Errorf("REST 6 + STOR: %q", got)
	}

	if err := c.MakeDir("dir"); err != nil {
		t.Fatalf("MKD: %v", err)
	}
	if err := c.Rename("a.txt", "dir/b.txt"); err != nil {
		t.Fatalf("RNFR/RNTO: %v", err)
	}
	entries, err := c.List("dir") // MLSD: cdir ".", pdir "..", then the entries
	if err != nil || len(entries) != 3 || entries[0].Name != "." || entries[1].Name != ".." ||
		entries[2].Name != "b.txt" || entries[2].Size != 11 {
		t.Errorf("MLSD dir: %+v %v", entries, err)
	}
	names, err := c.NameList("dir")
	if err != nil || len(names) != 1 || !strings.HasSuffix(names[0], "b.txt") {
		t.Errorf("NLST dir: %v %v", names, err)
	}
	if err := c.Delete("dir/b.txt"); err != nil {
		t.Fatalf("DELE: %v", err)
	}
	if err := c.RemoveDir("dir"); err != nil {
		t.Fatalf("RMD: %v", err)
	}
	if _, err := os.Stat(filepath.Join(ts.Root, "dir")); !os.IsNotExist(err) {
		t.Errorf("dir still there: %v", err)
	}

	// LIST (not MLSD) through a client that does not use MLSD.
	os.WriteFile(filepath.Join(ts.Root, "x"), []byte("x"), 0o644)
	c2, err := ftp.Dial(ts.Addr, ftp.DialWithDisabledMLSD(true), ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Quit()
	if err := c2.Login(testUser, testPassword); err != nil {
		t.Fatal(err)
	}
	entries, err = c2.List("/")
	if err != nil || len(entries) != 1 || entries[0].Name != "x" {
		t.Errorf("LIST /: %+v %v", entries, err)
	}
}

func TestReadOnlyUser(t *testing.T) {
	ts := startServer(t, 2, nil)
	os.WriteFile(filepath.Join(ts.RORoot, "keep.txt"), []byte("keep"), 0o644)
	os.Mkdir(filepath.Join(ts.RORoot, "sub"), 0o755)
	rc := dialRaw(t, ts.Addr)
	rc.Login(roUser, testPassword)

	if got := rc.Retr("keep.txt"); string(got) != "keep" {
		t.Errorf("read-only RETR: %q", got)
	}
	for _, cmd := range []string{"DELE keep.txt", "MKD new", "RMD sub"} {
		if code, msg := rc.Cmd("%s", cmd); code != 550 {
			t.Errorf("%s: got %d %s, want 550", cmd, code, msg)
		}
	}
	rc.Expect(350, "RNFR keep.txt") // the library checks only that the source exists
	if code, msg := rc.Cmd("RNTO moved.txt"); code != 550 {
		t.Errorf("RNTO: got %d %s, want 550", code, msg)
	}
	for _, cmd := range []string{"STOR new.txt", "APPE keep.txt", "STOR keep.txt"} {
		rc.Epsv()
		if code, msg := rc.Cmd("%s", cmd); code != 550 {
			t.Errorf("%s: got %d %s, want 550", cmd, code, msg)
		}
	}
	if got := readFile(t, filepath.Join(ts.RORoot, "keep.txt")); got != "keep" {
		t.Errorf("file changed: %q", got)
	}
	entries, _ := os.ReadDir(ts.RORoot)
	if len(entries) != 2 {
		t.Errorf("read-only root changed: %v", entries)
	}
}

// TestPathEscapes tries every path-taking command with escaping paths and
// symlinks, and checks that nothing outside the root was read or changed.
func TestPathEscapes(t *testing.T) {
	ts := startServer(t, 2, nil)
	outside := filepath.Dir(ts.Root) // holds "reader" and the secret
	secret := filepath.Join(outside, "secret.txt")
	os.WriteFile(secret, []byte("TOP SECRET"), 0o644)
	os.WriteFile(filepath.Join(outside, "OUTSIDE_MARKER"), nil, 0o644)
	os.Symlink(secret, filepath.Join(ts.Root, "abs"))
	os.Symlink("../secret.txt", filepath.Join(ts.Root, "rel"))
	os.Symlink(filepath.Join(outside, "planted.txt"), filepath.Join(ts.Root, "dangling"))
	os.Symlink(outside, filepath.Join(ts.Root, "dirlink"))
	os.Symlink("chain2", filepath.Join(ts.Root, "chain1"))
	os.Symlink("../secret.txt", filepath.Join(ts.Root, "chain2"))
	before := snapshot(t, outside, ts.Root)

	rc := dialRaw(t, ts.Addr)
	rc.Login(testUser, testPassword)
	paths := []string{"../secret.txt", "../../secret.txt", "/../secret.txt", "a/../../secret.txt",
		secret, "abs", "rel", "dangling", "dirlink/secret.txt", "chain1", "dirlink", "../reader"}
	attempts, escapes := 0, 0
	for _, p := range paths {
		for _, cmd := range []string{"RETR", "SIZE", "MDTM", "MLST", "DELE", "RMD", "MKD", "RNFR", "CWD"} {
			attempts++
			if cmd == "RETR" {
				got := tryData(t, rc, "RETR "+p)
				if bytes.Contains(got, []byte("TOP SECRET")) {
					escapes++
					t.Errorf("RETR %s leaked the secret", p)
				}
				continue
			}
			code, msg := rc.Cmd("%s %s", cmd, p)
			if strings.Contains(msg, "TOP SECRET") || strings.Contains(msg, "OUTSIDE_MARKER") ||
				(strings.Contains(msg, outside) && !strings.Contains(p, outside)) {
				escapes++
				t.Errorf("%s %s: reply leaks %q", cmd, p, msg)
			}
			switch {
			case cmd == "RNFR" && code == 350:
				// Renaming inside the root is allowed; the snapshot below
				// catches anything moved out of or into the outside.
				rc.Cmd("RNTO stolen-%d", attempts)
			case cmd == "CWD" && code == 250:
				// Allowed only if it stays inside: PWD must be under /.
				rc.Expect(257, "PWD")
				rc.Expect(250, "CWD /")
			case cmd == "MKD" && code == 257:
				if _, err := os.Stat(filepath.Join(outside, "secret.txt", "x")); err == nil {
					escapes++
				}
			}
		}
		for _, cmd := range []string{"STOR", "LIST", "NLST", "MLSD"} {
			attempts++
			got := tryData(t, rc, cmd+" "+p)
			if bytes.Contains(got, []byte("TOP SECRET")) || bytes.Contains(got, []byte("OUTSIDE_MARKER")) {
				escapes++
				t.Errorf("%s %s listed or read outside: %q", cmd, p, got)
			}
		}
	}
	after := snapshot(t, outside, ts.Root)
	for k, v := range before {
		if after[k] != v {
			escapes++
			t.Errorf("outside file %s changed: %q -> %q", k, v, after[k])
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			escapes++
			t.Errorf("file created outside the root: %s", k)
		}
	}
	t.Logf("path attacks: %d attempts, %d escapes", attempts, escapes)
	if escapes != 0 {
		t.Fatalf("%d escapes", escapes)
	}
}

// tryData runs a data command over EPSV: it sends "PLANTED" (for STOR),
// reads what arrives, and reads the final reply if the command was accepted.
func tryData(t *testing.T, rc *testutil.RawConn, line string) []byte {
	t.Helper()
	data := rc.OpenData()
	defer data.Close()
	code, _ := rc.Cmd("%s", line)
	if code != 150 && code != 125 {
		return nil
	}
	data.Write([]byte("PLANTED"))
	data.(interface{ CloseWrite() error }).CloseWrite()
	b, _ := io.ReadAll(data)
	if code, msg := rc.Reply(); code != 226 {
		t.Logf("%s: final reply %d %s", line, code, msg)
	}
	return b
}

// snapshot maps every file below dir, except below skip, to its content.
func snapshot(t *testing.T, dir, skip string) map[string]string {
	t.Helper()
	m := map[string]string{}
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		if p == skip {
			return filepath.SkipDir
		}
		if info.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			m[p] = string(b) + info.ModTime().String()
		} else {
			m[p] = info.Mode().String()
		}
		return nil
	})
	return m
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLargeFileRoundTrip(t *testing.T) {
	ts := startServer(t, 2, nil)
	c := ts.login(t, testUser, true)
	size := 50 << 20
	if testing.Short() {
		size = 5 << 20
	}
	src := make([]byte, size)
	rand.Read(src)
	if err := c.Stor("big.bin", bytes.NewReader(src)); err != nil {
		t.Fatalf("STOR: %v", err)
	}
	r, err := c.Retr("big.bin")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, r)
	r.Close()
	if err != nil || n != int64(size) {
		t.Fatalf("RETR: %d bytes, %v", n, err)
	}
	if got, want := h.Sum(nil), sha256.Sum256(src); !bytes.Equal(got, want[:]) {
		t.Fatal("round trip changed the file")
	}
	if disk := sha256.Sum256([]byte(readFile(t, filepath.Join(ts.Root, "big.bin")))); disk != sha256.Sum256(src) {
		t.Fatal("file on disk differs")
	}
}

func TestBinaryIsDefault(t *testing.T) {
	ts := startServer(t, 2, nil)
	payload := "line1\nline2\r\nend\n"
	os.WriteFile(filepath.Join(ts.Root, "t.txt"), []byte(payload), 0o644)
	rc := dialRaw(t, ts.Addr)
	rc.Login(testUser, testPassword)
	if got := rc.Retr("t.txt"); string(got) != payload {
		t.Errorf("RETR without TYPE rewrote the data: %q", got)
	}
	rc.Expect(213, "SIZE t.txt")
}

func TestDisabledCommands(t *testing.T) {
	ts := startServer(t, 2, nil)
	rc := dialRaw(t, ts.Addr)
	if code, _ := rc.Cmd("LIST"); code != 530 {
		t.Errorf("LIST before login: %d, want 530", code)
	}
	rc.Login(testUser, testPassword)
	for _, cmd := range []string{"PORT 127,0,0,1,4,1", "EPRT |1|127.0.0.1|1025|", "SITE CHMOD 777 x", "AUTH TLS"} {
		if code, msg := rc.Cmd("%s", cmd); code < 500 {
			t.Errorf("%s: got %d %s, want a 5xx refusal", cmd, code, msg)
		}
		rc.Expect(200, "NOOP") // the session goes on
	}
	names := []string{}
	for _, l := range strings.Split(rc.Expect(211, "FEAT"), "\n") {
		names = append(names, strings.TrimSpace(l))
	}
	sort.Strings(names)
	t.Logf("FEAT: %v", names)
}

// TestPanicInCallbackEndsOnlyThatSession: a panic in a callback the library
// runs on its own goroutine (here AuthUser) ends that session with a log
// line; the daemon and its other sessions go on.
func TestPanicInCallbackEndsOnlyThatSession(t *testing.T) {
	ts := startServer(t, 1, nil)
	other := dialRaw(t, ts.Addr)
	other.Login(testUser, testPassword)

	testPanicAt.Store("AuthUser")
	rc := dialRaw(t, ts.Addr)
	rc.Expect(331, "USER %s", testUser)
	fmt.Fprintf(rc.C, "PASS %s\r\n", testPassword)
	code, msg, err := rc.TryReply() // the session is cut: EOF, or a refusal
	testPanicAt.Store("")
	if err == nil && code == 230 {
		t.Fatalf("login succeeded through a panic: %s", msg)
	}
	if !regexp.MustCompile(`msg="session crashed \(a bug: please report it\)".* in=AuthUser `).MatchString(ts.Logs.String()) {
		t.Error("the panic is not logged")
	}
	other.Expect(257, "PWD") // the daemon is alive
	fresh := dialRaw(t, ts.Addr)
	fresh.Login(testUser, testPassword)
}

// TestSecondLoginRefused: after a login, USER/PASS again is refused and the
// connection ends (a session never changes identity).
func TestSecondLoginRefused(t *testing.T) {
	ts := startServer(t, 1, nil)
	rc := dialRaw(t, ts.Addr)
	rc.Login(testUser, testPassword)
	rc.Expect(331, "USER %s", roUser)
	if code, msg := rc.Cmd("PASS %s", testPassword); code != 530 {
		t.Fatalf("second PASS: %d %s, want 530", code, msg)
	}
	if !strings.Contains(ts.Logs.String(), "second login on one connection refused") {
		t.Error("not logged")
	}
}
