package planned

import (
	"reflect"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/shutdownfile"
)

// TestNoticeDue: a session is shown the message once per version of the file, every 5 minutes
// in the last 15, and at every reply in the last minute.
func TestNoticeDue(t *testing.T) {
	at := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	f := &shutdownfile.File{At: at}
	v1, v2 := at.Add(-2*time.Hour), at.Add(-90*time.Minute)
	var n Notice
	for _, step := range []struct {
		now     time.Time
		version time.Time
		want    bool
	}{
		{at.Add(-time.Hour), v1, true},                         // first sight
		{at.Add(-59 * time.Minute), v1, false},                 // same version, long before
		{at.Add(-58 * time.Minute), v2, true},                  // the file changed
		{at.Add(-15 * time.Minute), v2, true},                  // last 15 minutes, 5 since the last
		{at.Add(-12 * time.Minute), v2, false},                 // 3 minutes later
		{at.Add(-10 * time.Minute), v2, true},                  // 5 minutes later
		{at.Add(-50 * time.Second), v2, true},                  // last minute
		{at.Add(-50*time.Second + time.Millisecond), v2, true}, // every reply
	} {
		if got := n.Due(f, step.version, step.now); got != step.want {
			t.Errorf("Due at %v before, version %v: %v, want %v", at.Sub(step.now), step.version, got, step.want)
		}
	}
}

// TestMessageCookiesAndControlCharacters: the message's cookies are the session's, and a
// control character in the file never reaches the client as one.
func TestMessageCookiesAndControlCharacters(t *testing.T) {
	now := time.Date(2030, 1, 1, 11, 0, 0, 0, time.UTC)
	w := &Watcher{Now: func() time.Time { return now }}
	f := &shutdownfile.File{At: now.Add(time.Hour), Message: "bye %U in %C from %R\nbell\a here"}
	got := w.Message(f, Who{User: "alice", Cwd: "/pub", Client: "192.0.2.7"})
	want := []string{"bye alice in /pub from 192.0.2.7", "bell  here"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Message = %q, want %q", got, want)
	}
	if r := ReplyLines("421", want); r != "421-bye alice in /pub from 192.0.2.7\r\n421-bell  here\r\n" {
		t.Errorf("ReplyLines = %q", r)
	}
}
