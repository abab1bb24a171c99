package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// clientTools are the FTP clients TestClients drives, besides those of
// TestTunnel (Debian: tnftp ncftp rclone wget filezilla xvfb xdotool).
var clientTools = []string{"tnftp", "ncftpget", "ncftpput", "rclone", "wget", "filezilla", "Xvfb", "xdotool"}

// TestClients runs real FTP clients through the real sshd tunnel and the
// 5-port passive range against a tree that has what trips clients up:
// symlinks inside the root (to a file, to a directory), a dangling one, one
// that leads out, a loop, a file dated 2001, names with spaces and UTF-8,
// 200 small files and a few MiB-sized ones. Every file moved is checked by
// its SHA-256 against the tree the server is meant to show (links as their
// targets; dangling, escaping and looping links absent; see driver/listing.go).
func TestClients(t *testing.T) {
	testutil.Privileged(t, "creates network namespaces and a system user")
	testutil.RequireTool(t, append(slices.Clone(tools), clientTools...)...)
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, tmp: t.TempDir()}
	e.buildBinary()
	e.makeUser()
	e.makeNamespaces()
	tr := e.makeClientTrees()
	e.startDaemon()
	e.startSSHD()
	e.startTunnel()
	t.Run("curl", func(t *testing.T) { e.testCurlTree(t, tr) })
	t.Run("lftp-mirror-parallel", func(t *testing.T) { e.testLftpParallel(t, tr) })
	t.Run("wget-mirror", func(t *testing.T) { e.testWget(t, tr) })
	t.Run("tnftp", func(t *testing.T) { e.testTnftp(t, tr) })
	t.Run("ncftp", func(t *testing.T) { e.testNcftp(t, tr) })
	t.Run("rclone", func(t *testing.T) { e.testRclone(t, tr) })
	t.Run("ftplib", func(t *testing.T) { e.testFtplibFacts(t, tr) })
	t.Run("filezilla", func(t *testing.T) { e.testFileZilla(t, tr) })
	t.Logf("real clients through the tunnel took %s", time.Since(began).Round(100*time.Millisecond))
}

// trees are the directories TestClients works with.
type trees struct {
	remote   string // "conform": the served tree, relative to the FTP root
	served   string // its host path, with the links
	expected string // what clients must get from it: links resolved, bad links absent
	upload   string // a client-side tree to upload (no links)
}

// makeClientTrees builds the served tree and, beside it, the tree clients
// should see, plus a tree to upload; it sets e.ftpRoot and e.cliDir.
func (e *env) makeClientTrees() trees {
	t := e.t
	e.ftpRoot, e.cliDir = t.TempDir(), t.TempDir()
	tr := trees{remote: "conform", expected: filepath.Join(e.cliDir, "expected"), upload: filepath.Join(e.cliDir, "upload")}
	tr.served = filepath.Join(e.ftpRoot, tr.remote)
	both := func(rel string, size int64) {
		randomFile(t, filepath.Join(tr.served, rel), size)
		copyFile(t, filepath.Join(tr.served, rel), filepath.Join(tr.expected, rel))
	}
	for i := range 200 {
		both(fmt.Sprintf("many/f%03d.dat", i), int64(i*37%4096))
	}
	both("big/one.bin", 3<<20)
	both("big/two.bin", 2<<20+1)
	both("with space.txt", 1234)
	both("grüße ünïcødé.txt", 4321)
	both("sub dir/nested file.txt", 99)
	both("old.txt", 10)
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	for _, p := range []string{filepath.Join(tr.served, "old.txt"), filepath.Join(tr.expected, "old.txt")} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	// Links: inside (shown as their targets), dangling, out, loop (absent).
	for link, target := range map[string]string{
		"link-file":     "big/one.bin",
		"link-dir":      "sub dir",
		"dangling":      "nowhere",
		"escape":        "/etc/hostname",
		"sub dir/loop":  "..",
		"many/loopself": ".",
	} {
		if err := os.Symlink(target, filepath.Join(tr.served, link)); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, filepath.Join(tr.served, "big/one.bin"), filepath.Join(tr.expected, "link-file"))
	copyFile(t, filepath.Join(tr.served, "sub dir/nested file.txt"), filepath.Join(tr.expected, "link-dir/nested file.txt"))

	for i := range 200 {
		randomFile(t, filepath.Join(tr.upload, fmt.Sprintf("small/u%03d.dat", i)), int64(i*53%4096))
	}
	randomFile(t, filepath.Join(tr.upload, "large one.bin"), 3<<20+7)
	randomFile(t, filepath.Join(tr.upload, "ünï dir/ß.txt"), 77)
	return tr
}

// copyFile copies src to dst, creating dst's directory.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// clientDir is a fresh directory for one client's downloads.
func (e *env) clientDir(t *testing.T, name string) string {
	t.Helper()
	d := filepath.Join(e.cliDir, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// testCurlTree: curl downloads odd names and the inside link over EPSV and
// PASV, lists the directory (ls -l lines, links as their targets, no bad
// link), and gets "no such file" for the dangling link.
func (e *env) testCurlTree(t *testing.T, tr trees) {
	dir := e.clientDir(t, "curl")
	for _, mode := range []string{"epsv", "pasv"} {
		for _, name := range []string{"with space.txt", "grüße ünïcødé.txt", "link-file", "old.txt"} {
			got := filepath.Join(dir, mode+"-"+name)
			e.curl(t, mode, "-o", got, e.url(ctrlPort, tr.remote+"/"+urlPath(name)))
			sameFile(t, "curl "+mode+" "+name, filepath.Join(tr.expected, name), got)
		}
	}
	out, _, err := runIn(e.ctx, 60*time.Second, e.nsCli, "curl", "-sS", "--fail", "--max-time", "60",
		"-u", ftpUser+":"+ftpPass, e.url(ctrlPort, tr.remote+"/"))
	if err != nil {
		t.Fatal(err)
	}
	// curl hands a listing over as text: CRLFs may have become LFs.
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(out, "\r\n", "\n"), "\n"), "\n")
	names := map[string]string{}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 9 || len(f[0]) != 10 || !strings.ContainsRune("-dlpscb", rune(f[0][0])) {
			t.Errorf("curl LIST: not an ls -l line: %q", l)
			continue
		}
		names[strings.Join(f[8:], " ")] = l
	}
	for _, want := range []string{"with space.txt", "grüße ünïcødé.txt", "link-file", "link-dir", "old.txt", "many", "big", "sub dir"} {
		if _, ok := names[want]; !ok {
			t.Errorf("curl LIST lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range []string{"dangling", "escape"} {
		if _, ok := names[bad]; ok {
			t.Errorf("curl LIST shows %q", bad)
		}
	}
	if l := names["link-file"]; !strings.HasPrefix(l, "-") || !strings.Contains(l, " "+strconv.Itoa(3<<20)+" ") {
		t.Errorf("link-file listed as %q, want big/one.bin's entry", l)
	}
	if l := names["old.txt"]; !strings.Contains(l, "Feb  3  2001 old.txt") {
		t.Errorf("old.txt listed as %q, want the year", l)
	}
	_, stderr, err := runIn(e.ctx, 60*time.Second, e.nsCli, "curl", "-sS", "--fail", "-v", "--max-time", "60",
		"-u", ftpUser+":"+ftpPass, "-o", filepath.Join(dir, "dangling"), e.url(ctrlPort, tr.remote+"/dangling"))
	if err == nil || !strings.Contains(stderr, "< 550 /"+tr.remote+"/dangling: no such file") {
		t.Errorf("curl of the dangling link: %v\n%s", err, testutil.Tail(stderr, 2000))
	}
}

// urlPath escapes a name for an ftp:// URL.
func urlPath(name string) string {
	return strings.NewReplacer(" ", "%20").Replace(name)
}

// testLftpParallel mirrors the tree down and the upload tree up with
// --parallel=10: more sessions than passive ports.
func (e *env) testLftpParallel(t *testing.T, tr trees) {
	home := t.TempDir()
	down := filepath.Join(e.clientDir(t, "lftp"), "down")
	script := strings.Join([]string{
		"set cmd:fail-exit yes", "set net:max-retries 2", "set net:timeout 60",
		"set ftp:ssl-allow no", "set ftp:passive-mode on",
		"open -u " + ftpUser + "," + ftpPass + " -p " + ctrlPort + " 127.0.0.1",
		"mirror --parallel=10 " + tr.remote + " " + down,
		"mirror -R --parallel=10 " + tr.upload + " up-lftp",
	}, "; ")
	_, stderr, err := runIn(e.ctx, 240*time.Second, e.nsCli, "env", "HOME="+home, "lftp", "-d", "-c", script)
	if err != nil {
		t.Fatalf("lftp: %v", err)
	}
	if !strings.Contains(stderr, "---> MLSD") {
		t.Errorf("lftp did not list with MLSD:\n%s", testutil.Tail(stderr, 2000))
	}
	if strings.Contains(stderr, "<--- 5") && strings.Contains(stderr, "SITE CHMOD") {
		for _, l := range strings.Split(stderr, "\n") {
			if strings.Contains(l, "<--- 5") {
				t.Errorf("lftp got an error reply: %s", l)
			}
		}
	}
	sameTree(t, "lftp mirror --parallel=10", tr.expected, down)
	sameTree(t, "lftp mirror -R --parallel=10", tr.upload, filepath.Join(e.ftpRoot, "up-lftp"))
}

// testWget: wget -m parses LIST (ls -l lines) and must get the expected tree.
func (e *env) testWget(t *testing.T, tr trees) {
	dir := e.clientDir(t, "wget")
	_, stderr, err := runIn(e.ctx, 240*time.Second, e.nsCli, "wget", "-m", "-nH", "--cut-dirs=1", "-P", dir,
		"--user="+ftpUser, "--password="+ftpPass, "ftp://127.0.0.1:"+ctrlPort+"/"+tr.remote+"/")
	if err != nil {
		t.Fatalf("wget -m: %v", err)
	}
	// wget keeps no .listing files by default; drop any left.
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error { //nolint:errcheck
		if err == nil && d.Name() == ".listing" {
			os.Remove(p)
		}
		return nil
	})
	sameTree(t, "wget -m", tr.expected, dir)
	if t.Failed() {
		t.Logf("wget:\n%s", testutil.Tail(stderr, 4000))
	}
}

// testTnftp scripts the classic client: ls, mget with a wildcard, put,
// mkdir, rename, delete.
func (e *env) testTnftp(t *testing.T, tr trees) {
	dir := e.clientDir(t, "tnftp")
	up := filepath.Join(tr.upload, "large one.bin")
	script := strings.Join([]string{
		"user " + ftpUser + " " + ftpPass,
		"binary",
		"cd " + tr.remote + "/many",
		"lcd " + dir,
		"ls",
		"mget f00*.dat",
		"cd /",
		"mkdir tnftp-dir",
		"put \"" + up + "\" tnftp-dir/up.bin",
		"rename tnftp-dir/up.bin tnftp-dir/renamed.bin",
		"put \"" + up + "\" tnftp-dir/gone.bin",
		"delete tnftp-dir/gone.bin",
		"quit",
	}, "\n") + "\n"
	cmd := netnsCmd(e.ctx, e.nsCli, "tnftp", "-n", "-i", "-v", "-p", "127.0.0.1", ctrlPort)
	cmd.Stdin = strings.NewReader(script)
	out, stderr, err := runCmd(cmd)
	if err != nil {
		t.Fatalf("tnftp: %v\n%s", err, testutil.Tail(out, 3000))
	}
	for i := range 10 {
		name := fmt.Sprintf("f%03d.dat", i)
		sameFile(t, "tnftp mget f00*.dat: "+name, filepath.Join(tr.expected, "many", name), filepath.Join(dir, name))
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 10 {
		t.Errorf("tnftp mget f00*.dat fetched %d files, want 10", len(entries))
	}
	sameFile(t, "tnftp put+rename", up, filepath.Join(e.ftpRoot, "tnftp-dir", "renamed.bin"))
	if _, err := os.Stat(filepath.Join(e.ftpRoot, "tnftp-dir", "gone.bin")); !os.IsNotExist(err) {
		t.Errorf("tnftp delete left gone.bin: %v", err)
	}
	if !strings.Contains(out, "f199.dat") {
		t.Errorf("tnftp ls did not list f199.dat")
	}
	if t.Failed() {
		t.Logf("tnftp:\n%s\n%s", testutil.Tail(out, 4000), testutil.Tail(stderr, 1000))
	}
}

// testNcftp: ncftpget -R and ncftpput -R.
func (e *env) testNcftp(t *testing.T, tr trees) {
	dir := e.clientDir(t, "ncftp")
	auth := []string{"-u", ftpUser, "-p", ftpPass, "-P", ctrlPort}
	if _, stderr, err := runIn(e.ctx, 240*time.Second, e.nsCli, "ncftpget",
		append(append([]string{"-R", "-T", "-V"}, auth...), "127.0.0.1", dir, "/"+tr.remote)...); err != nil {
		t.Fatalf("ncftpget -R: %v\n%s", err, testutil.Tail(stderr, 2000))
	}
	sameTree(t, "ncftpget -R", tr.expected, filepath.Join(dir, tr.remote))
	if _, stderr, err := runIn(e.ctx, 240*time.Second, e.nsCli, "ncftpput",
		append(append([]string{"-R", "-m", "-V"}, auth...), "127.0.0.1", "/up-ncftp", tr.upload)...); err != nil {
		t.Fatalf("ncftpput -R: %v\n%s", err, testutil.Tail(stderr, 2000))
	}
	sameTree(t, "ncftpput -R", tr.upload, filepath.Join(e.ftpRoot, "up-ncftp", filepath.Base(tr.upload)))
}

// testRclone: rclone's ftp backend copies down and up with 8 transfers,
// checks both, lists the served tree as JSON and keeps modification times
// (MFMT).
func (e *env) testRclone(t *testing.T, tr trees) {
	obscured, _, err := run(e.ctx, 30*time.Second, "rclone", "obscure", ftpPass)
	if err != nil {
		t.Fatal(err)
	}
	rc := func(timeout time.Duration, args ...string) string {
		t.Helper()
		cmd := netnsCmd(e.ctx, e.nsCli, "rclone", append([]string{"--config", "/dev/null", "--retries", "1", "--low-level-retries", "2"}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+e.cliDir,
			"RCLONE_CONFIG_E2E_TYPE=ftp", "RCLONE_CONFIG_E2E_HOST=127.0.0.1", "RCLONE_CONFIG_E2E_PORT="+ctrlPort,
			"RCLONE_CONFIG_E2E_USER="+ftpUser, "RCLONE_CONFIG_E2E_PASS="+strings.TrimSpace(obscured))
		out, stderr, err := runCmd(cmd)
		if err != nil {
			t.Fatalf("rclone %s: %v\n%s", strings.Join(args, " "), err, testutil.Tail(stderr, 3000))
		}
		return out
	}
	down := filepath.Join(e.clientDir(t, "rclone"), "down")
	rc(240*time.Second, "copy", "--transfers", "8", "e2e:"+tr.remote, down)
	sameTree(t, "rclone copy down", tr.expected, down)
	rc(120*time.Second, "check", "e2e:"+tr.remote, tr.expected)

	rc(240*time.Second, "copy", "--transfers", "8", tr.upload, "e2e:up-rclone")
	sameTree(t, "rclone copy up", tr.upload, filepath.Join(e.ftpRoot, "up-rclone"))
	rc(120*time.Second, "check", tr.upload, "e2e:up-rclone")
	// Modification times made it (MFMT), to the second.
	local, err := os.Stat(filepath.Join(tr.upload, "large one.bin"))
	if err != nil {
		t.Fatal(err)
	}
	remote, err := os.Stat(filepath.Join(e.ftpRoot, "up-rclone", "large one.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if d := local.ModTime().Sub(remote.ModTime()); d > time.Second || d < -time.Second {
		t.Errorf("rclone upload: server mtime %v, local %v", remote.ModTime(), local.ModTime())
	}

	var entries []struct {
		Path  string
		Size  int64
		IsDir bool
	}
	if err := json.Unmarshal([]byte(rc(60*time.Second, "lsjson", "e2e:"+tr.remote)), &entries); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int64{}
	for _, en := range entries {
		seen[en.Path] = en.Size
	}
	if seen["link-file"] != 3<<20 {
		t.Errorf("rclone lsjson: link-file size %d, want %d (its target's)", seen["link-file"], 3<<20)
	}
	for _, bad := range []string{"dangling", "escape"} {
		if _, ok := seen[bad]; ok {
			t.Errorf("rclone lsjson lists %s", bad)
		}
	}
}

// ftplibFactsScript: MLSD with selected facts (OPTS MLST), NLST with a
// wildcard, and a REST download; prints JSON.
const ftplibFactsScript = `
import ftplib, io, json, sys
port, user, password, remote = sys.argv[1:]
f = ftplib.FTP(timeout=60)
f.connect("127.0.0.1", int(port))
f.login(user, password)
f.cwd(remote)
facts = {name: fx for name, fx in f.mlsd(facts=["type", "size", "perm", "unix.mode"])}
nlst = f.nlst("many/f01*.dat")
buf = io.BytesIO()
f.retrbinary("RETR big/two.bin", buf.write, rest=1000)
feat = f.sendcmd("FEAT")
f.quit()
json.dump({"facts": facts, "nlst": nlst, "rest": buf.getvalue().hex(), "feat": feat}, sys.stdout)
`

// testFtplibFacts: Python's ftplib.
func (e *env) testFtplibFacts(t *testing.T, tr trees) {
	out, _, err := runIn(e.ctx, 120*time.Second, e.nsCli, "python3", "-c", ftplibFactsScript, ctrlPort, ftpUser, ftpPass, tr.remote)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Facts map[string]map[string]string
		Nlst  []string
		Rest  string
		Feat  string
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if lf := r.Facts["link-file"]; lf["type"] != "file" || lf["size"] != strconv.Itoa(3<<20) || !strings.Contains(lf["perm"], "r") {
		t.Errorf("mlsd link-file facts %v", lf)
	}
	if sd := r.Facts["sub dir"]; sd["type"] != "dir" || sd["unix.mode"] == "" {
		t.Errorf("mlsd 'sub dir' facts %v", sd)
	}
	if _, ok := r.Facts["with space.txt"]; !ok {
		t.Errorf("mlsd lacks 'with space.txt': %v", r.Facts)
	}
	for name, fx := range r.Facts {
		if _, ok := fx["modify"]; ok {
			t.Errorf("mlsd %s has modify, not selected: %v", name, fx)
		}
	}
	for _, bad := range []string{"dangling", "escape"} {
		if _, ok := r.Facts[bad]; ok {
			t.Errorf("mlsd lists %s", bad)
		}
	}
	var want []string
	for i := 10; i < 20; i++ {
		want = append(want, fmt.Sprintf("many/f%03d.dat", i))
	}
	if slices.Sort(r.Nlst); !slices.Equal(r.Nlst, want) {
		t.Errorf("nlst many/f01*.dat = %q, want %q", r.Nlst, want)
	}
	full, err := os.ReadFile(filepath.Join(tr.expected, "big", "two.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Rest != fmt.Sprintf("%x", full[1000:]) {
		t.Errorf("REST 1000 download: %d bytes, want the %d after offset 1000", len(r.Rest)/2, len(full)-1000)
	}
	if !strings.Contains(r.Feat, " MLST type*;size*;modify;perm*;unix.mode*;unique;") {
		t.Errorf("FEAT after OPTS MLST does not star the selected facts:\n%s", r.Feat)
	}
}

// testFileZilla starts FileZilla under Xvfb on a Site Manager entry (plain
// FTP, passive mode) for the tunnel, confirms its "Insecure FTP connection"
// dialog with xdotool, and reads its log: logged in, FEAT seen, the root
// listed with MLSD and the served directory entered, no error. (Transfers
// need the file panes driven with the mouse, which xdotool does not reach
// without a window manager; the other clients cover transfers.)
func (e *env) testFileZilla(t *testing.T, tr trees) {
	home := t.TempDir()
	cfgDir := filepath.Join(home, ".config", "filezilla")
	if err := os.MkdirAll(cfgDir, 0o700); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(home, "filezilla.log")
	writeFile(t, filepath.Join(cfgDir, "filezilla.xml"), `<?xml version="1.0" encoding="UTF-8"?>
<FileZilla3 version="3.63.0" platform="*nix">
  <Settings>
    <Setting name="Logging file">`+logFile+`</Setting>
    <Setting name="Logging debug level">3</Setting>
    <Setting name="Use Pasv mode">1</Setting>
    <Setting name="Update Check">0</Setting>
    <Setting name="Greeting version">3.63.0</Setting>
  </Settings>
</FileZilla3>
`, 0o600)
	writeFile(t, filepath.Join(cfgDir, "sitemanager.xml"), `<?xml version="1.0" encoding="UTF-8"?>
<FileZilla3 version="3.63.0" platform="*nix">
  <Servers>
    <Server>
      <Host>127.0.0.1</Host><Port>`+ctrlPort+`</Port><Protocol>6</Protocol><Type>0</Type>
      <User>`+ftpUser+`</User><Pass encoding="base64">`+base64.StdEncoding.EncodeToString([]byte(ftpPass))+`</Pass>
      <Logontype>1</Logontype><PasvMode>MODE_PASSIVE</PasvMode><EncodingType>UTF-8</EncodingType>
      <BypassProxy>0</BypassProxy><Name>tunnelftpd</Name><SyncBrowsing>0</SyncBrowsing>
    </Server>
  </Servers>
</FileZilla3>
`, 0o600)

	// Xvfb picks a free display and writes its number to fd 3. It listens
	// on a Unix socket only, which FileZilla reaches from the client
	// namespace through the file system.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// -noreset: the X server would reset (and write fd 3 again) whenever its
	// last client, an xdotool probe say, disconnects.
	xvfb := exec.CommandContext(e.ctx, "Xvfb", "-displayfd", "3", "-noreset", "-nolisten", "tcp", "-screen", "0", "1280x1024x24")
	xvfb.ExtraFiles = []*os.File{w}
	xp := start(t, "Xvfb", xvfb)
	w.Close()
	var display string
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 16)
		n, _ := r.Read(b)
		display = ":" + strings.TrimSpace(string(b[:n]))
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Xvfb did not say which display it took")
	}
	defer r.Close() // open while Xvfb runs: a write to a closed pipe would end it
	if display == ":" {
		t.Fatalf("Xvfb gave no display")
	}
	defer xp.Stop() //nolint:errcheck // ends by SIGTERM

	fz := netnsCmd(e.ctx, e.nsCli, "filezilla", "--site=0/tunnelftpd")
	fz.Env = append(os.Environ(), "HOME="+home, "DISPLAY="+display, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"))
	fp := start(t, "filezilla", fz)
	defer fp.Stop() //nolint:errcheck // ends by SIGTERM

	xdo := func(args ...string) string {
		cmd := exec.CommandContext(e.ctx, "xdotool", args...)
		cmd.Env = append(os.Environ(), "DISPLAY="+display)
		out, _, _ := runCmd(cmd)
		return strings.TrimSpace(out)
	}
	readLog := func() string { b, _ := os.ReadFile(logFile); return string(b) }
	confirmed := false
	listed := testutil.Poll(60*time.Second, 200*time.Millisecond, func() bool {
		if !confirmed {
			if win := xdo("search", "--name", "Insecure FTP connection"); win != "" {
				win = strings.Fields(win)[0]
				xdo("windowfocus", "--sync", win)
				xdo("key", "Return")
				confirmed = true
			}
		}
		return strings.Contains(readLog(), `Status: Directory listing of "/" successful`)
	})
	log := readLog()
	if !listed {
		t.Fatalf("FileZilla did not list the root within 60s (dialog confirmed: %v):\n%s", confirmed, testutil.Tail(log, 4000))
	}
	for _, want := range []string{"Response: 230 ", "Response:  MLST type*;", "Command: MLSD"} {
		if !strings.Contains(log, want) {
			t.Errorf("FileZilla's log lacks %q:\n%s", want, testutil.Tail(log, 4000))
		}
	}
	if strings.Contains(log, "Error:") {
		t.Errorf("FileZilla logged an error:\n%s", testutil.Tail(log, 4000))
	}
	t.Logf("FileZilla: insecure-FTP dialog confirmed: %v; logged in and listed %q through the tunnel", confirmed, "/")
	_ = tr
}
