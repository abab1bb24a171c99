package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/access"
	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
	"github.com/tunnelftpd/tunnelftpd/server/config"
)

// benchRules are ten rules that all apply to alice and that every operation of the benchmark
// walks to the end (the last matches every path): the cost of a policy on transfers.
func benchRules() []access.RuleConfig {
	var rules []access.RuleConfig
	for i := range 9 {
		rules = append(rules, access.RuleConfig{Path: fmt.Sprintf("/area%d/**", i), Deny: []string{"delete", "rename"}})
	}
	return append(rules, access.RuleConfig{Path: "/**", Deny: []string{"mfmt"}})
}

// BenchmarkAccessRules compares transfers without rules and with ten rules, side by side in one
// run: RETR and STOR of a 256 MiB file (sendfile and splice paths), and 500 small files up and
// down. Run it on tmpfs to keep the disk out:
//
//	TMPDIR=/dev/shm go test -run '^$' -bench AccessRules -benchtime 3x -count 5 ./server/
func BenchmarkAccessRules(b *testing.B) {
	big := make([]byte, 256<<20)
	rand.Read(big)
	small := bytes.Repeat([]byte("small file line\n"), 256) // 4 KiB
	for _, mode := range []string{"no-rules", "ten-rules"} {
		var rules []access.RuleConfig
		if mode == "ten-rules" {
			rules = benchRules()
		}
		addr, root := quietServer(b, rules)
		if err := os.WriteFile(filepath.Join(root, "big.bin"), big, 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(root, "small"), 0o755); err != nil {
			b.Fatal(err)
		}
		rc := testutil.DialRaw(b, addr)
		rc.Login(testUser, testPassword)
		b.Run(mode+"/retr-256MiB", func(b *testing.B) {
			b.SetBytes(int64(len(big)))
			for b.Loop() {
				if n := retrDiscard(b, rc, "big.bin"); n != int64(len(big)) {
					b.Fatalf("RETR got %d bytes", n)
				}
			}
		})
		b.Run(mode+"/stor-256MiB", func(b *testing.B) {
			b.SetBytes(int64(len(big)))
			for b.Loop() {
				rc.Stor("up.bin", big)
			}
		})
		b.Run(mode+"/500-small-up-down", func(b *testing.B) {
			b.SetBytes(2 * 500 * int64(len(small)))
			for b.Loop() {
				for i := range 500 {
					rc.Stor(fmt.Sprintf("small/%d.txt", i), small)
				}
				for i := range 500 {
					rc.Retr(fmt.Sprintf("small/%d.txt", i))
				}
			}
		})
	}
}

// quietServer is startServer without its debug log (a benchmark would measure the logging).
func quietServer(b *testing.B, rules []access.RuleConfig) (addr, root string) {
	b.Helper()
	root = b.TempDir()
	first, last := freePortRange(b, 2)
	c := config.Default()
	c.Passive.Ports = fmt.Sprintf("%d-%d", first, last)
	c.Users = []config.UserConfig{{Name: testUser, Password: cheapHash(b), Root: root}}
	c.Rules = rules
	if err := c.Validate(); err != nil {
		b.Fatal(err)
	}
	srv, err := New(c, Options{})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l) //nolint:errcheck // ends with Shutdown
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck
	})
	return l.Addr().String(), root
}

// retrDiscard downloads name into io.Discard (the client's copy stays out of the figure) and
// returns the bytes received.
func retrDiscard(b *testing.B, rc *testutil.RawConn, name string) int64 {
	b.Helper()
	data := rc.OpenData()
	defer data.Close()
	rc.Expect(150, "RETR %s", name)
	n, err := io.Copy(io.Discard, data)
	if err != nil {
		b.Fatal(err)
	}
	if code, msg := rc.Reply(); code != 226 {
		b.Fatalf("RETR: %d %s", code, msg)
	}
	return n
}
