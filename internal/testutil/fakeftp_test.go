package testutil

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// fakeFTP is a scripted FTP server on loopback, just enough to check what
// RawConn sends and how it reads what comes back: one user, files in a
// map, passive data connections (EPSV and PASV).
type fakeFTP struct {
	addr string
	mu   sync.Mutex
	file map[string]string
	cmds []string // every command line received, in order
}

func newFakeFTP(t *testing.T, files map[string]string) *fakeFTP {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f := &fakeFTP{addr: l.Addr().String(), file: files}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go f.serve(t, c)
		}
	}()
	return f
}

func (f *fakeFTP) received() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string{}, f.cmds...)
}

func (f *fakeFTP) serve(t *testing.T, c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	reply := func(s string) { io.WriteString(c, s+"\r\n") }
	var data net.Listener
	defer func() {
		if data != nil {
			data.Close()
		}
	}()
	passive := func() (int, bool) {
		if data != nil {
			data.Close()
		}
		var err error
		data, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			reply("425 " + err.Error())
			return 0, false
		}
		return data.Addr().(*net.TCPAddr).Port, true
	}
	transfer := func(move func(net.Conn)) {
		if data == nil {
			reply("425 no passive port")
			return
		}
		reply("150 here it comes")
		dc, err := data.Accept()
		data.Close()
		data = nil
		if err != nil {
			reply("425 " + err.Error())
			return
		}
		move(dc)
		dc.Close()
		reply("226 done")
	}
	reply("220 fake ready")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		f.mu.Lock()
		f.cmds = append(f.cmds, line)
		f.mu.Unlock()
		verb, arg, _ := strings.Cut(line, " ")
		switch verb {
		case "USER":
			reply("331 password please")
		case "PASS":
			if arg != "pw" {
				reply("530 no")
				continue
			}
			reply("230 in")
		case "HELP":
			reply("214-The commands are\r\n USER PASS\r\n214 That is all")
		case "EPSV":
			if p, ok := passive(); ok {
				reply(fmt.Sprintf("229 Entering Extended Passive Mode (|||%d|)", p))
			}
		case "PASV":
			if p, ok := passive(); ok {
				reply(fmt.Sprintf("227 Entering Passive Mode (127,0,0,1,%d,%d)", p>>8, p&0xff))
			}
		case "RETR", "LIST", "NLST", "MLSD":
			f.mu.Lock()
			body, ok := f.file[arg]
			if verb != "RETR" {
				body, ok = verb+" of "+arg+"\r\n", true
			}
			f.mu.Unlock()
			if !ok {
				reply("550 no such file")
				continue
			}
			transfer(func(dc net.Conn) { io.WriteString(dc, body) })
		case "STOR":
			transfer(func(dc net.Conn) {
				b, _ := io.ReadAll(dc)
				f.mu.Lock()
				f.file[arg] = string(b)
				f.mu.Unlock()
			})
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 " + verb + " not implemented")
		}
	}
}

// fakeTB records a skip or a failure instead of reporting it; its
// SkipNow-like calls end the goroutine, as the real ones do. run calls fn
// with it on a goroutine of its own and waits.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skip(args ...any) {
	f.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatal(args ...any) {
	f.failed = fmt.Sprint(args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func run(t *testing.T, fn func(tb testing.TB)) *fakeTB {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f
}
